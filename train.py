"""Train a multi-style network: `python train.py data.content_dir=... data.style_dir=... [overrides]`."""

import sys

import hydra
from lightning.pytorch.utilities.exceptions import SIGTERMException
from omegaconf import DictConfig

from nst_ff.callbacks import DivergedError
from nst_ff.data import DataError
from nst_ff.module import NonFiniteLossError
from nst_ff.recipe import RecipeError
from nst_ff.settings import SettingsError
from nst_ff.training import train
from nst_ff.vgg import VGGWeightsError


@hydra.main(version_base="1.3", config_path="conf", config_name="train")
def main(cfg: DictConfig) -> None:
    try:
        train(cfg)
    except (DataError, VGGWeightsError, NonFiniteLossError, DivergedError, RecipeError, SettingsError) as error:
        print(f"train.py: error: {error}", file=sys.stderr)
        sys.exit(2)
    except SIGTERMException:  # Lightning's, raised after the step in progress; last.ckpt is saved by then
        print(f"train.py: stopped by SIGTERM; resume with run_name={cfg.run_name} ckpt_path=last", file=sys.stderr)
        sys.exit(128 + 15)


if __name__ == "__main__":
    main()
