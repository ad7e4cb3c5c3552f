"""The one reader of conf/ for the tools Hydra does not run (optimize.py, evaluate.py, stylize.py's VGG maps):
from any working directory, from a source checkout or an editable install (conf/ beside the package), and
from an installed wheel (which ships conf/ inside the package)."""

from pathlib import Path

from omegaconf import OmegaConf

PACKAGE = Path(__file__).resolve().parent.parent  # nst_ff/


def conf_dir() -> Path:
    for candidate in (PACKAGE.parent / "conf", PACKAGE / "conf"):
        if (candidate / "train.yaml").is_file():
            return candidate
    raise FileNotFoundError(f"nst_ff's conf/ is neither beside nor inside {PACKAGE}: reinstall nst_ff")


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
    return config


def default_style_size() -> int:
    """Training's style image size (conf/data/folders.yaml): the Grams depend on it."""
    return int(load("data/folders")["style_size"])
