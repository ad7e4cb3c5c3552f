"""`python train.py [overrides]` or `nst-train [overrides]`: Hydra reads conf/ and the command line, then trains."""

import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from nst_ff.cli.arguments import exit_code, fail
from nst_ff.io.config import conf_dir, pin_environment
from nst_ff.train.overrides import check_command


def run(cfg: DictConfig, new_root: Path | None = None) -> None:
    from nst_ff.train.run_folder import drop_refused
    from nst_ff.train.settings import check_settings

    # Lightning takes seconds to import: a mistyped setting is refused before it loads, and before the VGG.
    code = exit_code("train.py", lambda: check_settings(cfg)) or fit(cfg)
    if code:
        if HydraConfig.initialized():  # run from Hydra's command line, which made a run folder (not compose())
            hydra = HydraConfig.get()
            drop_refused(Path(hydra.runtime.output_dir), hydra.job.name, hydra.output_subdir,
                         Path(cfg.checkpoint.dir), new_root)
        sys.exit(code)


def fit(cfg: DictConfig) -> int:
    """Trains; the exit code of an expected failure, or exits as a stopped run should."""
    from lightning.pytorch.utilities.exceptions import SIGTERMException

    from nst_ff.train.callbacks import Interrupted
    from nst_ff.train.training import train

    try:
        return exit_code("train.py", lambda: train(cfg))
    except Interrupted as stopped:
        print(f"train.py: {stopped}; resume with run_name={cfg.run_name} ckpt_path=last", file=sys.stderr)
        sys.exit(128 + 2)
    except KeyboardInterrupt:  # before training started (reading photos, loading VGG): nothing to save yet
        print("train.py: stopped by Ctrl-C before training started", file=sys.stderr)
        sys.exit(128 + 2)
    except SIGTERMException:  # Lightning's, raised after the step in progress; last.ckpt is saved by then
        print(f"train.py: stopped by SIGTERM; resume with run_name={cfg.run_name} ckpt_path=last", file=sys.stderr)
        sys.exit(128 + 15)


def main() -> None:
    pin_environment()  # before Hydra reads ${oc.env:NST_FF_VGG_WEIGHTS}; DDP and data workers inherit it
    problem, settings = check_command(sys.argv[1:])
    if problem:  # before Hydra makes a run folder for it
        sys.exit(fail("train.py", problem))
    if settings is not None:  # a run name with a path in it must not reach Hydra's run folder either
        from nst_ff.train.settings import check_settings

        code = exit_code("train.py", lambda: check_settings(settings))
        if code:
            sys.exit(code)
    root = OmegaConf.select(settings, "logging.dir", throw_on_resolution_failure=False) if settings else None
    new_root = Path(root) if root and not Path(root).exists() else None  # Hydra makes it; a refusal removes it
    # conf/ is beside the package in a source checkout, inside it in a wheel: found at run time, not import time
    hydra.main(version_base="1.3", config_path=str(conf_dir()), config_name="train")(lambda cfg: run(cfg, new_root))()
