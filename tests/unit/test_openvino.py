"""OpenVINO, the CPU backend of an exported .onnx model (`stylize.py --ckpt m.onnx --backend openvino`, the
choice on the CPU when openvino is installed): it equals the network and ONNX Runtime at any size in fp32, stays
close in its default precision (bf16 on CPUs with AMX or AVX512-BF16), keeps the style names, and what it
cannot do is one line and exit 2. (The int8 export on OpenVINO: test_quantize.py.)"""

import sys
from argparse import Namespace
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import make_image, styled_network
from nst_ff.cli import stylize_main as stylize
from nst_ff.infer.onnx_model import OnnxNetwork
from nst_ff.infer.openvino_model import OpenVinoNetwork
from nst_ff.infer.quantize import DEMO_PHOTOS
from nst_ff.io.images import read_image, resize_shorter
from nst_ff.model.checkpoint import export

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
pytest.importorskip("openvino")

STYLES = ["alpha", "beta", "gamma"]
OPENVINO = ["--backend", "openvino"]


def run(*argv) -> int:
    return stylize.main([str(arg) for arg in argv])


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """(the .pt file, its fp32 .onnx export, the network): one export a session."""
    root = tmp_path_factory.mktemp("openvino")
    network = styled_network(alpha=0.25)
    export(root / "net.pt", network, STYLES, {})
    assert run("--ckpt", root / "net.pt", "--export", root / "net.onnx") == 0
    return root / "net.pt", root / "net.onnx", network


@pytest.fixture
def photo(tmp_path) -> Path:
    return make_image(tmp_path / "photo.png", size=(45, 37), seed=3)


def demo_photo(height: int) -> torch.Tensor:
    """A real photo (PSNR on noise says little), shorter side `height`: [1, 3, H, W]."""
    return resize_shorter(read_image(DEMO_PHOTOS / "chelsea.jpg"), height)[None]


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    return 10 * np.log10(1 / ((a.clamp(0, 1) - b.clamp(0, 1)) ** 2).mean().clamp_min(1e-12).item())


def pixels(path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"), dtype=np.int16)


def assert_one_line_error(capsys, message: str) -> None:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("stylize.py: error: "), err
    assert message in err, err


@pytest.mark.parametrize("height,width", [(37, 53), (5, 3), (64, 48)])
def test_openvino_fp32_equals_the_network_at_any_size(exported, height, width):
    _, model, network = exported
    torch.manual_seed(height)
    images = torch.rand(2, 3, height, width)
    style_weights = torch.tensor([[0.0, 1.0, 0.0], [0.3, 0.0, 0.7]])  # one style and a mix in one batch
    with torch.inference_mode():
        expected = network(images, style_weights)
    got = OpenVinoNetwork(model, "fp32")(images, style_weights)
    assert got.shape == (2, 3, height, width) and got.dtype == torch.float32
    assert (got.clamp(0, 1) - expected.clamp(0, 1)).abs().max() <= 1 / 255
    assert torch.allclose(got, OnnxNetwork(model)(images, style_weights), atol=1e-4)


def test_openvino_default_precision_stays_close_on_a_photo(exported):
    _, model, network = exported
    runtime = OpenVinoNetwork(model)
    assert runtime.precision in ("f32", "bf16") and runtime.style_names == STYLES
    images = demo_photo(61)  # 61 x 92: neither side a multiple of 4
    weights = torch.tensor([[0.5, 0.0, 0.5]])
    with torch.inference_mode():
        assert psnr(runtime(images, weights), network(images, weights)) >= 30


STYLE_ARGS = {
    "styles and sheet": ["--style", "alpha,gamma", "--sheet"],
    "mixes": ["--style-mix", "alpha:0.3,gamma:0.7", "--style-mix", "0,1,2"],
    "interpolate and strength": ["--interpolate", "alpha,beta", "--steps", "3", "--strength", "0.6"],
    "stroke scale and colour": ["--style", "beta", "--stroke-scale", "2", "--preserve-color"],
}


@pytest.mark.parametrize("case", list(STYLE_ARGS))
def test_stylize_on_openvino_writes_what_onnx_runtime_writes(exported, photo, tmp_path, case):
    _, model, _ = exported
    for backend in ("onnxruntime", "openvino"):
        assert run("--ckpt", model, "--backend", backend, "--precision", "fp32", "--input", photo,
                   *STYLE_ARGS[case], "--output", tmp_path / backend) == 0
    names = sorted(p.name for p in (tmp_path / "onnxruntime").iterdir())
    assert sorted(p.name for p in (tmp_path / "openvino").iterdir()) == names and names
    for name in names:
        assert np.abs(pixels(tmp_path / "openvino" / name) - pixels(tmp_path / "onnxruntime" / name)).max() <= 1


def test_folder_in_batches_and_style_list(exported, tmp_path, capsys):
    _, model, _ = exported
    for i in range(3):
        make_image(tmp_path / "photos" / f"p{i}.png", size=(21 + i, 30), seed=i)
    assert run("--ckpt", model, *OPENVINO, "--input", tmp_path / "photos", "--style", "gamma", "--batch-size", "2",
               "--workers", "0", "--output", tmp_path / "out") == 0
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [f"p{i}_gamma.png" for i in range(3)]
    capsys.readouterr()
    assert run("--ckpt", model, *OPENVINO, "--list-styles") == 0
    assert capsys.readouterr().out == "0\talpha\n1\tbeta\n2\tgamma\n"


def test_auto_picks_openvino_on_the_cpu_when_installed(monkeypatch):
    assert stylize.choose_backend(Namespace(backend="auto", device="cpu")) == "openvino"
    assert stylize.choose_backend(Namespace(backend="auto", device="cuda")) == "onnxruntime"
    assert stylize.choose_backend(Namespace(backend="onnxruntime", device="cpu")) == "onnxruntime"
    monkeypatch.setitem(sys.modules, "openvino", None)  # import openvino now raises ImportError
    assert stylize.choose_backend(Namespace(backend="auto", device="cpu")) == "onnxruntime"


REFUSED = {
    "a checkpoint": (["--backend", "openvino"], "runs an exported .onnx model, and "),
    "cuda": (["--backend", "openvino", "--device", "cuda"], "--backend openvino runs on the CPU"),
    "fp16": (["--backend", "openvino", "--precision", "fp16"], "--precision fp16: OpenVINO runs on the CPU in fp32"),
    "tile": (["--backend", "openvino", "--tile", "32"], "--tile needs the PyTorch network"),
    "bf16 on onnxruntime": (["--backend", "onnxruntime", "--precision", "bf16"], "--precision bf16 needs the PyTorch"),
}


@pytest.mark.parametrize("case", list(REFUSED))
def test_what_openvino_cannot_do_is_one_line(exported, photo, tmp_path, capsys, case):
    ckpt, model, _ = exported
    options, message = REFUSED[case]
    source = ckpt if case == "a checkpoint" else model
    assert run("--ckpt", source, *options, "--input", photo, "--style", "alpha", "--output", tmp_path / "out") == 2
    assert_one_line_error(capsys, message)
    assert not (tmp_path / "out").exists()


def test_without_openvino_says_how_to_install(exported, photo, tmp_path, capsys, monkeypatch):
    _, model, _ = exported
    monkeypatch.setitem(sys.modules, "openvino", None)
    assert run("--ckpt", model, *OPENVINO, "--input", photo, "--style", "0", "--output", tmp_path / "out") == 2
    assert_one_line_error(capsys, 'needs openvino, which is not installed: pip install -e ".[openvino]"')
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("kind", ["corrupt", "foreign"])
def test_bad_onnx_file_is_refused_in_one_line(photo, tmp_path, capsys, kind):
    from test_onnx import bad_models

    path, message = bad_models(tmp_path)[kind]
    assert run("--ckpt", path, *OPENVINO, "--input", photo, "--style", "0", "--output", tmp_path / "out") == 2
    assert_one_line_error(capsys, message)


def test_a_model_openvino_reads_but_cannot_compile_is_one_line(exported, photo, tmp_path, capsys, monkeypatch):
    import openvino

    _, model, _ = exported

    def refuse(self, *args, **kwargs):
        raise RuntimeError("Exception from src/inference/src/cpp/core.cpp:112:\nunsupported layer")

    monkeypatch.setattr(openvino.Core, "compile_model", refuse)
    assert run("--ckpt", model, *OPENVINO, "--input", photo, "--style", "0", "--output", tmp_path / "out") == 2
    assert_one_line_error(capsys, f"OpenVINO cannot compile {model}: Exception from src/inference/src/cpp/core.cpp")
    assert not (tmp_path / "out").exists()
