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
    created = not folder.exists()
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
        if created and not any(folder.iterdir()):  # a run refused before it wrote anything
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


def drop_refused(hydra_dir: Path, job_name: str, record: str | None, checkpoint_dir: Path) -> None:
    """After a command refused before it trained: Hydra's record of it (hydra.output_subdir, a folder of its own per
    command, so earlier commands' records stay), then, in a new run's folder, its empty log and the folders they leave
    empty, so that a typo leaves no empty run for TensorBoard to list. Nothing else is touched: a folder holding any
    other file, a log with lines in it (an earlier run's), or a run whose checkpoint folder exists (another process
    may be training it) stays as it is, and so do the working folder and those above it."""
    working = Path.cwd().resolve()
    kept = (working, *working.parents)
    if record:
        for name in HYDRA_RECORD:
            (hydra_dir / record / name).unlink(missing_ok=True)
        for folder in [hydra_dir / record, *(hydra_dir / part for part in Path(record).parents)]:
            inside = folder.resolve().is_relative_to(hydra_dir.resolve()) and folder.resolve() != hydra_dir.resolve()
            if not inside or folder.resolve() in kept:
                break
            with contextlib.suppress(OSError):  # not empty: other commands' records, or files of the user's
                folder.rmdir()
    log = hydra_dir / f"{job_name}.log"
    if (checkpoint_dir.exists() or not hydra_dir.is_dir() or set(hydra_dir.iterdir()) - {log}
            or log.exists() and log.stat().st_size > 0):
        return
    log.unlink(missing_ok=True)
    for folder in (hydra_dir, hydra_dir.parent):
        if folder.resolve() in kept:
            return
        with contextlib.suppress(OSError):  # not empty: it holds files of its own
            folder.rmdir()
