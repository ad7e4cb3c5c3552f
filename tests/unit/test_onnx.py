"""ONNX export and the ONNX Runtime backend: the model equals the network at any size, stylize gives the same
files from the .onnx as from the checkpoint, and bad files or PyTorch-only options are one line and exit 2.
(OpenVINO, the other backend of an .onnx model: test_openvino.py.)"""

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import make_image, styled_network
from nst_ff.cli import stylize_main as stylize
from nst_ff.infer.onnx_model import OnnxNetwork, export_onnx
from nst_ff.model.checkpoint import export
from nst_ff.model.transformer import StyleTransferNetwork

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

STYLES = ["alpha", "beta", "gamma"]
ORT = ["--backend", "onnxruntime"]  # not OpenVINO, stylize's choice on the CPU when it is installed
LOSS = {"loss": {"content_weight": 1.0}, "style_size": 32}


def run(*argv) -> int:
    return stylize.main([str(arg) for arg in argv])


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> tuple[Path, Path, StyleTransferNetwork]:
    """(the .pt file, the .onnx file exported from it by stylize.py --export, the network): one export a session."""
    root = tmp_path_factory.mktemp("onnx")
    network = styled_network(alpha=0.25)
    export(root / "net.pt", network, STYLES, {**LOSS, "thumbnails": [torch.zeros(3, 4, 4, dtype=torch.uint8)] * 3})
    (root / "net.onnx").write_bytes(b"an older file")  # --overwrite replaces it, as for .pt
    assert run("--ckpt", root / "net.pt", "--export", root / "net.onnx", "--overwrite") == 0
    return root / "net.pt", root / "net.onnx", network


@pytest.fixture
def photo(tmp_path) -> Path:
    return make_image(tmp_path / "photo.png", size=(45, 37), seed=3)


def pixels(path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"), dtype=np.int16)


def assert_one_line_error(capsys, message: str) -> None:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("stylize.py: error: "), err
    assert message in err, err


@pytest.mark.slow
@pytest.mark.parametrize("height,width", [(37, 53), (5, 3), (1, 1), (64, 48)])
def test_onnx_runtime_equals_the_network_at_any_size(exported, height, width):
    _, model, network = exported
    torch.manual_seed(height)
    images = torch.rand(2, 3, height, width)
    style_weights = torch.tensor([[0.0, 1.0, 0.0], [0.3, 0.0, 0.7]])  # one style and a mix in one batch
    with torch.inference_mode():
        expected = network(images, style_weights)
    got = OnnxNetwork(model)(images, style_weights)
    assert got.shape == (2, 3, height, width) and got.dtype == torch.float32
    assert (got.clamp(0, 1) - expected.clamp(0, 1)).abs().max() <= 1 / 255


@pytest.mark.slow
def test_metadata_describes_the_network(exported, capsys):
    _, model, _ = exported
    proto = onnx.load(model)
    onnx.checker.check_model(proto)
    info = json.loads({prop.key: prop.value for prop in proto.metadata_props}["nst_ff"])
    assert info["style_names"] == STYLES and info["model"] == {"num_styles": 3, "alpha": 0.25}
    assert info["loss"] == LOSS["loss"] and info["style_size"] == 32 and "thumbnails" not in info
    shape = [d.dim_param or d.dim_value for d in proto.graph.input[0].type.tensor_type.shape.dim]
    assert shape == ["batch", 3, "height", "width"]
    assert run("--ckpt", model, "--list-styles") == 0
    assert capsys.readouterr().out == "0\talpha\n1\tbeta\n2\tgamma\n"


@pytest.mark.slow
def test_export_leaves_the_network_as_it_was(tmp_path):
    network = styled_network(alpha=0.25, seed=1).train()
    before = {name: tensor.clone() for name, tensor in network.state_dict().items()}
    export_onnx(tmp_path / "net.onnx", network, STYLES)
    assert network.training and all(torch.equal(before[name], t) for name, t in network.state_dict().items())
    assert OnnxNetwork(tmp_path / "net.onnx").style_names == STYLES


STYLE_ARGS = {
    "styles and sheet": ["--style", "alpha,gamma", "--sheet"],
    "mixes": ["--style-mix", "alpha:0.3,gamma:0.7", "--style-mix", "0,1,2"],
    "all styles": ["--all-styles"],
    "interpolate": ["--interpolate", "alpha,beta", "--steps", "3"],
    "colour and strength": ["--style", "beta", "--preserve-color", "--strength", "0.6"],
}


@pytest.mark.slow
@pytest.mark.parametrize("case", list(STYLE_ARGS))
def test_stylize_with_onnx_writes_what_the_checkpoint_writes(exported, photo, tmp_path, case):
    ckpt, model, _ = exported
    for source, folder, backend in ((ckpt, "torch", []), (model, "onnx", ORT)):
        assert run("--ckpt", source, *backend, "--input", photo, *STYLE_ARGS[case], "--output", tmp_path / folder) == 0
    names = sorted(p.name for p in (tmp_path / "torch").iterdir())
    assert sorted(p.name for p in (tmp_path / "onnx").iterdir()) == names
    for name in names:
        assert np.abs(pixels(tmp_path / "onnx" / name) - pixels(tmp_path / "torch" / name)).max() <= 1, name


@pytest.mark.slow
def test_onnx_folder_in_batches_with_json_records(exported, tmp_path, capsys):
    ckpt, model, _ = exported
    for i in range(3):
        make_image(tmp_path / "photos" / f"p{i}.png", size=(21, 30), seed=i)
    common = ["--input", tmp_path / "photos", "--style", "beta", "--batch-size", "2", "--workers", "0"]
    assert run("--ckpt", ckpt, *common, "--output", tmp_path / "torch") == 0
    capsys.readouterr()
    assert run("--ckpt", model, *ORT, *common, "--json", "--device", "cpu", "--output", tmp_path / "onnx") == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(r["input"], r["device"], r["dtype"]) for r in records] == [
        (str(tmp_path / "photos" / f"p{i}.png"), "cpu", "float32") for i in range(3)]
    for i in range(3):
        name = f"p{i}_beta.png"
        assert np.abs(pixels(tmp_path / "onnx" / name) - pixels(tmp_path / "torch" / name)).max() <= 1


@pytest.mark.slow
@pytest.mark.parametrize("option", [["--activations", "{tmp}/runs"], ["--tile", "32"], ["--list-layers"],
                                    ["--compile"], ["--precision", "bf16"], ["--export", "{tmp}/again.pt"]])
def test_options_that_need_the_pytorch_network_are_refused(exported, photo, tmp_path, capsys, option):
    _, model, _ = exported
    option = [arg.replace("{tmp}", str(tmp_path)) for arg in option]
    assert run("--ckpt", model, *ORT, "--input", photo, "--style", "alpha", *option, "--output", tmp_path / "out") == 2
    assert_one_line_error(capsys, f"{option[0]}")
    assert not (tmp_path / "out").exists() and not (tmp_path / "again.pt").exists()


@pytest.mark.slow
def test_export_to_onnx_keeps_an_existing_file_without_overwrite(exported, tmp_path, capsys):
    ckpt, _, _ = exported
    kept = tmp_path / "model.onnx"
    kept.write_bytes(b"precious")
    assert run("--ckpt", ckpt, "--export", kept) == 2
    assert_one_line_error(capsys, f"{kept} exists; add --overwrite to replace it")
    assert kept.read_bytes() == b"precious"


def identity_model(path: Path, metadata: dict | None = None) -> Path:
    """A valid ONNX model that is no nst_ff network (with `metadata` as its properties)."""
    from onnx import TensorProto, helper

    graph = helper.make_graph([helper.make_node("Identity", ["images"], ["stylized"])], "identity",
                              [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, 4, 4])],
                              [helper.make_tensor_value_info("stylized", TensorProto.FLOAT, [1, 3, 4, 4])])
    model = helper.make_model(graph)
    helper.set_model_props(model, metadata or {})
    onnx.save(model, path)
    return path


def bad_models(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    corrupt = tmp_path / "corrupt.onnx"
    corrupt.write_bytes(b"\x08\x07not really a protobuf" * 10)
    newer = {"nst_ff": json.dumps({"format": 99, "model": {"num_styles": 3}, "style_names": STYLES})}
    return {
        "missing": (tmp_path / "nope.onnx", "checkpoint not found"),
        "corrupt": (corrupt, "cannot read ONNX model"),
        "foreign": (identity_model(tmp_path / "foreign.onnx"), "is not an nst_ff ONNX model"),
        "newer": (identity_model(tmp_path / "newer.onnx", newer), "has checkpoint format 99, newer than"),
    }


@pytest.mark.parametrize("kind", ["missing", "corrupt", "foreign", "newer"])
def test_bad_onnx_file_is_refused_in_one_line(kind, photo, tmp_path, capsys):
    path, message = bad_models(tmp_path)[kind]
    assert run("--ckpt", path, *ORT, "--input", photo, "--style", "0", "--output", tmp_path / "out") == 2
    assert_one_line_error(capsys, message)
    assert not (tmp_path / "out").exists()


def test_without_onnxruntime_says_how_to_install(photo, tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import onnxruntime now raises ImportError
    model = identity_model(tmp_path / "model.onnx")
    assert run("--ckpt", model, *ORT, "--input", photo, "--style", "0", "--output", tmp_path / "out") == 2
    assert_one_line_error(capsys, 'needs onnxruntime, which is not installed: pip install -e ".[onnx]"')
