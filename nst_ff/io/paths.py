"""Output paths checked before any work is done."""

import tempfile
from pathlib import Path

from nst_ff.errors import UsageError


def check_writable(folder: str | Path) -> None:
    """Refuses a folder that cannot be written (or created) before any work is done."""
    folder = Path(folder)
    existing = folder
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise UsageError(f"cannot write to {folder}: {existing} is not a folder")
    try:  # permissions, a read-only file system...: trying is the only test that holds for every user
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as error:
        raise UsageError(f"cannot write to {folder}: {error.strerror or error}") from None
