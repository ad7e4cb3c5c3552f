"""A run's checkpoint folder while a run writes it: locked against a second run, and an old run replaced
(overwrite=true) only once the new one has a checkpoint of its own; until then the old one waits aside. A command
refused before it trained leaves no new run folder behind."""

import contextlib
import fcntl
import os
import shutil
from pathlib import Path

from nst_ff.errors import NstError

REPLACED = ".replaced"  # the old run's checkpoints (and events/, its TensorBoard files) while a new one starts
HYDRA_RECORD = ("config.yaml", "hydra.yaml", "overrides.yaml")  # what Hydra writes in hydra.output_subdir


class RunInUseError(NstError, RuntimeError):
    pass


@contextlib.contextmanager
def locked(folder: Path, run_name: str):
    """Holds a lock on `folder` itself while the block runs (flock on the folder: no lock file to leave behind);
    another run holding it is refused at once. The operating system drops the lock when a process ends however
    it ends, so a killed run never leaves it held."""
    made = [path for path in (folder, *folder.parents) if not path.exists()]  # the deepest first
    folder.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RunInUseError(f"run {run_name} is being trained by another process (it holds {folder}): "
                                "wait for it, or train into another run_name") from None
        yield
    finally:
        os.close(descriptor)  # releases the lock
        for path in made:  # a run refused before it wrote anything leaves no empty folder
            with contextlib.suppress(OSError):  # not empty
                path.rmdir()


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


def drop_refused(hydra_dir: Path, job_name: str, record: str | None, checkpoint_dir: Path,
                 new_root: Path | None = None) -> None:
    """After a command refused before it trained: a new run's folder that holds nothing but what Hydra made for
    this command (its empty log and its record, hydra.output_subdir) is removed, so that a typo leaves no empty run
    for TensorBoard to list. Anything else keeps everything: a run whose checkpoint folder exists (it trained, or
    another process is training it), a log with lines in it (an earlier command's, or this one's before it failed),
    any other file (earlier commands' records, the user's own), the working folder and those above it.
    `new_root`, the folder of runs when this command made it, goes too once it is empty."""
    log = hydra_dir / f"{job_name}.log"
    ours = {log} | ({hydra_dir / record / name for name in HYDRA_RECORD} if record else set())
    if (checkpoint_dir.exists() or not hydra_dir.is_dir() or log.exists() and log.stat().st_size > 0
            or any(path not in ours and not path.is_dir() for path in hydra_dir.rglob("*"))):
        return
    for path in ours:
        path.unlink(missing_ok=True)
    working = Path.cwd().resolve()
    record_folders = [folder for folder in (hydra_dir / record / HYDRA_RECORD[0]).parents
                      if hydra_dir.resolve() in folder.resolve().parents] if record else []
    for folder in [*record_folders, hydra_dir, hydra_dir.parent, *([new_root] if new_root else [])]:  # deepest first
        if folder.resolve() in (working, *working.parents):
            return
        with contextlib.suppress(OSError):  # not empty: it holds files of its own
            folder.rmdir()
