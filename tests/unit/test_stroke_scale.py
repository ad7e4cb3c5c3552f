"""--stroke-scale: the output keeps the photo's size at every setting, for images, folders, sheets, tiles and
an ONNX model (ONNX Runtime, OpenVINO); 1 changes nothing; bad values are one line and exit 2."""

from pathlib import Path

import pytest
import torch
from PIL import Image

from conftest import make_image, styled_network
from nst_ff.cli import stylize_main as stylize
from nst_ff.infer.stroke import stroke_scaled
from nst_ff.infer.stylizer import stylize as stylize_images
from nst_ff.model.checkpoint import export

STYLES = ["alpha", "beta"]


@pytest.fixture(scope="module")
def network():
    return styled_network(num_styles=2, alpha=0.25)


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory, network) -> Path:
    path = tmp_path_factory.mktemp("stroke") / "net.pt"
    export(path, network, STYLES, {})
    return path


def run(*argv) -> int:
    return stylize.main([str(arg) for arg in argv])


@pytest.mark.parametrize("scale", [0.25, 0.5, 1.0, 1.5, 2.0, 3.7, 8.0])
def test_output_keeps_the_photo_size_at_every_scale(network, scale):
    photo = torch.rand(1, 3, 45, 37)
    with torch.inference_mode():
        out = stylize_images(network, photo, torch.eye(2), stroke_scale=scale)
    assert out.shape == (1, 2, 3, 45, 37)
    assert torch.isfinite(out).all() and out.min() >= 0 and out.max() <= 1


def test_half_precision_networks_take_a_scale(network):
    half = styled_network(num_styles=2, alpha=0.25).to(torch.bfloat16)
    with torch.inference_mode():
        out = stylize_images(half, torch.rand(1, 3, 45, 37, dtype=torch.bfloat16), torch.eye(2, dtype=torch.bfloat16),
                             stroke_scale=2.0)
    assert out.shape == (1, 2, 3, 45, 37) and out.dtype == torch.bfloat16 and torch.isfinite(out).all()


def test_scale_one_is_the_plain_network(network):
    photo = torch.rand(2, 3, 40, 48)
    with torch.inference_mode():
        plain = network(photo.repeat_interleave(2, 0), torch.eye(2).repeat(2, 1)).unflatten(0, (2, 2))
        assert torch.equal(stylize_images(network, photo, torch.eye(2), stroke_scale=1.0), plain)


def test_larger_scale_paints_larger_strokes_on_the_full_passs_edges():
    """A painter that adds stripes of a fixed 8-px period to a photo with one sharp edge: at scale 4 the small pass
    paints them at 32 px, and the output holds that low-frequency texture (none at scale 1), keeps some of the fine
    one, and keeps most of the edge in a one-pixel step, as the full pass does (upsampling the small pass alone spreads
    it over several pixels)."""
    def paint(images):  # [B, 3, H, W] -> [B, 1, 3, H, W]
        height, width = images.shape[-2:]
        stripes = ((torch.arange(height) // 4) % 2).float()[:, None].expand(height, width)
        return (0.6 * images + 0.3 * stripes)[:, None]

    photo = torch.full((1, 3, 128, 128), 0.2)
    photo[..., 64:] = 0.9
    one, four = stroke_scaled(paint, photo, 1.0)[0, 0, 0], stroke_scaled(paint, photo, 4.0)[0, 0, 0]
    rows = torch.stack([one.mean(1), four.mean(1)])  # the stripes run along the rows
    low = torch.nn.functional.avg_pool1d(rows[:, None], 8)[:, 0]  # [2, 16]: what an 8-px blur leaves
    assert low[0].std() < 1e-6 and low[1].std() > 0.05  # the large strokes
    assert (rows[1, 1:] - rows[1, :-1]).abs().mean() > 0.3 * (rows[0, 1:] - rows[0, :-1]).abs().mean()  # fine ones
    step_one, step_four = (one[:, 64] - one[:, 63]).mean(), (four[:, 64] - four[:, 63]).mean()
    upsampled = torch.nn.functional.interpolate(paint(photo[..., ::4, ::4])[:, 0], scale_factor=4, mode="bicubic")
    assert step_four > 0.5 * step_one and step_four > 2 * (upsampled[0, 0, :, 64] - upsampled[0, 0, :, 63]).mean()


def test_folder_sheet_and_tiles_keep_every_size(ckpt, tmp_path):
    folder = tmp_path / "photos"
    sizes = {"a.png": (45, 37), "b.png": (64, 33)}
    for name, size in sizes.items():
        make_image(folder / name, size=size)
    out = tmp_path / "out"
    assert run("--ckpt", ckpt, "--input", folder, "--output", out, "--all-styles", "--stroke-scale", "2",
               "--tile", "32") == 0
    for name, size in sizes.items():
        for style in STYLES:
            assert Image.open(out / f"{Path(name).stem}_{style}.png").size == size
        assert Image.open(out / f"{Path(name).stem}_all-styles.png").size > size  # the sheet


@pytest.mark.parametrize("backend", ["onnxruntime", "openvino"])
def test_onnx_model_takes_the_same_scale(ckpt, tmp_path, backend):
    pytest.importorskip("onnxruntime")
    pytest.importorskip(backend)
    model = tmp_path / "net.onnx"
    assert run("--ckpt", ckpt, "--export", model) == 0
    photo = make_image(tmp_path / "photo.png", size=(45, 37))
    # --precision fp32: OpenVINO computes in bf16 by default on CPUs that have it.
    for source, output, options in ((ckpt, tmp_path / "torch.png", []),
                                    (model, tmp_path / "onnx.png", ["--backend", backend, "--precision", "fp32"])):
        assert run("--ckpt", source, *options, "--input", photo, "--style", "beta", "--stroke-scale", "3",
                   "--output", output) == 0
    torch_pixels = torch.tensor(list(Image.open(tmp_path / "torch.png").getdata()), dtype=torch.int16)
    onnx_pixels = torch.tensor(list(Image.open(tmp_path / "onnx.png").getdata()), dtype=torch.int16)
    assert (torch_pixels - onnx_pixels).abs().max() <= 1


@pytest.mark.parametrize("value", ["0", "-1", "nan", "inf", "abc", "100"])
def test_bad_stroke_scale_is_one_line_and_exit_2(ckpt, tmp_path, capsys, value):
    photo = make_image(tmp_path / "photo.png")
    out = tmp_path / "out.png"
    code = run("--ckpt", ckpt, "--input", photo, "--style", "alpha", f"--stroke-scale={value}", "--output", out)
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "--stroke-scale" in err, err
    assert not out.exists()

