"""The default CPU path of a .ckpt/.pt (`--backend auto`): its ONNX export made once into the cache and run on
OpenVINO, close to the PyTorch network; the PyTorch network for what needs it (tiles, --tile, --backend torch,
the cache off or unwritable), with the same pixels as before."""

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import styled_network
from nst_ff.cli import stylize_main as stylize
from nst_ff.infer import stylizer
from nst_ff.infer.quantize import DEMO_PHOTOS
from nst_ff.infer.tiling import tiled_forward
from nst_ff.model.checkpoint import export

pytest.importorskip("onnx")
pytest.importorskip("onnxscript")
pytest.importorskip("openvino")


def run(*argv) -> int:
    return stylize.main([str(arg) for arg in argv])


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("default") / "net.pt"
    export(path, styled_network(alpha=0.25), ["alpha", "beta", "gamma"], {})
    return path


@pytest.fixture(scope="module")
def photo(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("photo") / "cat.png"
    image = Image.open(DEMO_PHOTOS / "chelsea.jpg").convert("RGB")
    image.resize((97, 65)).save(path)  # a real photo (PSNR on noise says little), odd sizes
    return path


@pytest.fixture(scope="module")
def in_pytorch(checkpoint, photo, tmp_path_factory) -> np.ndarray:
    out = tmp_path_factory.mktemp("torch") / "out.png"
    assert run("--ckpt", checkpoint, "--backend", "torch", "--input", photo, "--style", "beta", "--output", out) == 0
    return pixels(out)


def pixels(path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"), dtype=np.float64)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    return 10 * np.log10(255**2 / max(((a - b) ** 2).mean(), 1e-12))


def stylize_beta(checkpoint, photo, out, *extra) -> np.ndarray:
    assert run("--ckpt", checkpoint, "--input", photo, "--style", "beta", "--output", out, *extra) == 0
    return pixels(out)


def test_auto_exports_once_into_the_cache_and_runs_on_openvino(checkpoint, photo, in_pytorch, tmp_path,
                                                                monkeypatch, capsys):
    cache = tmp_path / "cache"
    monkeypatch.setenv("NST_FF_EXPORT_CACHE", str(cache))
    first = stylize_beta(checkpoint, photo, tmp_path / "first.png")
    assert "exporting" in capsys.readouterr().err
    [made] = list(cache.glob("*.onnx"))
    stamp = made.stat().st_mtime_ns
    again = stylize_beta(checkpoint, photo, tmp_path / "again.png")
    assert "exporting" not in capsys.readouterr().err and made.stat().st_mtime_ns == stamp  # read, not made again
    assert np.array_equal(first, again)
    assert psnr(first, in_pytorch) >= 40, psnr(first, in_pytorch)  # OpenVINO may compute in bf16
    assert psnr(stylize_beta(checkpoint, photo, tmp_path / "fp32.png", "--precision", "fp32"), in_pytorch) >= 50


@pytest.mark.parametrize("case", ["cache off", "--tile", "--backend torch"])
def test_the_pytorch_network_runs_when_asked(checkpoint, photo, in_pytorch, tmp_path, monkeypatch, capsys, case):
    cache = tmp_path / "cache"
    extra = {"--tile": ["--tile", "40"], "--backend torch": ["--backend", "torch"]}.get(case, [])
    monkeypatch.setenv("NST_FF_EXPORT_CACHE", "off" if case == "cache off" else str(cache))
    tiles = []  # tiled and whole agree to the last 8-bit step on some CPUs: the tiled passes are counted instead
    monkeypatch.setattr(stylizer, "tiled_forward", lambda *args: tiles.append(args[-1]) or tiled_forward(*args))
    out = stylize_beta(checkpoint, photo, tmp_path / "out.png", *extra)
    expected = in_pytorch
    if case == "--tile":
        expected = stylize_beta(checkpoint, photo, tmp_path / "tiled.png", "--backend", "torch", *extra)
    assert tiles == ([40, 40] if case == "--tile" else [])
    assert np.array_equal(out, expected)
    assert not cache.exists() and "exporting" not in capsys.readouterr().err


def test_unwritable_cache_says_so_and_stays_in_pytorch(checkpoint, photo, in_pytorch, tmp_path, monkeypatch,
                                                       capsys):
    (tmp_path / "cache").write_text("a file where the folder would go")
    monkeypatch.setenv("NST_FF_EXPORT_CACHE", str(tmp_path / "cache"))
    assert np.array_equal(stylize_beta(checkpoint, photo, tmp_path / "out.png"), in_pytorch)
    err = capsys.readouterr().err
    assert f"running {checkpoint} in PyTorch: its export to {tmp_path / 'cache'} failed" in err, err


def test_damaged_cache_file_says_which_and_stays_in_pytorch(checkpoint, photo, in_pytorch, tmp_path, monkeypatch,
                                                            capsys):
    monkeypatch.setenv("NST_FF_EXPORT_CACHE", str(tmp_path / "cache"))
    stylize_beta(checkpoint, photo, tmp_path / "first.png")
    [made] = list((tmp_path / "cache").glob("*.onnx"))
    made.write_bytes(made.read_bytes()[:200])  # cut short, as a failing disk would leave it
    capsys.readouterr()
    assert np.array_equal(stylize_beta(checkpoint, photo, tmp_path / "out.png"), in_pytorch)
    err = capsys.readouterr().err
    assert f"running {checkpoint} in PyTorch" in err and f"delete {made} to export again" in err, err
    assert err.count("\n") == 1


def test_a_file_and_its_export_share_one_cache_entry(checkpoint, photo, tmp_path, monkeypatch):
    monkeypatch.setenv("NST_FF_EXPORT_CACHE", "off")
    assert run("--ckpt", checkpoint, "--export", tmp_path / "again.pt") == 0  # same weights, another file
    monkeypatch.setenv("NST_FF_EXPORT_CACHE", str(tmp_path / "cache"))
    stylize_beta(checkpoint, photo, tmp_path / "a.png")
    stylize_beta(tmp_path / "again.pt", photo, tmp_path / "b.png")
    assert len(list((tmp_path / "cache").glob("*.onnx"))) == 1


def test_large_photos_are_tiled_by_the_pytorch_network_behind_the_export(checkpoint, photo, tmp_path, monkeypatch):
    monkeypatch.setenv("NST_FF_EXPORT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(stylizer, "AUTO_TILE_PIXELS", 50 * 50)  # the photo counts as large
    tiled = stylize_beta(checkpoint, photo, tmp_path / "auto.png")
    assert list((tmp_path / "cache").glob("*.onnx"))  # the export was made and kept
    by_hand = stylize_beta(checkpoint, photo, tmp_path / "torch.png", "--backend", "torch", "--tile",
                           str(stylizer.DEFAULT_TILE))
    assert np.array_equal(tiled, by_hand)


def test_backend_torch_for_an_onnx_model_is_one_line(checkpoint, photo, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("NST_FF_EXPORT_CACHE", "off")
    assert run("--ckpt", checkpoint, "--export", tmp_path / "net.onnx") == 0
    capsys.readouterr()
    assert run("--ckpt", tmp_path / "net.onnx", "--backend", "torch", "--input", photo, "--style", "beta",
               "--output", tmp_path / "out.png") == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--backend torch runs a .ckpt or .pt file" in err, err
    assert not (tmp_path / "out.png").exists()


def test_a_clip_runs_on_the_cached_export_with_the_flow_and_keeps_its_frames(checkpoint, tmp_path, monkeypatch,
                                                                            capsys):
    av = pytest.importorskip("av")
    pytest.importorskip("cv2")
    from conftest import make_clip

    clip = make_clip(tmp_path / "clip.mp4", frames=6, pan=2.0)
    monkeypatch.setenv("NST_FF_EXPORT_CACHE", str(tmp_path / "cache"))
    assert run("--ckpt", checkpoint, "--input", clip, "--style", "beta", "--output", tmp_path / "auto.mp4",
               "--crf", "0") == 0
    assert "exporting" in capsys.readouterr().err and list((tmp_path / "cache").glob("*.onnx"))
    assert run("--ckpt", checkpoint, "--backend", "torch", "--temporal", "flow", "--input", clip, "--style", "beta",
               "--output", tmp_path / "torch.mp4", "--crf", "0") == 0

    def frames(path):
        with av.open(str(path)) as container:
            return [frame.to_ndarray(format="rgb24").astype(np.float64) for frame in container.decode(video=0)]

    auto, torch_flow = frames(tmp_path / "auto.mp4"), frames(tmp_path / "torch.mp4")
    assert len(auto) == len(torch_flow) == 6
    assert min(psnr(a, b) for a, b in zip(auto, torch_flow, strict=True)) >= 35  # bf16 and H.264's rounding
    capsys.readouterr()
    monkeypatch.setenv("NST_FF_EXPORT_CACHE", str(tmp_path / "other"))
    assert run("--ckpt", checkpoint, "--temporal", "norms", "--input", clip, "--style", "beta", "--output",
               tmp_path / "norms.mp4") == 0
    assert not (tmp_path / "other").exists()  # norm smoothing needs the PyTorch network


def test_a_black_clip_paints_black_on_the_cached_export(checkpoint, tmp_path, monkeypatch):
    # instance norm alone would paint a flat colour that each runtime rounds differently (nst_ff.infer.stylizer)
    av = pytest.importorskip("av")
    pytest.importorskip("cv2")
    clip = tmp_path / "black.mp4"
    with av.open(str(clip), "w") as container:
        stream = container.add_stream("libx264", rate=24)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for _ in range(3):
            container.mux(stream.encode(av.VideoFrame.from_ndarray(np.zeros((48, 64, 3), np.uint8), format="rgb24")))
        container.mux(stream.encode())
    monkeypatch.setenv("NST_FF_EXPORT_CACHE", str(tmp_path / "cache"))
    assert run("--ckpt", checkpoint, "--input", clip, "--style", "beta", "--output", tmp_path / "out.mp4") == 0
    assert list((tmp_path / "cache").glob("*.onnx"))  # painted by the export, not the PyTorch network
    with av.open(str(tmp_path / "out.mp4")) as container:
        frames = [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]
    assert len(frames) == 3 and max(int(frame.max()) for frame in frames) <= 2  # H.264's rounding of black
