"""The workbench page, run headless by Streamlit's AppTest (and, where Chromium is installed, in a browser)."""

import io

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import ROOT, styled_network
from nst_ff.cli.stylize_main import main as stylize
from nst_ff.model.checkpoint import export

AppTest = pytest.importorskip("streamlit.testing.v1").AppTest

STYLES = ["alpha", "beta", "gamma"]
PHOTO = ROOT / "demo" / "content" / "chelsea.jpg"


@pytest.fixture
def checkpoint(tmp_path):
    path = tmp_path / "tiny.pt"
    export(path, styled_network(alpha=0.25), STYLES)
    return path


@pytest.fixture
def app(checkpoint, monkeypatch):
    """The page on the tiny checkpoint and the demo photo at 64 px, random-weight VGG."""
    monkeypatch.setenv("NST_FF_VGG_WEIGHTS", "random")
    at = AppTest.from_file(str(ROOT / "workbench.py"), default_timeout=120).run()
    at.sidebar.selectbox(key="ckpt_choice").set_value("another path...").run()
    at.sidebar.text_input(key="ckpt_path").set_value(str(checkpoint))
    at.sidebar.selectbox(key="photo_choice").set_value(PHOTO.name)
    at.sidebar.number_input(key="size").set_value(64)
    return at.run()


def errors(at) -> list[str]:
    assert not at.exception, at.exception[0].value
    return [error.value for error in at.error]


def test_one_style_equals_stylize_py_and_sliders_change_the_output(app, checkpoint, tmp_path):
    assert errors(app) == []
    one_hot = app.session_state["result"]  # the first style's slider at 1, the others at 0
    assert stylize(["--ckpt", str(checkpoint), "--input", str(PHOTO), "--size", "64", "--style", "alpha",
                    "--output", str(tmp_path / "alpha.png")]) == 0
    written = torch.from_numpy(np.array(Image.open(tmp_path / "alpha.png"))).permute(2, 0, 1)
    assert one_hot.shape == written.shape == (3, 64, 96)
    assert (one_hot.int() - written.int()).abs().max() <= 1

    app.slider(key="style_beta").set_value(1.0).run()  # half alpha, half beta
    mixed = app.session_state["result"]
    assert errors(app) == [] and (mixed.int() - one_hot.int()).abs().max() > 10
    app.slider(key="strength").set_value(0.0).run()  # the photo itself
    assert (app.session_state["result"].int() - written.int()).abs().max() > 10
    assert app.download_button  # the PNG


def test_bad_input_shows_one_message_and_the_app_keeps_running(app, tmp_path):
    app.sidebar.selectbox(key="photo_choice").set_value("upload a file...").run()
    app.sidebar.file_uploader(key="photo_upload").set_value(("notes.jpg", b"not an image", "image/jpeg")).run()
    (message,) = errors(app)
    assert message.startswith("notes.jpg: cannot read image (cannot identify image file")
    bomb = io.BytesIO()
    Image.new("1", (12000, 12000)).save(bomb, format="PNG")  # 144 megapixels in a few kilobytes
    app.sidebar.file_uploader(key="photo_upload").set_value(("bomb.png", bomb.getvalue(), "image/png")).run()
    assert "bomb.png: 12000x12000 pixels is over the limit" in errors(app)[0]
    good = io.BytesIO()
    Image.open(PHOTO).save(good, format="PNG")
    app.sidebar.file_uploader(key="photo_upload").set_value(("cat.png", good.getvalue(), "image/png")).run()
    assert errors(app) == [] and app.session_state["result"].shape == (3, 64, 96)

    app.sidebar.number_input(key="size").set_value(2048).run()  # 3079 px on the longer side
    assert "choose a smaller output size" in errors(app)[0]
    corrupt = tmp_path / "corrupt.ckpt"
    corrupt.write_bytes(b"garbage")
    app.sidebar.number_input(key="size").set_value(64)
    app.sidebar.text_input(key="ckpt_path").set_value(str(corrupt)).run()
    assert errors(app)[0].startswith(f"cannot read checkpoint {corrupt}")
    app.sidebar.text_input(key="ckpt_path").set_value(str(tmp_path / "missing.ckpt")).run()
    assert errors(app) == [f"checkpoint not found: {tmp_path / 'missing.ckpt'}"]


def test_inside_the_network_shows_the_chosen_layers(app):
    app.sidebar.radio(key="view").set_value("Inside the network").run()
    app.multiselect(key="layers").set_value(["contract1", "expand3"])
    app.multiselect(key="vgg_layers").set_value(["relu1_2"]).run()
    assert errors(app) == []
    assert sorted(image.captions[0] for image in app.image) == ["contract1", "expand3", "vgg/relu1_2"]
    app.text_input(key="colormap").set_value("no_such_map").run()
    assert errors(app)[0].startswith("unknown colour map 'no_such_map'")


def test_optimisation_runs_and_shows_its_images(app):
    app.sidebar.radio(key="view").set_value("Per-image optimisation").run()
    app.number_input(key="opt_size").set_value(32)
    app.number_input(key="steps").set_value(3)
    app.selectbox(key="optimizer").set_value("adam").run()
    app.button(key="optimise").click().run()
    assert errors(app) == []
    run = app.session_state["optimisation"]
    assert len(run["losses"]) == 4 and len(run["frames"]) == 4 and run["image"].shape[-2] == 32  # steps 0-3
    assert len(app.get("download_button")) == 2  # the PNG and the GIF


