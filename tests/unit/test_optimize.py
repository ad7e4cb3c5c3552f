"""optimize.py: per-image optimisation lowers the training loss; the CLI writes image, GIF and log."""


import pytest
import torch
from omegaconf import OmegaConf
from PIL import Image

from conftest import ROOT, make_image
from nst_ff.cli import optimize_main as optimize
from nst_ff.io.config import loss_config
from nst_ff.io.images import read_image, resize_shorter
from nst_ff.loss.perceptual import PerceptualLoss
from nst_ff.measure.optimization import initial_image, optimize_image
from nst_ff.model.checkpoint import export
from nst_ff.model.transformer import StyleTransferNetwork


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    folder = tmp_path_factory.mktemp("optimize")
    return make_image(folder / "photo.png", size=(48, 40), seed=1), make_image(folder / "painting.jpg", seed=2)


@pytest.fixture(scope="module")
def loss(images):
    torch.manual_seed(0)
    loss = PerceptualLoss(**loss_config(vgg_weights="random"))
    loss.set_style_targets([read_image(images[1])])
    return loss


@pytest.mark.parametrize("optimizer", ["lbfgs", "adam"])
def test_optimizer_lowers_the_loss(loss, images, optimizer):
    content = resize_shorter(read_image(images[0]), 32)[None]  # [1, 3, 32, 38]
    totals = []
    image, terms = optimize_image(
        loss, content, torch.ones(1, 1), content, steps=10, optimizer=optimizer,
        on_step=lambda step, image, terms: totals.append(terms["total"]),
    )
    assert len(totals) == 11 and totals[-1] == terms["total"]
    assert terms["total"] < 0.7 * totals[0]
    rises = sum(later > earlier for earlier, later in zip(totals, totals[1:], strict=False))
    assert rises <= 2, totals  # monotone enough: an occasional overshoot, never a climb
    assert image.shape == content.shape and 0 <= image.min() and image.max() <= 1


def test_loss_config_is_training_config_with_overrides(monkeypatch):
    training = OmegaConf.load(ROOT / "conf" / "loss" / "perceptual.yaml")
    monkeypatch.setenv("NST_FF_VGG_WEIGHTS", "/some/vgg.pth")
    config = loss_config()
    assert config["style_weight"] == training.style_weight and config["content_weight"] == training.content_weight
    assert config["style_layers"] == OmegaConf.to_container(training.style_layers)
    assert config["vgg"]["weights"] == "/some/vgg.pth"
    config = loss_config(style_weight=3.0, content_layers=["relu2_2"], vgg_weights="random", tv_weight=None)
    assert config["style_weight"] == 3.0 and config["content_layers"] == ["relu2_2"]
    assert config["vgg"]["weights"] == "random" and config["tv_weight"] == training.tv_weight


def test_initial_images():
    content = torch.rand(1, 3, 8, 12)
    assert torch.equal(initial_image("content", content, None), content)
    noise = initial_image("noise", content, None, seed=3)
    assert torch.equal(noise, initial_image("noise", content, None, seed=3)) and noise.shape == content.shape
    assert initial_image("style", content, torch.rand(3, 20, 20)).shape == content.shape


def test_cli_writes_image_gif_and_log(images, tmp_path, capsys):
    output, gif, log = tmp_path / "out" / "stylized.png", tmp_path / "anim.gif", tmp_path / "log"
    code = optimize.main([
        "--input", str(images[0]), "--style-image", str(images[1]), "--output", str(output),
        "--size", "32", "--steps", "4", "--log-every", "2", "--init", "noise", "--optimizer", "adam",
        "--vgg-weights", "random", "--gif", str(gif), "--log", str(log),
    ])
    assert code == 0
    assert Image.open(output).size == (38, 32)  # shorter side 32, aspect kept
    with Image.open(gif) as animation:
        assert animation.n_frames == 3  # steps 0, 2 and the final image
    assert any(log.glob("events.out.tfevents.*"))
    assert "final" in capsys.readouterr().out


@pytest.mark.parametrize("change, message", [
    ({"--input": "missing.jpg"}, "missing.jpg"),
    ({"--style-image": "empty.jpg"}, "empty file"),
    ({"--output": "out.xyz"}, "cannot write this image format"),
    ({"--gif": "anim.png"}, ".gif"),
    ({"--style-layers": "relu9_9"}, "relu9_9"),
])
def test_bad_input_exits_2_without_output(images, tmp_path, capsys, change, message):
    (tmp_path / "empty.jpg").touch()
    options = {"--input": str(images[0]), "--style-image": str(images[1]), "--output": "out.png",
               "--vgg-weights": "random", "--size": "32", "--steps": "1", **change}
    paths = ("--input", "--style-image", "--output", "--gif")
    argv = [item for option, value in options.items()
            for item in (option, str(tmp_path / value) if option in paths and "/" not in value else value)]
    assert optimize.main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("optimize.py: error:") and message in err and err.count("\n") == 1
    assert not any(tmp_path.glob("out*")) and not any(tmp_path.glob("anim*"))


def test_bad_numbers_are_one_line_usage_errors(images, tmp_path, capsys):
    assert optimize.main(["--input", str(images[0]), "--style-image", str(images[1]), "--output",
                          str(tmp_path / "o.png"), "--style-weight", "-1"]) == 2
    assert capsys.readouterr().err == ("optimize.py: error: argument --style-weight: must be >= 0, got -1 "
                                       "(see --help)\n")


def test_an_unwritable_output_stops_before_optimising(images, tmp_path, capsys):
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where a folder should be")
    assert optimize.main(["--input", str(images[0]), "--style-image", str(images[1]), "--output",
                          str(blocker / "o.png"), "--steps", "1000"]) == 2
    out, err = capsys.readouterr()
    assert err == f"optimize.py: error: cannot write to {blocker}: {blocker} is not a folder\n" and out == ""


def test_ckpt_optimises_the_loss_the_checkpoint_records_and_options_still_override(images, tmp_path, monkeypatch):
    trained = {"loss": {"vgg": {"arch": "vgg19"}, "content_layers": ["relu4_2"], "style_layers": {"relu1_1": 0.5},
                        "content_weight": 1.0, "style_weight": 3.0, "tv_weight": 0.0}, "style_size": 24}
    export(tmp_path / "net.pt", StyleTransferNetwork(1), ["painting"], trained)
    built = []

    def recording(**kwargs):
        built.append(kwargs)
        return PerceptualLoss(**kwargs)

    monkeypatch.setattr(optimize, "PerceptualLoss", recording)
    assert optimize.main(["--input", str(images[0]), "--style-image", str(images[1]), "--output",
                          str(tmp_path / "o.png"), "--size", "32", "--steps", "1", "--vgg-weights", "random",
                          "--ckpt", str(tmp_path / "net.pt"), "--tv-weight", "0.5"]) == 0
    (config,) = built
    assert config["vgg"] == {"arch": "vgg19", "weights": "random"} and config["style_layers"] == {"relu1_1": 0.5}
    assert config["style_weight"] == 3.0 and config["tv_weight"] == 0.5


def test_a_missing_ckpt_is_one_line(images, tmp_path, capsys):
    assert optimize.main(["--input", str(images[0]), "--style-image", str(images[1]), "--output",
                          str(tmp_path / "o.png"), "--ckpt", str(tmp_path / "nope.pt")]) == 2
    assert capsys.readouterr().err == f"optimize.py: error: checkpoint not found: {tmp_path / 'nope.pt'}\n"
    assert not (tmp_path / "o.png").exists()
