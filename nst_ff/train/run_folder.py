"""A run's checkpoint folder while a run writes it: locked against a second run, and an old run replaced
(overwrite=true) only once the new one has a checkpoint of its own; until then the old one waits aside."""

import contextlib
import shutil
from pathlib import Path

from filelock import FileLock, Timeout

from nst_ff.errors import NstError

LOCK = ".lock"
REPLACED = ".replaced"  # the old run's checkpoints (and events/, its TensorBoard files) while a new one starts


class RunInUseError(NstError, RuntimeError):
    pass


@contextlib.contextmanager
def locked(folder: Path, run_name: str):
    """Holds `folder`'s lock while the block runs; another run holding it is refused at once. The operating
    system drops the lock when a process dies however it dies (flock), so a killed run never leaves it held."""
    created = not folder.exists()
    folder.mkdir(parents=True, exist_ok=True)
    lock = FileLock(folder / LOCK, timeout=0)
    try:
        lock.acquire()
    except Timeout:
        raise RunInUseError(f"run {run_name} is being trained by another process (it holds {folder / LOCK}): "
                            "wait for it, or train into another run_name") from None
    try:
        yield
    finally:
        lock.release()
        if created and [path.name for path in folder.iterdir()] in ([], [LOCK]):  # a run refused before any write
            (folder / LOCK).unlink(missing_ok=True)
            folder.rmdir()


def _events(events_dir: Path) -> list[Path]:
    return [*events_dir.glob("events.out.tfevents.*"), *events_dir.glob("hparams.yaml")]


def set_aside(folder: Path, events_dir: Path) -> None:
    """Moves the old run's checkpoints and TensorBoard files into folder/.replaced, out of the new run's way."""
    aside = folder / REPLACED
    (aside / "events").mkdir(parents=True, exist_ok=True)
    for path in folder.glob("*.ckpt"):
        path.rename(aside / path.name)
    for path in _events(events_dir):
        shutil.move(path, aside / "events" / path.name)


def restore_or_drop(folder: Path, events_dir: Path) -> None:
    """After a replacing run, or at the next start after one was killed: the old run is deleted if the new one
    wrote a checkpoint, else put back where it was."""
    aside = folder / REPLACED
    if not aside.is_dir():
        return
    if not any(folder.glob("*.ckpt")):
        for path in aside.glob("*.ckpt"):
            path.rename(folder / path.name)
        events_dir.mkdir(parents=True, exist_ok=True)
        for path in (aside / "events").glob("*"):
            shutil.move(path, events_dir / path.name)
    shutil.rmtree(aside)
