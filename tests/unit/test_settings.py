"""Training settings refused before any heavy work, and run directories never overwritten by accident."""

from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir

from conftest import ROOT, train_overrides
from nst_ff.model.checkpoint import export
from nst_ff.model.transformer import StyleTransferNetwork
from nst_ff.train.settings import (
    SettingsError,
    check_resume,
    check_scaled_styles,
    check_settings,
    prepare_run_dir,
    resume_path,
)


def config(tmp_path: Path, *overrides: str):
    with initialize_config_dir(str(ROOT / "conf"), version_base="1.3"):
        return compose("train", overrides=train_overrides(tmp_path, tmp_path, tmp_path) + list(overrides))


BAD_SETTINGS = {
    "data.batch_size=abc": "data.batch_size=abc: must be a whole number >= 1",
    "data.batch_size=-1": "data.batch_size=-1: must be a whole number >= 1",
    "data.batch_size=2.5": "data.batch_size=2.5: must be a whole number >= 1",
    "data.image_size=0": "data.image_size=0: must be a whole number >= 16",
    "data.num_workers=-2": "data.num_workers=-2: must be a whole number >= 0",
    "trainer.max_steps=-1": "trainer.max_steps=-1: must be a whole number >= 1",
    "checkpoint.every_n_steps=0": "checkpoint.every_n_steps=0: must be a whole number >= 1",
    "optim.lr=0": "optim.lr=0: must be a number > 0",
    "optim.lr=nan": "optim.lr=nan: must be a number > 0",
    "optim.cin_lr=fast": "optim.cin_lr=fast: must be a number > 0",
    "optim.final_lr_fraction=2": "optim.final_lr_fraction=2: must be a number >= 0 and <= 1",
    "data.scale_jitter=0.5": "data.scale_jitter=0.5: must be a number >= 1 (1: no jitter)",
    "data.scale_jitter=nan": "data.scale_jitter=nan: must be a number > 0 and <= 8",
    "data.grayscale=1.5": "data.grayscale=1.5: must be a number >= 0 and <= 1",
    "data.half_size=-0.1": "data.half_size=-0.1: must be a number >= 0 and <= 1",
    "data.double_size=2": "data.double_size=2: must be a number >= 0 and <= 1",
    "loss.style_scales={candy: 0}": "loss.style_scales.candy=0: must be a number > 0",
    "loss.style_scales=2": "loss.style_scales=2: must be {style name: factor}, e.g. {candy: 2}",
    "loss.style_scales={1984: 2}": "loss.style_scales: style 1984 is not a name; quote it: {'1984': 2}",
    "loss.style_weight=-1": "loss.style_weight=-1: must be a number >= 0",
    "model.alpha=0": "model.alpha=0: must be a number > 0",
    "style_sampling=roundrobin": "style_sampling=roundrobin: choose one of balanced, uniform",
    "overwrite=yes please": "overwrite=yes please: must be true or false",
    "trainer.precision=fp8": "trainer.precision=fp8: choose one of auto, 32-true, bf16-mixed, 16-mixed, bf16-true, "
                             "16-true, 64-true, 32, 16, bf16, 64",
}


@pytest.mark.parametrize("setting", list(BAD_SETTINGS))
def test_bad_settings_name_the_setting(setting, tmp_path):
    with pytest.raises(SettingsError) as error:
        check_settings(config(tmp_path, setting))
    assert str(error.value) == BAD_SETTINGS[setting]


def test_half_and_double_size_share_the_batches(tmp_path):
    with pytest.raises(SettingsError, match=r"^data.half_size=0.6 and data.double_size=0.5: shares of the batches, "
                                            r"together at most 1$"):
        check_settings(config(tmp_path, "data.half_size=0.6", "data.double_size=0.5"))
    check_settings(config(tmp_path, "data.half_size=0.5", "data.double_size=0.5"))


def test_style_scales_name_styles_of_the_run(tmp_path):
    cfg = config(tmp_path, "loss.style_scales={candy: 2, cnady: 3}")
    check_settings(cfg)
    with pytest.raises(SettingsError, match=r"^loss.style_scales: no style cnady in .* \(styles: candy, mosaic\)$"):
        check_scaled_styles(cfg, ["candy", "mosaic"])
    check_scaled_styles(config(tmp_path, "loss.style_scales={candy: 2}"), ["candy", "mosaic"])


def test_the_defaults_and_the_demo_pass(tmp_path):
    check_settings(config(tmp_path))
    check_settings(config(tmp_path, "experiment=demo"))


@pytest.fixture
def training_checkpoint(tmp_path) -> Path:
    """The shape of a Lightning checkpoint of 3 styles, as check_resume reads it."""
    network = StyleTransferNetwork(3)
    path = tmp_path / "run" / "last.ckpt"
    path.parent.mkdir()
    state = {f"network.{k}": v for k, v in network.state_dict().items()}
    torch.save({"state_dict": state, "global_step": 5, "optimizer_states": [{}], "pytorch-lightning_version": "2",
                "nst_ff": {"format": 1, "model": network.constructor_args(), "style_names": ["a", "b", "c"]}}, path)
    return path


def test_resume_checks_the_checkpoint(training_checkpoint, tmp_path):
    check_resume(str(training_checkpoint), {"num_styles": 3, "alpha": 1.0}, ["a", "b", "c"])
    cases = {
        str(tmp_path / "missing.ckpt"): "checkpoint not found",
        "exported": "an exported inference file, not a training checkpoint",
        "alpha": "its network {'num_styles': 3, 'alpha': 1.0} differs from this run's {'num_styles': 3, 'alpha': 0.5}",
        "styles": "its styles ['a', 'b', 'c'] differ from this run's ['a', 'b', 'd']",
        "finetuned": "its styles ['a', 'b', 'c'] differ from this run's ['b', 'c'] (a fine-tuned run: resume it "
                     "with its finetune_from)",
    }
    export(tmp_path / "small.pt", StyleTransferNetwork(3), ["a", "b", "c"])
    for case, message in cases.items():
        path = {"exported": str(tmp_path / "small.pt")}.get(case, case if case.endswith(".ckpt") else
                                                            str(training_checkpoint))
        model = {"num_styles": 3, "alpha": 0.5 if case == "alpha" else 1.0}
        with pytest.raises(SettingsError) as error:
            check_resume(path, model, {"styles": ["a", "b", "d"], "finetuned": ["b", "c"]}.get(case, ["a", "b", "c"]))
        assert str(error.value).startswith(f"ckpt_path={path}: ") and message in str(error.value), case


def test_ckpt_path_last_resumes_the_runs_last_checkpoint_or_starts_fresh(tmp_path):
    cfg = config(tmp_path, "ckpt_path=last")
    assert resume_path(cfg) is None
    (tmp_path / "ckpt").mkdir()
    (tmp_path / "ckpt" / "last.ckpt").write_bytes(b"")
    assert resume_path(cfg) == str(tmp_path / "ckpt" / "last.ckpt")


def test_a_run_directory_with_checkpoints_is_not_overwritten(tmp_path):
    folder = tmp_path / "ckpt"
    folder.mkdir()
    (folder / "last.ckpt").write_bytes(b"trained")
    (folder / ".last.ckpt.tmp4242").write_bytes(b"half")  # left by a process killed mid-write
    for experiment in ([], ["experiment=demo"]):  # the demo's recipe, as a base for a run of one's own too
        with pytest.raises(SettingsError, match="run test already has checkpoints in .*ckpt: resume it with "
                                                "ckpt_path=last, train another with run_name=NEW_NAME, or replace "
                                                "it with overwrite=true"):
            prepare_run_dir(config(tmp_path, *experiment, "run_name=test"), resuming=False)
    assert (folder / "last.ckpt").read_bytes() == b"trained"
    assert not (folder / ".last.ckpt.tmp4242").exists()
    prepare_run_dir(config(tmp_path), resuming=True)
    events = tmp_path / "runs" / "test"
    events.mkdir(parents=True)
    (events / "events.out.tfevents.1.host").write_bytes(b"old")
    assert prepare_run_dir(config(tmp_path, "overwrite=true"), resuming=False) is True  # replaced later, by train()
    assert (folder / "last.ckpt").read_bytes() == b"trained" and (events / "events.out.tfevents.1.host").exists()
