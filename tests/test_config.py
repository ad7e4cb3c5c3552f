from pathlib import Path

import hydra
import pytest
from hydra import compose, initialize_config_dir

from nst_ff.loss.perceptual import PerceptualLoss
from nst_ff.model.transformer import StyleTransferNetwork
from nst_ff.train.data import StyleTransferDataModule

CONF = Path(__file__).resolve().parents[1] / "conf"
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
