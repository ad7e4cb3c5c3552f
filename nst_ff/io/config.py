"""The one reader of conf/ for the tools Hydra does not run (optimize.py, evaluate.py, stylize.py's VGG maps):
from any working directory, from a source checkout or an editable install (conf/ beside the package), and
from an installed wheel (which ships conf/ inside the package)."""

import os
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from nst_ff.errors import NstError

PACKAGE = Path(__file__).resolve().parent.parent  # nst_ff/
VGG_WEIGHTS_VARIABLE = "NST_FF_VGG_WEIGHTS"
VGG_WEIGHTS_KEYWORDS = ("imagenet", "random")  # the VGG weights settings that are not files
# Training's settings that name files or folders (the VGG ones may also be a keyword above).
TRAIN_PATH_SETTINGS = ("data.content_dir", "data.style_dir", "loss.vgg.weights", "quality.vgg_weights",
                       "finetune_from", "init_from", "ckpt_path", "checkpoint.dir", "logging.dir")


def absolute_setting(value: str, base: str | None = None) -> str:
    """A path setting made absolute against `base` (default: the current directory), so that it names the same file
    from a process started elsewhere (a test's subprocess, a DDP worker, Hydra with hydra.job.chdir=true); the
    keywords (imagenet, random, ckpt_path=last) stay as they are."""
    if value in (*VGG_WEIGHTS_KEYWORDS, "last"):
        return value
    return os.path.abspath(os.path.join(base or os.getcwd(), os.path.expanduser(value)))


def pin_environment() -> None:
    """Makes a relative NST_FF_VGG_WEIGHTS absolute, in the directory it was given in: every command calls this
    first, so the processes it starts (data workers, DDP, Streamlit) inherit the same file whatever their directory."""
    value = os.environ.get(VGG_WEIGHTS_VARIABLE)
    if value:
        os.environ[VGG_WEIGHTS_VARIABLE] = absolute_setting(value)


def env_vgg_weights() -> str:
    """NST_FF_VGG_WEIGHTS as an absolute path (or keyword), else torchvision's ImageNet weights."""
    return absolute_setting(os.environ.get(VGG_WEIGHTS_VARIABLE) or "imagenet")


def absolute_paths(cfg: DictConfig, base: str) -> None:
    """Training's path settings made absolute against `base`, in place (a relative value would otherwise name
    another file in any process whose working directory differs)."""
    for key in TRAIN_PATH_SETTINGS:
        value = OmegaConf.select(cfg, key)
        if isinstance(value, str):
            OmegaConf.update(cfg, key, absolute_setting(value, base))


def conf_dir() -> Path:
    for candidate in (PACKAGE.parent / "conf", PACKAGE / "conf"):
        if (candidate / "train.yaml").is_file():
            return candidate
    raise NstError(f"nst_ff's conf/ is neither beside nor inside {PACKAGE}: reinstall nst_ff")


def load(name: str) -> dict:
    """conf/<name>.yaml resolved (`${oc.env:...}` defaults included) as plain Python containers."""
    return OmegaConf.to_container(OmegaConf.load(conf_dir() / f"{name}.yaml"), resolve=True)


def loss_config(**overrides) -> dict:
    """conf/loss/perceptual.yaml resolved (the VGG weights follow NST_FF_VGG_WEIGHTS), with the
    non-None `overrides` (any PerceptualLoss argument, `vgg` merged into the YAML's, and `vgg_weights`)
    applied, so this loss is training's loss unless told otherwise."""
    config = load("loss/perceptual")
    config.pop("_target_")
    vgg_weights = overrides.pop("vgg_weights", None)
    for key, value in overrides.items():
        if value is not None:
            config[key] = {**config["vgg"], **value} if key == "vgg" else value
    if vgg_weights is not None:
        config["vgg"]["weights"] = vgg_weights
    config["vgg"]["weights"] = absolute_setting(str(config["vgg"]["weights"]))
    return config


def default_style_size() -> int:
    """Training's style image size (conf/data/folders.yaml): the Grams depend on it."""
    return int(load("data/folders")["style_size"])
