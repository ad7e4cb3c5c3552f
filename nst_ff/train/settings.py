"""Checks of a training config made before any heavy work (VGG, data loading, training), each failure one line
naming the setting; and the run directory: never overwritten by a fresh model unless asked."""

import math
from collections.abc import Mapping
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from nst_ff.errors import NstError
from nst_ff.io.paths import name_problem
from nst_ff.model.checkpoint import CheckpointError, read_checkpoint
from nst_ff.model.schema import MAX_STYLE_SIZE
from nst_ff.train.precision import PRECISIONS
from nst_ff.train.run_folder import REPLACED, restore_or_drop

STYLE_SAMPLINGS = ("balanced", "uniform")
# Upper bounds, checked before any work: far above any sensible run, far below what exhausts memory or time.
# (key, least, most); VGG's relu4_3 sees an image 8 times smaller, so 16 px is the least that gives it 2x2.
WHOLE_NUMBERS = (
    ("data.batch_size", 1, 1024), ("data.image_size", 16, 2048), ("data.style_size", 16, MAX_STYLE_SIZE),
    ("trainer.max_steps", 1, 10**8), ("trainer.accumulate_grad_batches", 1, 1024),
    ("trainer.log_every_n_steps", 1, 10**8), ("checkpoint.every_n_steps", 1, 10**8),
    ("data.num_workers", 0, 256), ("data.grid_images", 0, 64), ("optim.warmup_steps", 0, 10**8),
    ("logging.image_every_n_steps", 0, 10**8),
)


class SettingsError(NstError, ValueError):
    """A training setting that cannot work; the message names it."""


def _get(cfg: DictConfig, key: str):
    node = cfg
    for part in key.split("."):
        node = node[part]
    return node


def _whole(cfg, key: str, least: int, most: int) -> None:
    value = _get(cfg, key)
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        raise SettingsError(f"{key}={value}: must be a whole number >= {least}")
    if value > most:
        raise SettingsError(f"{key}={value}: must be at most {most}")


def _finite(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _number(cfg, key: str, positive: bool, at_most: float = math.inf) -> None:
    value = _get(cfg, key)
    if not _finite(value) or value < 0 or (positive and value == 0) or value > at_most:
        bound = ("> 0" if positive else ">= 0") + (f" and <= {at_most:g}" if at_most < math.inf else "")
        raise SettingsError(f"{key}={value}: must be a number {bound}")


def _style_scales(cfg: DictConfig) -> None:
    scales = cfg.loss.get("style_scales") or {}
    if not isinstance(scales, Mapping):
        raise SettingsError(f"loss.style_scales={scales}: must be {{style name: factor}}, e.g. {{candy: 2}}")
    for name, value in scales.items():
        if not isinstance(name, str):  # Hydra reads {1984: 2} as a number
            raise SettingsError(f"loss.style_scales: style {name} is not a name; quote it: {{'{name}': {value}}}")
        if not (_finite(value) and value > 0):
            raise SettingsError(f"loss.style_scales.{name}={value}: must be a number > 0")


def check_scaled_styles(cfg: DictConfig, style_names: list[str]) -> None:
    """loss.style_scales names styles of the run's style folder (a typo would scale nothing)."""
    unknown = sorted(set(cfg.loss.get("style_scales") or {}) - set(style_names))
    if unknown:
        raise SettingsError(f"loss.style_scales: no style {', '.join(unknown)} in {cfg.data.style_dir} "
                            f"(styles: {', '.join(style_names)})")


def check_settings(cfg: DictConfig) -> None:
    """Types, signs and sizes of every setting train() reads itself; Hydra has already refused unknown keys."""
    check_given(cfg)
    for key, least, most in WHOLE_NUMBERS:
        _whole(cfg, key, least, most)
    for key in ("optim.lr", "model.alpha"):
        _number(cfg, key, positive=True)
    if cfg.optim.cin_lr is not None:
        _number(cfg, "optim.cin_lr", positive=True)
    _number(cfg, "optim.final_lr_fraction", positive=False, at_most=1)
    _number(cfg, "data.grayscale", positive=False, at_most=1)
    _number(cfg, "data.half_size", positive=False, at_most=1)
    _number(cfg, "data.double_size", positive=False, at_most=1)
    if cfg.data.half_size + cfg.data.double_size > 1:
        raise SettingsError(f"data.half_size={cfg.data.half_size} and data.double_size={cfg.data.double_size}: "
                            "shares of the batches, together at most 1")
    _number(cfg, "data.scale_jitter", positive=True, at_most=8)
    if cfg.data.scale_jitter < 1:
        raise SettingsError(f"data.scale_jitter={cfg.data.scale_jitter}: must be a number >= 1 (1: no jitter)")
    for key in ("loss.content_weight", "loss.style_weight", "loss.tv_weight"):
        _number(cfg, key, positive=False)
    _style_scales(cfg)
    if cfg.style_sampling not in STYLE_SAMPLINGS:
        raise SettingsError(f"style_sampling={cfg.style_sampling}: choose one of {', '.join(STYLE_SAMPLINGS)}")
    if not isinstance(cfg.overwrite, bool):
        raise SettingsError(f"overwrite={cfg.overwrite}: must be true or false")
    if str(cfg.trainer.precision) not in PRECISIONS:
        raise SettingsError(f"trainer.precision={cfg.trainer.precision}: choose one of {', '.join(PRECISIONS)}")


def check_given(cfg: DictConfig) -> None:
    """Every mandatory value given, a run name that is a safe folder name, a starting checkpoint outside this run."""
    missing = sorted(OmegaConf.missing_keys(cfg))
    if missing:
        raise SettingsError(f"{', '.join(missing)}: required, and not given (add {missing[0]}=VALUE)")
    problem = name_problem(str(cfg.run_name))  # it names folders: checkpoints/<run_name>, runs/<run_name>
    if problem:
        raise SettingsError(f"run_name={cfg.run_name}: {problem}")
    for key in ("finetune_from", "init_from"):
        value = cfg[key]
        if value is not None and not isinstance(value, str):
            raise SettingsError(f"{key}={value}: must be the path of a checkpoint")
        if value and Path(value).resolve().is_relative_to(Path(cfg.checkpoint.dir).resolve()):
            raise SettingsError(f"{key}={value} is a checkpoint of this run ({cfg.checkpoint.dir}), which the new "
                                "run writes over: train into another run_name")
    if cfg.finetune_from and cfg.init_from:
        raise SettingsError("finetune_from and init_from: give one (finetune_from adds styles to a trained network, "
                            "init_from trains all of a network's own styles on)")


def resume_path(cfg: DictConfig) -> str | None:
    """ckpt_path as a file: `last` is this run's last.ckpt when it has one (so a requeued job runs the same
    command every time), else a fresh start."""
    if cfg.ckpt_path == "last":
        last = Path(cfg.checkpoint.dir) / "last.ckpt"
        return str(last) if last.is_file() else None
    return None if cfg.ckpt_path is None else str(cfg.ckpt_path)


def check_resume(path: str, model: dict, style_names: list[str]) -> None:
    """The checkpoint to resume is a training checkpoint of nst_ff for this network and these styles."""
    try:
        checkpoint = read_checkpoint(path)
    except CheckpointError as error:
        raise SettingsError(f"ckpt_path={path}: {error}") from None
    if "optimizer_states" not in checkpoint or "global_step" not in checkpoint:
        raise SettingsError(f"ckpt_path={path}: an exported inference file, not a training checkpoint "
                            "(resume from checkpoints/<run>/last.ckpt or a step=N.ckpt)")
    info = checkpoint["nst_ff"]
    saved = list(info["style_names"])
    if saved != style_names:
        hint = " (a fine-tuned run: resume it with its finetune_from)" if saved[-len(style_names):] == style_names \
            else ""
        raise SettingsError(f"ckpt_path={path}: its styles {saved} differ from this run's {style_names}{hint}")
    if info["model"] != model:
        raise SettingsError(f"ckpt_path={path}: its network {info['model']} differs from this run's {model} "
                            "(resume with the model settings it was trained with)")


def prepare_run_dir(cfg: DictConfig, resuming: bool) -> bool:
    """Removes temporary files a killed run left behind (and settles a replacement it left half done), and
    refuses to train a fresh model over a run's checkpoints unless overwrite=true. Deletes nothing of the old
    run: True when it is to be replaced, which train() does once every input is checked (run_folder.set_aside)."""
    folder = Path(cfg.checkpoint.dir)
    if not folder.is_dir():
        return False
    for stray in folder.glob(".*.tmp*"):  # checkpoint.atomic_save's, from a process killed mid-write
        stray.unlink(missing_ok=True)
    if (folder / REPLACED).is_dir():
        restore_or_drop(folder, Path(cfg.logging.dir) / str(cfg.run_name))
    existing = sorted(folder.glob("*.ckpt"))
    if resuming or not existing:
        return False
    if not cfg.overwrite:
        raise SettingsError(
            f"run {cfg.run_name} already has checkpoints in {folder}: resume it with ckpt_path=last, "
            "train another with run_name=NEW_NAME, or replace it with overwrite=true"
        )
    return True
