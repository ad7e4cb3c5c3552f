"""Lightning callbacks that keep a run's work: checkpoint however it ends, stop cleanly on a signal, and never
checkpoint weights that have diverged."""

import logging
import signal
import threading
from pathlib import Path

import lightning as L
from lightning.pytorch.callbacks import Callback, TQDMProgressBar

from nst_ff.errors import NstError
from nst_ff.model.checkpoint import weights_problem

log = logging.getLogger(__name__)


class DivergedError(NstError, RuntimeError):
    pass


class WeightGuard(Callback):
    """Stops training when an optimiser step leaves the weights non-finite or absurdly large. Lightning runs it
    before ModelCheckpoint at each step's end, so broken weights never reach a checkpoint."""

    def __init__(self, checkpoint_dir: str):
        self.checkpoint_dir = Path(checkpoint_dir)

    def on_train_batch_end(self, trainer: L.Trainer, module: L.LightningModule, outputs, batch, batch_idx) -> None:
        problem = weights_problem(module.network.state_dict())
        if problem:
            raise DivergedError(
                f"the weights diverged at step {trainer.global_step} ({problem}); training stopped and no "
                f"checkpoint of them was written, {self.checkpoint_dir / 'last.ckpt'} keeps the last saved step "
                "(lower optim.lr or optim.cin_lr)"
            )


class EndOfRunCheckpoint(Callback):
    """Writes last.ckpt at the last completed step however training ends: max_steps, max_time, a stop signal
    or an exception in a step (a second Ctrl-C aborts without it)."""

    def __init__(self, checkpoint_dir: str):
        self.path = Path(checkpoint_dir) / "last.ckpt"
        self.start_step = 0

    def on_train_start(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        self.start_step = trainer.global_step

    def on_train_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        self.save(trainer, module)

    def on_exception(self, trainer: L.Trainer, module: L.LightningModule, exception: BaseException) -> None:
        if not isinstance(exception, KeyboardInterrupt):
            self.save(trainer, module)

    def save(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        if trainer.global_step <= self.start_step or weights_problem(module.network.state_dict()):
            return  # nothing new since the run started, or weights no checkpoint may hold
        trainer.save_checkpoint(self.path, weights_only=False)  # a full checkpoint (optimiser too): resumable
        log.info("saved step %d to %s", trainer.global_step, self.path)


class Interrupted(Exception):
    """Training stopped by Ctrl-C after saving its last step: the command exits 130 (128 + SIGINT), as a shell
    expects of an interrupted program, not 0 as if the run had finished."""


class GracefulStop(Callback):
    """Ctrl-C (SIGINT) or SIGUSR1 stops training after the step in progress, which then ends as usual (with
    its last.ckpt); a second Ctrl-C aborts at once. SIGTERM is Lightning's own, with the same outcome."""

    SIGNALS = (signal.SIGINT, signal.SIGUSR1)

    def __init__(self):
        self.requested = False
        self.received = None  # the signal that stopped training
        self.previous = {}

    def on_train_start(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        if threading.current_thread() is not threading.main_thread():
            return  # signal handlers can only be set from the main thread
        for signum in self.SIGNALS:
            current = signal.getsignal(signum)
            # SIGUSR1 already handled is Lightning's SLURM requeue: leave it to Lightning
            if signum == signal.SIGINT or current in (signal.SIG_DFL, None):
                self.previous[signum] = current
                signal.signal(signum, self.request)

    def request(self, signum, frame) -> None:
        self.requested, self.received = True, signum
        signal.signal(signal.SIGINT, signal.default_int_handler)  # a second Ctrl-C raises KeyboardInterrupt
        log.warning("%s: stopping after this step and saving last.ckpt (Ctrl-C again to abort without saving)",
                    signal.Signals(signum).name)

    def on_train_batch_end(self, trainer: L.Trainer, module: L.LightningModule, outputs, batch, batch_idx) -> None:
        # every rank stops at the same step, or DDP would wait forever for the ones that stopped
        if trainer.strategy.reduce_boolean_decision(self.requested, all=False):
            trainer.should_stop = True

    def teardown(self, trainer: L.Trainer, module: L.LightningModule, stage: str) -> None:
        for signum, handler in self.previous.items():
            signal.signal(signum, handler)
        self.previous = {}


class StepProgressBar(TQDMProgressBar):
    """One bar for the whole run, in optimisation steps out of trainer.max_steps, with the time left. A run is
    set by steps: Lightning's own bar counts the batches of an epoch, and on a resumed run starts at the step
    it resumed from, with no total and a rate that counts the steps done before."""

    def on_train_start(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        super().on_train_start(trainer, module)
        bar = self.train_progress_bar
        bar.reset(total=trainer.max_steps if trainer.max_steps > 0 else None)
        bar.initial = bar.n = trainer.global_step  # tqdm's rate and time left count from `initial`
        bar.set_description("Training")

    def on_train_epoch_start(self, trainer: L.Trainer, *_) -> None:
        """The run's one bar carries on across epochs."""

    def on_train_batch_end(self, trainer: L.Trainer, module: L.LightningModule, outputs, batch, batch_idx) -> None:
        bar, step = self.train_progress_bar, trainer.global_step
        if self.is_enabled and (step % self.refresh_rate == 0 or step == bar.total):
            bar.update(step - bar.n)
            bar.set_postfix(self.get_metrics(trainer, module))

    def on_train_epoch_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        if self.is_enabled:
            self.train_progress_bar.set_postfix(self.get_metrics(trainer, module))
