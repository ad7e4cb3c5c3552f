"""The workbench page, run headless by Streamlit's AppTest (and, where Chromium is installed, in a browser)."""

import importlib.util
import io
import os
import sys
from functools import partial

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import ROOT, make_clip, styled_network
from nst_ff.cli.stylize_main import main as stylize
from nst_ff.model.checkpoint import export

AppTest = pytest.importorskip("streamlit.testing.v1").AppTest
needs_av = pytest.mark.skipif(importlib.util.find_spec("av") is None, reason='needs the video extra (PyAV)')

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
    os.utime(tmp_path / "tiny.pt", (1, 1))  # named after the newer corrupt.ckpt, whatever the clock's resolution
    app.sidebar.text_input(key="ckpt_path").set_value(str(tmp_path / "missing.ckpt")).run()
    assert errors(app) == [f"checkpoint not found: {tmp_path / 'missing.ckpt'}; in {tmp_path}, newest first: "
                           f"{corrupt}, {tmp_path / 'tiny.pt'}"]


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




def decoded(data: bytes) -> np.ndarray:
    """An MP4's frames [T, H, W, 3] uint8."""
    import av
    with av.open(io.BytesIO(data)) as container:
        return np.stack([frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)])


def stylized_by_cli(checkpoint, clip, out, *options) -> np.ndarray:
    assert stylize(["--ckpt", str(checkpoint), "--input", str(clip), "--output", str(out), "--style", "alpha",
                    *options]) == 0
    return decoded(out.read_bytes())


@needs_av
def test_video_page_plays_per_frame_and_stable_as_stylize_py_paints_them(app, checkpoint, tmp_path, monkeypatch):
    from nst_ff.app import workbench_core

    # Lossless, here and in stylize.py below: x264 on several threads does not encode the same frames the same
    # way twice at its default constant quality, so only a lossless encode compares pixel for pixel.
    monkeypatch.setattr(workbench_core, "paint_clip", partial(workbench_core.paint_clip, crf=0))
    clip = make_clip(tmp_path / "pan.mp4", frames=6, pan=2)
    app.sidebar.radio(key="view").set_value("Video").run()
    app.file_uploader(key="clip_upload").set_value(("pan.mp4", clip.read_bytes(), "video/mp4"))
    app.button(key="stylize_clip").click().run()
    assert errors(app) == []
    clips = app.session_state["clips"]
    per_frame, stable = decoded(clips["per-frame"].video), decoded(clips["stable"].video)
    assert per_frame.shape == stable.shape == (6, 48, 64, 3)  # the first style's slider at 1: alpha
    off = stylized_by_cli(checkpoint, clip, tmp_path / "off.mp4", "--temporal", "off", "--crf", "0")
    assert np.abs(per_frame.astype(int) - off).max() <= 1
    on = stylized_by_cli(checkpoint, clip, tmp_path / "on.mp4", "--crf", "0")
    assert np.abs(stable.astype(int) - on).max() <= 1
    assert np.abs(stable.astype(int) - per_frame).mean() > 0.5  # the stable one is smoothed
    assert len(app.get("video")) == 2 and len(app.get("download_button")) == 2

    app.slider(key="clip_stroke_scale").set_value(2.0)
    app.button(key="stylize_clip").click().run()
    larger = decoded(app.session_state["clips"]["per-frame"].video)
    assert errors(app) == [] and larger.shape == per_frame.shape
    assert np.abs(larger.astype(int) - per_frame).mean() > 2


def painted_by(at) -> tuple[str, str]:
    """What the page says painted its per-frame and stable clips, from their captions."""
    per_frame, stable = (caption.value.split(": ", 1)[1] for caption in at.caption)
    return per_frame, stable


@needs_av
@pytest.mark.parametrize("case", ["cache off", "export fails"])
def test_video_page_paints_in_pytorch_with_the_norms_where_no_export_runs(app, checkpoint, tmp_path, monkeypatch,
                                                                         case):
    cache = tmp_path / "cache"
    if case == "export fails":
        cache.write_text("a file where the folder would go")
    monkeypatch.setenv("NST_FF_EXPORT_CACHE", "off" if case == "cache off" else str(cache))
    clip = make_clip(tmp_path / "pan.mp4", frames=3, pan=2)
    app.sidebar.radio(key="view").set_value("Video").run()
    app.file_uploader(key="clip_upload").set_value(("pan.mp4", clip.read_bytes(), "video/mp4"))
    app.button(key="stylize_clip").click().run()
    assert errors(app) == []
    assert painted_by(app) == ("PyTorch", "PyTorch, norms + flow blend")
    notes = [warning.value for warning in app.warning]
    if case == "cache off":
        assert notes == [] and not cache.exists()
    else:  # stylize.py's one line, not a traceback
        (note,) = notes
        assert note.startswith(f"running {checkpoint} in PyTorch: its export to {cache} failed: ") and "\n" not in note


@needs_av
def test_video_page_paints_on_the_openvino_export_as_stylize_py_does(app, checkpoint, tmp_path, monkeypatch,
                                                                    capsys):
    from nst_ff.app import workbench_core

    for module in ("onnx", "onnxscript", "openvino", "cv2"):
        pytest.importorskip(module)
    monkeypatch.setenv("NST_FF_EXPORT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(workbench_core, "paint_clip", partial(workbench_core.paint_clip, crf=0))  # as above
    clip = make_clip(tmp_path / "pan.mp4", frames=6, pan=2)
    app.sidebar.radio(key="view").set_value("Video").run()
    app.file_uploader(key="clip_upload").set_value(("pan.mp4", clip.read_bytes(), "video/mp4"))
    app.button(key="stylize_clip").click().run()
    assert errors(app) == [] and not app.warning
    per_frame_by, stable_by = painted_by(app)
    assert per_frame_by in ("OpenVINO (bf16)", "OpenVINO (f32)") and stable_by == f"{per_frame_by}, flow blend"
    assert len(list((tmp_path / "cache").glob("*.onnx"))) == 1
    clips = app.session_state["clips"]
    off = stylized_by_cli(checkpoint, clip, tmp_path / "off.mp4", "--temporal", "off", "--crf", "0")
    on = stylized_by_cli(checkpoint, clip, tmp_path / "on.mp4", "--crf", "0")
    assert capsys.readouterr().err.count("exporting") == 1  # stylize.py ran the page's export
    for painted, cli in ((clips["per-frame"], off), (clips["stable"], on)):
        frames = decoded(painted.video)
        assert frames.shape == cli.shape == (6, 48, 64, 3)
        assert np.abs(frames.astype(int) - cli).max() <= 1


@needs_av
def test_video_page_progress_counts_frames_over_both_passes(checkpoint, tmp_path):
    from nst_ff.app.workbench_core import stylize_clip
    from nst_ff.errors import UsageError
    from nst_ff.infer.stylizer import Painting
    from nst_ff.model.checkpoint import load_checkpoint

    network, _, _ = load_checkpoint(checkpoint)
    clip = make_clip(tmp_path / "clip.mkv", frames=5, audio=False)  # Matroska: a duration, no frame count
    steps = []
    stylize_clip(network, clip.read_bytes(), "clip.mkv", torch.tensor([[0.0, 1, 0]]), Painting(),
                 lambda share, text: steps.append((share, text)))
    assert steps == [(0.5, "per-frame: frame 5 of 5"), (1.0, "stable: frame 5 of 5")]
    # The page's uploader lets only clips through; what calls stylize_clip directly gets the same bound.
    with pytest.raises(UsageError, match=r"^notes.txt: upload a clip \(.mp4 .mov .mkv .webm\)$"):
        stylize_clip(network, b"hello", "notes.txt", torch.tensor([[0.0, 1, 0]]), Painting(), print)


@needs_av
def test_video_page_refuses_bad_uploads_with_stylize_py_messages(app, checkpoint, tmp_path, monkeypatch, capsys):
    from nst_ff.app import workbench_core

    app.sidebar.radio(key="view").set_value("Video").run()
    app.button(key="stylize_clip").click().run()
    assert errors(app) == ["upload a clip first"]
    notes, truncated = tmp_path / "notes.mp4", make_clip(tmp_path / "truncated.mp4", frames=12)
    notes.write_text("this is not a video\n")
    truncated.write_bytes(truncated.read_bytes()[: truncated.stat().st_size // 2])
    for bad in (notes, truncated):
        assert stylize(["--ckpt", str(checkpoint), "--input", str(bad), "--output", str(tmp_path / "out.mp4"),
                        "--style", "alpha"]) == 2
        cli = capsys.readouterr().err.strip()  # stylize.py: error: /tmp/.../notes.mp4 is not a readable video: ...
        app.file_uploader(key="clip_upload").set_value((bad.name, bad.read_bytes(), "video/mp4"))
        app.button(key="stylize_clip").click().run()
        (message,) = errors(app)
        assert message.startswith(f"{bad.name} is not a readable video") and cli.endswith(message)
        assert "clips" not in app.session_state

    monkeypatch.setattr(workbench_core, "MAX_CLIP_FRAMES", 4)
    long = make_clip(tmp_path / "long.mkv", frames=6, audio=False)
    app.file_uploader(key="clip_upload").set_value(("long.mkv", long.read_bytes(), "video/x-matroska"))
    app.button(key="stylize_clip").click().run()
    assert errors(app) == ["long.mkv has 6 frames: the page takes at most 4; cut it shorter, or use stylize.py "
                           "--input, which takes any length"]
    monkeypatch.setattr(workbench_core, "MAX_CLIP_SIDE", 32)
    app.file_uploader(key="clip_upload").set_value(("wide.mp4", make_clip(tmp_path / "wide.mp4", frames=2)
                                                    .read_bytes(), "video/mp4"))
    app.button(key="stylize_clip").click().run()
    assert "wide.mp4 is 64x48: the page takes at most 32 px" in errors(app)[0]
    monkeypatch.setattr(workbench_core, "MAX_CLIP_SIDE", 1280)
    app.button(key="stylize_clip").click().run()  # the app keeps running
    assert errors(app) == [] and decoded(app.session_state["clips"]["stable"].video).shape == (2, 48, 64, 3)


@needs_av
def test_clip_whose_container_understates_its_length_stops_at_the_limit(tmp_path, monkeypatch):
    from dataclasses import replace

    from nst_ff.app import workbench_core
    from nst_ff.errors import UsageError
    from nst_ff.infer.video import probe

    monkeypatch.setattr(workbench_core, "MAX_CLIP_FRAMES", 4)
    clip = replace(probe(make_clip(tmp_path / "clip.mkv", frames=6, audio=False)), frames=None, seconds=None)
    workbench_core.check_clip(clip)  # nothing known to refuse before painting
    shares = []
    step = workbench_core.frame_counter(clip, "stable", 1, lambda share, text: shares.append((share, text)))
    step(3)
    assert shares == [(0.5, "stable: frame 3 of ?")]
    with pytest.raises(UsageError, match="more than 4 frames"):
        step(3)


def test_the_checkpoint_list_offers_runs_and_exported_networks(tmp_path):
    from nst_ff.app.workbench_core import find_checkpoints

    for name in ("demo/last.ckpt", "demo/step=60.ckpt", "ready12.pt", "notes.md"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"")
    assert sorted(find_checkpoints(tmp_path)) == [str(tmp_path / "demo" / "last.ckpt"), str(tmp_path / "ready12.pt")]
    assert str(ROOT / "checkpoints" / "ready12.pt") in find_checkpoints(ROOT / "checkpoints")  # the shipped model


def test_nst_workbench_help_is_its_own_and_starts_no_server(capsys, monkeypatch):
    from nst_ff.cli import workbench_main

    monkeypatch.setitem(sys.modules, "streamlit.web", None)  # a server start would fail loudly
    assert workbench_main.main(["--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: nst-workbench [STREAMLIT OPTIONS]") and "--server.port" in out
