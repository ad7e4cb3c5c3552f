"""int8 ONNX export (`stylize.py --export m.onnx --quantize int8`): the model is quantized where it should be,
keeps the style names, stylizes a demo photo at an odd size within 30 dB PSNR of the fp32 network (on ONNX
Runtime and on OpenVINO, in fp32 and its default bf16), and a --quantize the export cannot honour is one line
and exit 2 with nothing written."""

import importlib.util
import json
import math

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import ROOT, styled_network
from nst_ff.cli import stylize_main as stylize
from nst_ff.infer.onnx_model import OnnxNetwork
from nst_ff.model.checkpoint import NST_FF_KEY, export

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime.quantization")

STYLES = ["alpha", "beta", "gamma"]
PHOTO = ROOT / "demo" / "content" / "chelsea.jpg"


def run(*argv) -> int:
    return stylize.main([str(arg) for arg in argv])


def smooth_network():
    """A network that maps photos to pictures, not to noise: every kernel a Gaussian blob times a random channel
    mix, so outputs follow the photo's shapes as a trained network's do, and each style's own CIN tables
    recolour them. (Default-initialised weights give high-frequency noise after instance norm, whose PSNR
    would say little about int8 on real networks.)"""
    network = styled_network(num_styles=len(STYLES), alpha=0.5, seed=1)
    torch.manual_seed(1)
    with torch.no_grad():
        for module in network.modules():
            if isinstance(module, torch.nn.Conv2d):
                out_channels, in_channels, k, _ = module.weight.shape
                grid = torch.arange(k) - k // 2
                blob = torch.exp(-(grid[:, None] ** 2 + grid[None] ** 2) / (k / 3) ** 2)
                mix = torch.randn(out_channels, in_channels) / math.sqrt(in_channels)
                module.weight.copy_(mix[:, :, None, None] * blob / blob.sum())
    return network


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """(fp32 .pt file, int8 .onnx file exported from it by stylize.py): one quantization a session."""
    root = tmp_path_factory.mktemp("int8")
    export(root / "net.pt", smooth_network(), STYLES, {"loss": {"content_weight": 1.0}, "style_size": 32})
    assert run("--ckpt", root / "net.pt", "--export", root / "int8.onnx", "--quantize", "int8") == 0
    return root / "net.pt", root / "int8.onnx"


def test_int8_model_is_quantized_except_the_float_layers_and_keeps_the_styles(models):
    _, int8 = models
    proto = onnx.load(int8)
    ops = [node.op_type for node in proto.graph.node]
    kernels = {t.name: tuple(t.dims[2:]) for t in proto.graph.initializer}
    int8_weights = [t for t in proto.graph.initializer if t.data_type == onnx.TensorProto.INT8 and len(t.dims) == 4]
    convs = [node for node in proto.graph.node if node.op_type == "Conv"]
    float_convs = [node for node in convs if node.input[1] in kernels]  # weights straight from a float tensor
    assert ops.count("QuantizeLinear") >= 9 and [tuple(t.dims[2:]) for t in int8_weights] == [(3, 3)] * 9
    # The 9x9 convs, the two stride-2 convs and the next three stay float: the first six, and the last.
    assert [kernels[node.input[1]] for node in float_convs] == [(9, 9)] + [(3, 3)] * 5 + [(9, 9)]
    assert float_convs == convs[:6] + convs[-1:]
    assert "InstanceNormalization" in ops and len(convs) == 16
    description = json.loads({p.key: p.value for p in proto.metadata_props}[NST_FF_KEY])
    assert description["precision"] == "int8" and description["style_names"] == STYLES
    assert OnnxNetwork(int8).style_names == STYLES
    if importlib.util.find_spec("openvino"):
        from nst_ff.infer.openvino_model import OpenVinoNetwork

        assert OpenVinoNetwork(int8).style_names == STYLES


def test_quantizing_prints_only_what_it_wrote(models, tmp_path, capfd):
    ckpt, _ = models
    capfd.readouterr()
    assert run("--ckpt", ckpt, "--export", tmp_path / "int8.onnx", "--quantize", "int8") == 0
    # not the percentile calibration's progress lines, ONNX Runtime's prints
    assert capfd.readouterr() == (f"exported {tmp_path / 'int8.onnx'}\n", "")


BACKENDS = [["--backend", "onnxruntime"], ["--backend", "openvino"], ["--backend", "openvino", "--precision", "fp32"]]


@pytest.mark.parametrize("backend", BACKENDS, ids=" ".join)
@pytest.mark.parametrize("style", STYLES)
def test_int8_matches_fp32_on_a_photo_at_an_odd_size(models, tmp_path, style, backend):
    if "openvino" in backend:
        pytest.importorskip("openvino")
    ckpt, int8 = models
    outputs = {}
    for name, model, options in (("fp32", ckpt, []), ("int8", int8, backend)):
        out = tmp_path / f"{name}.png"
        assert run("--ckpt", model, *options, "--input", PHOTO, "--style", style, "--size", 157,
                   "--output", out) == 0
        outputs[name] = np.asarray(Image.open(out), np.float64) / 255
    assert outputs["fp32"].shape[:2] == (157, 236)  # odd, and not a multiple of 4
    # A picture, not a flat field: PSNR against a near-constant image would pass anything.
    assert outputs["fp32"].std() > 0.05
    psnr = 10 * np.log10(1 / np.mean((outputs["int8"] - outputs["fp32"]) ** 2))
    assert psnr >= 30, psnr


@pytest.mark.parametrize("export_to,mode,message", [
    ("again.pt", "int8", "--quantize int8 writes an ONNX model: give --export PATH.onnx (not "),
    ("again.onnx", "int4", "argument --quantize: invalid choice: 'int4'"),
    (None, "int8", "give --export PATH.onnx (not nothing)"),
])
def test_quantize_the_export_cannot_honour_is_one_line(models, tmp_path, capsys, export_to, mode, message):
    ckpt, _ = models
    export_args = ["--export", tmp_path / export_to] if export_to else []
    assert run("--ckpt", ckpt, *export_args, "--quantize", mode) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("stylize.py: error: ") and message in err, err
    assert list(tmp_path.iterdir()) == []


def test_an_onnx_model_claiming_another_precision_is_refused(models, tmp_path):
    from nst_ff.model.checkpoint import CheckpointError

    _, int8 = models
    proto = onnx.load(int8)
    description = json.loads({p.key: p.value for p in proto.metadata_props}[NST_FF_KEY])
    onnx.helper.set_model_props(proto, {NST_FF_KEY: json.dumps({**description, "precision": "int4"})})
    onnx.save(proto, tmp_path / "int4.onnx")
    with pytest.raises(CheckpointError, match="precision 'int4' is not one of int8"):
        OnnxNetwork(tmp_path / "int4.onnx")


def test_calibration_on_a_folder_of_ones_own_photos(models, tmp_path):
    ckpt, _ = models
    photos = tmp_path / "mine"
    photos.mkdir()
    Image.open(PHOTO).save(photos / "cat.tif")
    Image.open(ROOT / "demo" / "content" / "astronaut.jpg").rotate(90, expand=True).save(photos / "astronaut.png")
    (photos / "notes.txt").write_text("not a photo")
    assert run("--ckpt", ckpt, "--export", tmp_path / "mine.onnx", "--quantize", "int8", "--calibration", photos) == 0
    outputs = {}
    for name, model, options in (("fp32", ckpt, []), ("int8", tmp_path / "mine.onnx", ["--backend", "onnxruntime"])):
        out = tmp_path / f"{name}.png"
        assert run("--ckpt", model, *options, "--input", PHOTO, "--style", "beta", "--output", out) == 0
        outputs[name] = np.asarray(Image.open(out), np.float64) / 255
    proto = onnx.load(tmp_path / "mine.onnx")
    assert json.loads({p.key: p.value for p in proto.metadata_props}[NST_FF_KEY])["precision"] == "int8"
    assert 10 * np.log10(1 / np.mean((outputs["int8"] - outputs["fp32"]) ** 2)) >= 30


def test_a_calibration_folder_that_cannot_serve_is_one_line(models, tmp_path, capsys, monkeypatch):
    from nst_ff.infer import quantize

    ckpt, _ = models
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "clip.mp4").write_bytes(b"\0")
    int8 = ["--export", tmp_path / "out.onnx", "--quantize", "int8"]
    cases = [
        (["--calibration", tmp_path / "empty"], f"--calibration {tmp_path / 'empty'}: photos to calibrate an int8 "
                                                "export on; add --quantize int8"),
        ([*int8, "--calibration", tmp_path / "nowhere"], f"--calibration {tmp_path / 'nowhere'}: not a folder"),
        ([*int8, "--calibration", tmp_path / "empty"], f"--calibration {tmp_path / 'empty'}: no images (looked for "
                                                       ".jpg .jpeg .png .webp .bmp .tif .tiff)"),
        (int8, "int8 calibration needs photos: give --calibration FOLDER"),  # installed from a wheel: no demo/
    ]
    monkeypatch.setattr(quantize, "DEMO_PHOTOS", tmp_path / "no_demo")
    for args, message in cases:
        assert run("--ckpt", ckpt, *args, "--input", PHOTO, "--style", "beta", "--output", tmp_path / "o.png") == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("stylize.py: error: ") and message in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty"]  # no export, no photo painted
