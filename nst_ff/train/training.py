"""`train(cfg)`: builds data, network, loss and Lightning trainer from a Hydra config and fits."""

import contextlib
import logging
import os
import signal
import warnings
from pathlib import Path

import hydra
import lightning as L
from hydra.core.hydra_config import HydraConfig
from lightning.pytorch.callbacks import LearningRateMonitor, ModelCheckpoint
from lightning.pytorch.loggers import TensorBoardLogger
from lightning.pytorch.plugins.io import TorchCheckpointIO
from lightning.pytorch.utilities.rank_zero import rank_zero_only
from omegaconf import DictConfig, OmegaConf

from nst_ff.io.config import absolute_paths
from nst_ff.measure.quality import PAINTING_SIZE, Yardstick
from nst_ff.model.checkpoint import atomic_save, thumbnail
from nst_ff.model.schema import MAX_STYLES
from nst_ff.train.callbacks import EndOfRunCheckpoint, GracefulStop, Interrupted, StepProgressBar, WeightGuard
from nst_ff.train.data import load_styles
from nst_ff.train.finetune import add_styles, read_base, start_from
from nst_ff.train.module import Monitor, Styles, StyleTransferModule
from nst_ff.train.precision import resolve_precision
from nst_ff.train.recipe import Recipe
from nst_ff.train.run_folder import locked, restore_or_drop, set_aside
from nst_ff.train.settings import (
    SettingsError,
    check_resume,
    check_scaled_styles,
    check_settings,
    prepare_run_dir,
    resume_path,
)

log = logging.getLogger(__name__)
# The loss network is frozen and meant to stay in eval mode; Lightning warns about it at every start.
warnings.filterwarnings("ignore", message=r".*module\(s\) in eval mode", module="lightning")
# Lightning's own use of a torch API it has yet to update: nothing the user can act on.
warnings.filterwarnings("ignore", message=r"`isinstance\(treespec, LeafSpec\)` is deprecated")
# nst_ff.train.settings already refuses a fresh model over a run's checkpoints; a resumed run writes there by design.
warnings.filterwarnings("ignore", message=r"Checkpoint directory .* exists and is not empty")
# Photos are shuffled afresh each epoch and training counts steps: restarting a cut epoch repeats a few photos, no harm.
warnings.filterwarnings("ignore", message=r"You're resuming from a checkpoint that ended before the epoch ended")
# Training is counted in steps: a short epoch (the demo's 4 photos) next to log_every_n_steps changes nothing.
warnings.filterwarnings("ignore", message=r"The number of training batches .* is smaller than the logging interval")


def _not_a_tip(record: logging.LogRecord) -> bool:
    return not record.getMessage().startswith("💡 Tip")


# Lightning advertises its cloud services at every start; its messages about the run itself stay.
logging.getLogger("lightning.pytorch.utilities.rank_zero").addFilter(_not_a_tip)


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning's checkpoint writer, made atomic: a run killed mid-write keeps its previous file."""

    def save_checkpoint(self, checkpoint, path, storage_options=None):
        atomic_save(checkpoint, path)

    def load_checkpoint(self, path, map_location=lambda storage, location: storage, weights_only=None):
        # Resuming reads only tensors and plain containers: a checkpoint from elsewhere cannot run code (and
        # torch stays quiet about weights_only).
        return super().load_checkpoint(path, map_location=map_location, weights_only=True)


def train(cfg: DictConfig) -> Path:
    """Fit a network as `cfg` says; returns the path of the last checkpoint."""
    check_settings(cfg)
    trainer = cfg.trainer
    trainer.precision = resolve_precision(trainer.precision, trainer.accelerator, trainer.strategy)
    # Relative paths name files in the directory the command was typed in, even where Hydra changes directory.
    absolute_paths(cfg, hydra.utils.get_original_cwd() if HydraConfig.initialized() else os.getcwd())
    # One process per run folder: DDP's other ranks are the same run (rank 0 holds the lock and the folder).
    main = rank_zero_only.rank == 0
    with locked(Path(cfg.checkpoint.dir), cfg.run_name) if main else contextlib.nullcontext():
        return _train(cfg, main)


def _train(cfg: DictConfig, main: bool) -> Path:
    ckpt_path = resume_path(cfg)
    replacing = prepare_run_dir(cfg, resuming=ckpt_path is not None) if main else False
    base = read_base(cfg.finetune_from) if cfg.finetune_from else None
    # A resumed run has weights of its own: init_from is read only at the start (it may be gone or replaced since).
    start = read_base(cfg.init_from, "init_from") if cfg.init_from and ckpt_path is None else None
    datamodule = hydra.utils.instantiate(cfg.data)
    datamodule.prepare()  # bad folders and style images fail here, before any training
    check_scaled_styles(cfg, datamodule.style_names)
    log.info("%d content images, %d styles: %s; precision %s", len(datamodule.content_paths),
             len(datamodule.style_names), ", ".join(datamodule.style_names), cfg.trainer.precision)
    # After the checks, so that a mistyped folder leaves an empty log (and so no run folder); quiet, since
    # Lightning's own line would print twice beside Hydra's log handler (the seed is in the settings record).
    L.seed_everything(cfg.seed, workers=True, verbose=False)
    network = build_network(cfg, base, datamodule.style_names, ckpt_path, start)
    module = build_module(cfg, network, base, datamodule)
    stop = GracefulStop()
    trainer = build_trainer(cfg, stop)
    # Every input is checked by now: the old run (overwrite=true) steps aside, and is deleted only once this
    # run has written a checkpoint of its own (put back otherwise, even after a kill: see prepare_run_dir).
    folder, events = Path(cfg.checkpoint.dir), Path(cfg.logging.dir) / str(cfg.run_name)
    if replacing:
        log.info("overwrite=true: replacing run %s (%s), once this run has saved a checkpoint", cfg.run_name, folder)
        set_aside(folder, events)
    try:
        trainer.logger.log_hyperparams(OmegaConf.to_container(cfg, resolve=True))  # hparams.yaml beside the events
        trainer.fit(module, datamodule=datamodule, ckpt_path=ckpt_path)
    finally:
        if replacing:
            restore_or_drop(folder, events)
    if trainer.global_step < cfg.trainer.max_steps:
        log.info("stopped at step %d of %d; resume with run_name=%s ckpt_path=last", trainer.global_step,
                 cfg.trainer.max_steps, cfg.run_name)
    if stop.received == signal.SIGINT:
        raise Interrupted(f"stopped by Ctrl-C at step {trainer.global_step}, saved in {folder / 'last.ckpt'}")
    return folder / "last.ckpt"


def build_network(cfg: DictConfig, base, new_names: list[str], ckpt_path: str | None, start=None):
    """The network for the fine-tuning base's styles (if any) then the run's, with init_from's weights (if any);
    checked against a resumed run, whose own weights then replace them."""
    style_names = (base.style_names if base else []) + new_names
    if len(style_names) > MAX_STYLES:
        raise SettingsError(f"{len(style_names)} styles: a network holds at most {MAX_STYLES}")
    network = hydra.utils.instantiate(cfg.model, num_styles=len(style_names))
    if base:
        add_styles(base, network, new_names)
        log.info("fine-tuning %s: its %d styles stay as they are; the style grid shows the new ones",
                 base.path, len(base.style_names))
    if start:
        start_from(start, network, style_names)
        log.info("starting from the weights of %s", start.path)
    if ckpt_path:
        check_resume(ckpt_path, network.constructor_args(), style_names)
        log.info("resuming from %s", ckpt_path)
    return network


def build_module(cfg: DictConfig, network, base, datamodule) -> StyleTransferModule:
    old_names = base.style_names if base else []
    old_thumbnails = base.thumbnails if base else []
    new_thumbnails = [thumbnail(image) for image in datamodule.style_images]
    loss = hydra.utils.instantiate(cfg.loss)  # before the yardstick: each VGG built draws from the seeded RNG
    if base:  # the checkpoint's loss record keeps the scales its frozen styles were trained with
        loss.style_scales = {**base.style_scales, **loss.style_scales}
    styles = Styles(
        old_names + datamodule.style_names, datamodule.style_images, frozen=len(old_names),
        # older checkpoints have no thumbnails: then none, rather than a gallery with holes
        thumbnails=old_thumbnails + new_thumbnails if old_thumbnails is not None else None,
        size=datamodule.style_size,
    )
    paintings = datamodule.style_images
    if datamodule.style_size != PAINTING_SIZE:
        _, paintings = load_styles(datamodule.style_dir, PAINTING_SIZE)
    monitor = Monitor(datamodule.grid_contents(), cfg.logging.image_every_n_steps,
                      Yardstick(paintings, cfg.quality.vgg_weights) if cfg.quality.enabled else None,
                      OmegaConf.to_container(cfg, resolve=True))
    recipe = Recipe(cfg.optim.lr, cfg.optim.cin_lr, cfg.optim.warmup_steps, cfg.optim.final_lr_fraction,
                    cfg.style_sampling)
    return StyleTransferModule(network, loss, styles, monitor, recipe,
                               cfg.channels_last, cfg.compile, OmegaConf.to_container(cfg.stability))


def build_trainer(cfg: DictConfig, stop: GracefulStop) -> L.Trainer:
    checkpoints = ModelCheckpoint(
        dirpath=cfg.checkpoint.dir,
        filename="step={step}",
        auto_insert_metric_name=False,
        every_n_train_steps=cfg.checkpoint.every_n_steps,
        save_top_k=-1,  # keep every periodic checkpoint
        save_last=True,
        enable_version_counter=False,  # re-running a named run overwrites last.ckpt, never last-v1.ckpt
    )
    # Lightning runs ModelCheckpoint after the other callbacks: WeightGuard sees each step's weights first.
    callbacks = [WeightGuard(cfg.checkpoint.dir), stop, EndOfRunCheckpoint(cfg.checkpoint.dir), checkpoints,
                 LearningRateMonitor(logging_interval="step")]
    if cfg.trainer.get("enable_progress_bar", True):  # Lightning refuses a bar callback with the bar disabled
        callbacks.append(StepProgressBar())
    return L.Trainer(
        **OmegaConf.to_container(cfg.trainer, resolve=True),
        logger=TensorBoardLogger(cfg.logging.dir, name=cfg.run_name, version="", default_hp_metric=False),
        callbacks=callbacks,
        plugins=[AtomicCheckpointIO()],
    )
