import os
from pathlib import Path

import hydra
import pytest
from hydra import compose, initialize_config_dir

from conftest import ROOT
from nst_ff.loss.perceptual import PerceptualLoss
from nst_ff.model.transformer import StyleTransferNetwork
from nst_ff.train.data import StyleTransferDataModule

CONF = ROOT / "conf"
EXPERIMENTS = sorted(p.stem for p in (CONF / "experiment").glob("*.yaml"))


@pytest.mark.parametrize("experiment", [None, *EXPERIMENTS])
def test_every_config_composes_and_instantiates(experiment, image_dirs):
    content, styles = image_dirs
    overrides = [f"data.content_dir={content}", f"data.style_dir={styles}", "loss.vgg.weights=random"]
    if experiment:
        overrides.append(f"experiment={experiment}")
    with initialize_config_dir(str(CONF), version_base="1.3"):
        cfg = compose("train", overrides=overrides)
    assert isinstance(hydra.utils.instantiate(cfg.data), StyleTransferDataModule)
    assert isinstance(hydra.utils.instantiate(cfg.model, num_styles=3), StyleTransferNetwork)
    assert isinstance(hydra.utils.instantiate(cfg.loss), PerceptualLoss)
    assert cfg.trainer.max_steps > 0


def test_defaults_are_magentas():
    with initialize_config_dir(str(CONF), version_base="1.3"):
        cfg = compose("train")
    assert (cfg.data.batch_size, cfg.data.image_size, cfg.optim.lr, cfg.trainer.max_steps) == (16, 256, 1e-3, 40000)
    assert cfg.loss.content_layers == ["relu3_3"]
    assert list(cfg.loss.style_layers) == ["relu1_2", "relu2_2", "relu3_3", "relu4_3"]
    assert cfg.loss.tv_weight == 0


def test_vgg_weights_default_to_the_environment_variable(monkeypatch):
    monkeypatch.setenv("NST_FF_VGG_WEIGHTS", "/somewhere/vgg16.pth")
    with initialize_config_dir(str(CONF), version_base="1.3"):
        assert compose("train").loss.vgg.weights == "/somewhere/vgg16.pth"
    monkeypatch.delenv("NST_FF_VGG_WEIGHTS")
    with initialize_config_dir(str(CONF), version_base="1.3"):
        assert compose("train").loss.vgg.weights == "imagenet"


def test_a_relative_vgg_weights_variable_names_the_file_in_the_directory_it_was_given_in(tmp_path, monkeypatch):
    from nst_ff.io.config import env_vgg_weights, loss_config, pin_environment

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NST_FF_VGG_WEIGHTS", "assets/vgg16.pth")
    assert loss_config()["vgg"]["weights"] == env_vgg_weights() == str(tmp_path / "assets" / "vgg16.pth")
    pin_environment()  # what every command does first: its subprocesses, wherever they run, inherit this
    monkeypatch.chdir(tmp_path.parent)
    assert os.environ["NST_FF_VGG_WEIGHTS"] == str(tmp_path / "assets" / "vgg16.pth")
    with initialize_config_dir(str(CONF), version_base="1.3"):
        assert compose("train").quality.vgg_weights == str(tmp_path / "assets" / "vgg16.pth")
    for keyword in ("random", "imagenet"):
        monkeypatch.setenv("NST_FF_VGG_WEIGHTS", keyword)
        pin_environment()
        assert os.environ["NST_FF_VGG_WEIGHTS"] == keyword


def test_training_path_settings_become_absolute_against_the_directory_of_the_command(tmp_path):
    from nst_ff.io.config import absolute_paths

    overrides = ["data.content_dir=photos", "data.style_dir=../paintings", "loss.vgg.weights=random",
                 "ckpt_path=last", "finetune_from=base/last.ckpt", "run_name=r"]
    with initialize_config_dir(str(CONF), version_base="1.3"):
        cfg = compose("train", overrides=overrides)
    cfg.quality.vgg_weights = "~/vgg.pth"
    absolute_paths(cfg, str(tmp_path))
    assert cfg.data.content_dir == str(tmp_path / "photos")
    assert cfg.data.style_dir == str(tmp_path.parent / "paintings")
    assert cfg.quality.vgg_weights == str(Path.home() / "vgg.pth")
    assert cfg.finetune_from == str(tmp_path / "base" / "last.ckpt")
    assert (cfg.loss.vgg.weights, cfg.ckpt_path) == ("random", "last")  # keywords, not files
    assert cfg.checkpoint.dir == str(tmp_path / "checkpoints" / "r")
    assert cfg.logging.dir == str(tmp_path / "runs")
