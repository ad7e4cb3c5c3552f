"""Names from outside (style names in checkpoints, ONNX metadata and style folders; run names) are data, never
paths: they are checked where they are read, and become file names only through `file_name`. Output paths are
checked before any work is done: inside the chosen folder, distinct, never an input, never replaced unasked."""

import os
import re
import tempfile
from collections.abc import Iterable
from pathlib import Path

from nst_ff.errors import UsageError

# Letters and digits of any script, `_`, `-`, `.` and inner spaces: never a separator, `..`, a leading dot
# (hidden files) or one of the characters that stylize's option syntax and mix file names use (, : @ +).
SAFE_NAME = re.compile(r"\w(?:[\w .-]*[\w-])?")
MAX_NAME_LENGTH = 100  # file systems allow 255 bytes; a file name adds a photo's name and a mix's weights
NAME_RULE = (f"letters, digits, _ - . and inner spaces, starting with a letter, digit or _, at most "
             f"{MAX_NAME_LENGTH} characters, no '..'")


def name_problem(name) -> str | None:
    """Why `name` cannot be a style or run name, or None when it can."""
    if not isinstance(name, str):
        return f"{name!r} is not text"
    if len(name) > MAX_NAME_LENGTH or ".." in name or not SAFE_NAME.fullmatch(name):
        return f"{name[:MAX_NAME_LENGTH + 20]!r} is not a safe name ({NAME_RULE})"
    return None


def names_problem(names, count: int | None = None) -> str | None:
    """Why this list of style names is unusable (not a list, an unsafe name, a duplicate, not `count` of them)."""
    if not isinstance(names, list | tuple):
        return f"style names {type(names).__name__} is not a list"
    if count is not None and len(names) != count:
        return f"{len(names)} style names for a network of {count} styles"
    for name in names:
        problem = name_problem(name)
        if problem:
            return f"style name {problem}"
    seen = set()
    for name in names:
        if name.casefold() in seen:  # on a case-insensitive disk, Starry and starry share a file
            return f"style name {name!r} appears twice"
        seen.add(name.casefold())
    return None


def file_name(text: str) -> str:
    """`text` as one file name: every character outside letters, digits, spaces and `_ - . @ +` becomes `_`, and
    so does a dot of any `..` and a leading dot. The one way a name from outside becomes part of a path."""
    safe = re.sub(r"[^\w .@+-]", "_", text)
    while ".." in safe:
        safe = safe.replace("..", "_.")
    return "_" + safe[1:] if safe.startswith(".") else safe or "_"


def inside(folder: str | os.PathLike, relative: str) -> Path:
    """folder/relative, refused unless it lies inside `folder` (each part of `relative` made by file_name)."""
    folder = Path(folder)
    path = folder.joinpath(*(file_name(part) for part in relative.split("/")))
    if not path.resolve().is_relative_to(folder.resolve()):
        raise UsageError(f"output {path} would lie outside {folder}")
    return path


def same_file(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """Whether two paths name one file (links and `..` followed), existing or not."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return Path(a).resolve() == Path(b).resolve()


def check_output(path: str | os.PathLike, overwrite: bool, inputs: Iterable, option: str) -> None:
    """Refuses an output that is one of the run's inputs (even with --overwrite), a folder, or an existing file
    without --overwrite; then checks its folder is writable. `inputs`: paths, None ignored."""
    path = Path(path)
    for source in filter(None, inputs):
        if same_file(path, source):
            raise UsageError(f"{option} {path} is also an input of this run ({source}): write elsewhere")
    if path.is_dir():
        raise UsageError(f"{option} {path} is a folder: give a file name")
    if path.exists() and not overwrite:
        raise UsageError(f"{option} {path} exists; add --overwrite to replace it")
    check_writable(path.parent)


def check_distinct(paths: Iterable[Path]) -> None:
    """Refuses outputs of which two would share one file (also on a case-insensitive disk), before any is written."""
    seen = set()
    for path in paths:
        key = str(path.resolve()).casefold()
        if key in seen:
            raise UsageError(f"two outputs of this run would both be written to {path} (photo and style names that "
                             "run together, or mixes whose weights round alike): run them separately")
        seen.add(key)


def check_writable(folder: str | os.PathLike) -> None:
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


def outside_output(files: list[Path], folder: Path, output: str, kind: str) -> list[Path]:
    """`files` found under the input `folder`, less those under the `output` folder, so that outputs written inside
    the input are never read as input next time; the input folder itself as the output is refused. `kind` names
    the files in that message (images, clips)."""
    if not Path(output).is_dir():
        return files
    outputs = Path(output).resolve()
    if outputs == folder.resolve():
        raise UsageError(f"--output {output} is the input folder: its {kind} would be read as input next time")
    return [path for path in files if not path.resolve().is_relative_to(outputs)]
