"""stylize.main(argv) end to end on tiny photos: outputs against the network, mixes, sizes, colours, bad input."""

import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_dir
from PIL import Image

from conftest import ROOT, make_image, styled_network, train_overrides
from nst_ff.cli import stylize_main as stylize
from nst_ff.infer.stylizer import DARK_LUMA, RGB_TO_YCBCR
from nst_ff.infer.stylizer import stylize as paint
from nst_ff.io.images import read_image, to_pil
from nst_ff.model.checkpoint import export
from nst_ff.model.transformer import StyleTransferNetwork, one_hot
from nst_ff.train.training import train

STYLES = ["alpha", "beta", "gamma"]


@pytest.fixture(scope="module")
def network_file(tmp_path_factory) -> tuple[Path, StyleTransferNetwork]:
    path = tmp_path_factory.mktemp("export") / "net.pt"
    network = styled_network()
    export(path, network, STYLES)
    return path, network


@pytest.fixture(scope="module")
def lightning_ckpt(tmp_path_factory) -> Path:
    """A real last.ckpt from train.py's train(cfg) (2 steps at 32 px, random VGG), in this process: faster."""
    root = tmp_path_factory.mktemp("train")
    content, styles = root / "content", root / "styles"
    for i in range(2):
        make_image(content / f"photo{i}.png", seed=i)
    for i, name in enumerate(STYLES):
        make_image(styles / f"{name}.png", seed=10 + i)
    overrides = train_overrides(root, content, styles, steps=2) + ["checkpoint.every_n_steps=1000"]
    with initialize_config_dir(str(ROOT / "conf"), version_base="1.3"):
        return train(compose("train", overrides=overrides))


@pytest.fixture
def photo(tmp_path) -> Path:
    return make_image(tmp_path / "photo.png", size=(45, 37), seed=3)


def pixels(path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"), dtype=np.int16)


def expected_pixels(network, photo: Path, style_weights: torch.Tensor) -> np.ndarray:
    with torch.inference_mode():
        image = network(read_image(photo)[None], style_weights[None])[0]
    return np.asarray(to_pil(image), dtype=np.int16)


def run(*argv) -> int:
    return stylize.main([str(arg) for arg in argv])


def test_output_equals_network_forward(network_file, photo, tmp_path):
    ckpt, network = network_file
    assert run("--ckpt", ckpt, "--input", photo, "--style", "beta", "--output", tmp_path / "out.png") == 0
    assert np.array_equal(pixels(tmp_path / "out.png"), expected_pixels(network, photo, one_hot(torch.tensor(1), 3)))


def test_a_dark_photo_is_painted_dim_and_a_black_one_black(network_file, photo, tmp_path):
    ckpt, network = network_file
    image = read_image(photo)
    luma = float(torch.einsum("c,chw->", RGB_TO_YCBCR[0], image)) / image[0].numel()
    assert luma > DARK_LUMA  # painted as the network paints it (test_output_equals_network_forward)
    dark = image * (DARK_LUMA / 2 / luma)  # half DARK_LUMA: half of what the network alone paints
    with torch.inference_mode():
        painted = paint(network, torch.stack([image, dark, torch.zeros_like(image)]), torch.eye(3))
        alone = network(dark[None].expand(3, -1, -1, -1), torch.eye(3))
    torch.testing.assert_close(painted[1], alone / 2)
    assert not painted[2].any()
    Image.new("RGB", (45, 37)).save(tmp_path / "black.png")
    assert run("--ckpt", ckpt, "--input", tmp_path / "black.png", "--style", "beta", "--output",
               tmp_path / "o.png") == 0
    assert not pixels(tmp_path / "o.png").any()


@pytest.mark.slow
def test_compiled_network_matches_eager(network_file, photo, tmp_path):
    ckpt, network = network_file
    # In its own process: Inductor's C++ build segfaulted in this long pytest process after the OpenVINO tests
    # had loaded its runtime (each passes alone and in pairs).
    command = [sys.executable, str(ROOT / "stylize.py"), "--ckpt", str(ckpt), "--input", str(photo), "--style", "beta",
               "--compile", "--output", str(tmp_path / "c.png")]
    assert subprocess.run(command, capture_output=True, timeout=600).returncode == 0
    expected = expected_pixels(network, photo, one_hot(torch.tensor(1), 3)).astype(int)
    assert np.abs(pixels(tmp_path / "c.png").astype(int) - expected).max() <= 1  # fused kernels round differently


def test_lightning_checkpoint_and_its_export_give_identical_outputs(lightning_ckpt, photo, tmp_path):
    exported = tmp_path / "small.pt"
    assert run("--ckpt", lightning_ckpt, "--export", exported) == 0
    assert exported.stat().st_size < lightning_ckpt.stat().st_size / 2  # no optimiser state, no loss buffers
    args = ["--input", photo, "--style-mix", "alpha:0.3,gamma:0.7"]
    assert run("--ckpt", lightning_ckpt, *args, "--output", tmp_path / "from_ckpt.png") == 0
    assert run("--ckpt", exported, *args, "--output", tmp_path / "from_export.png") == 0
    assert np.array_equal(pixels(tmp_path / "from_ckpt.png"), pixels(tmp_path / "from_export.png"))
    assert run("--ckpt", lightning_ckpt, "--list-styles") == 0


def test_one_hot_mix_equals_style(network_file, photo, tmp_path):
    ckpt, _ = network_file
    run("--ckpt", ckpt, "--input", photo, "--style", "gamma", "--output", tmp_path / "style.png")
    run("--ckpt", ckpt, "--input", photo, "--style-mix", "alpha:0,2:5", "--output", tmp_path / "mix.png")
    assert np.array_equal(pixels(tmp_path / "style.png"), pixels(tmp_path / "mix.png"))


def test_mix_blends_cin_parameters(network_file, photo, tmp_path):
    ckpt, network = network_file
    assert run("--ckpt", ckpt, "--input", photo, "--style-mix", "alpha,beta", "--output", tmp_path / "mix.png") == 0
    expected = expected_pixels(network, photo, torch.tensor([0.5, 0.5, 0.0]))
    assert np.abs(pixels(tmp_path / "mix.png") - expected).max() <= 1


def test_batched_styles_equal_one_by_one(network_file, photo, tmp_path):
    ckpt, _ = network_file
    assert run("--ckpt", ckpt, "--input", photo, "--style", "alpha,2,beta", "--output", tmp_path / "batched") == 0
    for name in STYLES:
        run("--ckpt", ckpt, "--input", photo, "--style", name, "--output", tmp_path / f"single_{name}.png")
        difference = pixels(tmp_path / "batched" / f"photo_{name}.png") - pixels(tmp_path / f"single_{name}.png")
        assert np.abs(difference).max() <= 1  # batched convolutions may round differently in the last bit


def test_folder_batches_equal_one_by_one_and_mirror_subfolders(network_file, tmp_path):
    ckpt, _ = network_file
    for i in range(3):
        make_image(tmp_path / "photos" / ("sub" if i else "") / f"p{i}.jpg", size=(40, 32), seed=i)
    make_image(tmp_path / "photos" / "odd.png", size=(21, 30), seed=9)  # another size: its own batch
    common = ["--ckpt", ckpt, "--input", tmp_path / "photos", "--style", "beta", "--workers", "1"]
    assert run(*common, "--batch-size", "4", "--output", tmp_path / "batched") == 0
    assert run(*common, "--batch-size", "1", "--workers", "0", "--output", tmp_path / "single") == 0
    written = sorted(p.relative_to(tmp_path / "batched").as_posix() for p in (tmp_path / "batched").rglob("*.png"))
    assert written == ["odd_beta.png", "p0_beta.png", "sub/p1_beta.png", "sub/p2_beta.png"]
    for name in written:
        assert np.abs(pixels(tmp_path / "batched" / name) - pixels(tmp_path / "single" / name)).max() <= 1


@pytest.mark.parametrize("size", [(45, 37), (5, 3), (1, 1), (64, 17)])
def test_any_size_comes_back_at_its_own_size(network_file, tmp_path, size):
    ckpt, _ = network_file
    photo = make_image(tmp_path / "photo.png", size=size)
    assert run("--ckpt", ckpt, "--input", photo, "--style", "0", "--output", tmp_path / "out.png") == 0
    assert Image.open(tmp_path / "out.png").size == size


def test_size_and_max_size_rescale_first(network_file, photo, tmp_path):
    ckpt, _ = network_file
    run("--ckpt", ckpt, "--input", photo, "--style", "0", "--size", "26", "--output", tmp_path / "a.png")
    assert Image.open(tmp_path / "a.png").size == (31, 26)  # 45x37, shorter side to 26 (torchvision truncates)
    run("--ckpt", ckpt, "--input", photo, "--style", "0", "--max-size", "30", "--output", tmp_path / "b.jpg")
    assert Image.open(tmp_path / "b.jpg").format == "JPEG"
    assert Image.open(tmp_path / "b.jpg").size == (30, 25)


def test_strength_zero_returns_the_photo_and_half_is_halfway(network_file, photo, tmp_path):
    ckpt, _ = network_file
    common = ["--ckpt", ckpt, "--input", photo, "--style", "alpha"]
    run(*common, "--strength", "0", "--output", tmp_path / "zero.png")
    assert np.array_equal(pixels(tmp_path / "zero.png"), pixels(photo))
    run(*common, "--strength", "0.5", "--output", tmp_path / "half.png")
    run(*common, "--output", tmp_path / "full.png")
    halfway = (pixels(tmp_path / "full.png") + pixels(photo)) / 2
    assert np.abs(pixels(tmp_path / "half.png") - halfway).max() <= 1.0


def ycbcr(rgb: np.ndarray) -> np.ndarray:
    return rgb / 255.0 @ RGB_TO_YCBCR.numpy().T  # [H, W, 3]


def test_preserve_color_keeps_the_photos_chroma(network_file, photo, tmp_path):
    ckpt, _ = network_file
    common = ["--ckpt", ckpt, "--input", photo, "--style", "beta"]
    run(*common, "--preserve-color", "--output", tmp_path / "kept.png")
    run(*common, "--output", tmp_path / "plain.png")
    kept, plain, original = (ycbcr(pixels(p)) for p in (tmp_path / "kept.png", tmp_path / "plain.png", photo))
    # Chroma from the photo, luminance from the stylized image (up to 8-bit rounding and clamping).
    assert np.abs(kept[..., 1:] - original[..., 1:]).mean() < 0.01
    assert np.abs(kept[..., 0] - plain[..., 0]).mean() < 0.01
    assert np.abs(plain[..., 1:] - original[..., 1:]).mean() > 0.03  # without it, colours do change


def test_all_styles_writes_each_style_and_a_labelled_sheet(network_file, photo, tmp_path):
    ckpt, network = network_file
    assert run("--ckpt", ckpt, "--input", photo, "--all-styles", "--output", tmp_path / "out") == 0
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "photo_all-styles.png", "photo_alpha.png", "photo_beta.png", "photo_gamma.png"
    ]
    for index, name in enumerate(STYLES):
        expected = expected_pixels(network, photo, one_hot(torch.tensor(index), 3))
        assert np.abs(pixels(tmp_path / "out" / f"photo_{name}.png") - expected).max() <= 1
    sheet = pixels(tmp_path / "out" / "photo_all-styles.png")
    width, padding = 45, 4
    assert sheet.shape[1] == 4 * (width + padding) + padding  # photo + 3 styles in one row
    assert sheet.shape[0] > 37 + 2 * padding  # a label band under the images
    assert np.array_equal(sheet[padding:padding + 37, padding:padding + width], pixels(photo))


def test_interpolate_goes_from_a_to_b_with_a_strip(network_file, photo, tmp_path):
    ckpt, _ = network_file
    assert run("--ckpt", ckpt, "--input", photo, "--interpolate", "alpha,gamma", "--steps", "3",
               "--output", tmp_path / "out") == 0
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert names == [f"photo_alpha-to-gamma_0{i}.png" for i in range(3)] + ["photo_alpha-to-gamma_strip.png"]
    run("--ckpt", ckpt, "--input", photo, "--style", "alpha,gamma", "--output", tmp_path / "ends")
    run("--ckpt", ckpt, "--input", photo, "--style-mix", "alpha,gamma", "--output", tmp_path / "middle.png")
    for step, reference in [(0, "ends/photo_alpha.png"), (1, "middle.png"), (2, "ends/photo_gamma.png")]:
        image = pixels(tmp_path / "out" / f"photo_alpha-to-gamma_0{step}.png")
        assert np.abs(image - pixels(tmp_path / reference)).max() <= 1
    assert pixels(tmp_path / "out" / "photo_alpha-to-gamma_strip.png").shape[1] == 4 * (45 + 4) + 4


def test_mix_outputs_are_named_by_their_weights(network_file, photo, tmp_path):
    ckpt, _ = network_file
    assert run("--ckpt", ckpt, "--input", photo, "--style", "beta", "--style-mix", "alpha:3,gamma:1",
               "--style-mix", "0,1,2", "--sheet", "--output", tmp_path / "out") == 0
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "photo_alpha@0.333+beta@0.333+gamma@0.333.png", "photo_alpha@0.75+gamma@0.25.png", "photo_beta.png",
        "photo_sheet.png",
    ]


def test_stdin_to_stdout(network_file, photo, tmp_path, monkeypatch, capsysbinary):
    ckpt, _ = network_file
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(photo.read_bytes())))
    assert run("--ckpt", ckpt, "--input", "-", "--style", "gamma", "--output", "-") == 0
    captured = capsysbinary.readouterr()
    run("--ckpt", ckpt, "--input", photo, "--style", "gamma", "--output", tmp_path / "file.png")
    from_stdout = np.asarray(Image.open(io.BytesIO(captured.out)).convert("RGB"), dtype=np.int16)
    assert np.array_equal(from_stdout, pixels(tmp_path / "file.png"))
    assert b"ms" in captured.err  # the timing line goes to stderr when stdout carries the image


def test_default_output_folder_and_json_records(network_file, photo, tmp_path, monkeypatch, capsys):
    ckpt, _ = network_file
    monkeypatch.chdir(tmp_path)
    assert run("--ckpt", ckpt, "--input", photo, "--style", "alpha", "--style-mix", "beta:1,gamma:1", "--json") == 0
    (record,) = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert record["width"] == 45 and record["height"] == 37 and record["seconds"] > 0
    assert [o["weights"] for o in record["outputs"]] == [{"alpha": 1.0}, {"beta": 0.5, "gamma": 0.5}]
    assert [o["path"] for o in record["outputs"]] == [
        os.path.join("stylized", "photo_alpha.png"), os.path.join("stylized", "photo_beta@0.5+gamma@0.5.png")
    ]
    assert all((tmp_path / o["path"]).is_file() for o in record["outputs"])


def test_timing_line_per_photo(network_file, photo, tmp_path, capsys):
    ckpt, _ = network_file
    run("--ckpt", ckpt, "--input", photo, "--style", "alpha", "--output", tmp_path / "o.png")
    first, summary = capsys.readouterr().out.splitlines()
    assert first.startswith(f"{photo} 45x37: 1 image(s) in ") and first.endswith(f" ms -> {tmp_path / 'o.png'}")
    assert summary.startswith("1 photo(s) in ")


def test_list_styles_and_layers(network_file, capsys):
    ckpt, _ = network_file
    assert run("--ckpt", ckpt, "--list-styles") == 0
    assert capsys.readouterr().out == "0\talpha\n1\tbeta\n2\tgamma\n"
    assert run("--ckpt", ckpt, "--list-layers") == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3 + 10 + 3
    assert lines[0] == "contract1\t32 channels" and lines[3] == "residual1.conv1\t128 channels"
    assert lines[-1] == "expand3\t3 channels"


def test_bf16_on_cpu_is_close_to_fp32(network_file, photo, tmp_path):
    ckpt, _ = network_file
    run("--ckpt", ckpt, "--input", photo, "--style", "beta", "--output", tmp_path / "fp32.png")
    assert run("--ckpt", ckpt, "--input", photo, "--style", "beta", "--precision", "bf16",
               "--output", tmp_path / "bf16.png") == 0
    assert np.abs(pixels(tmp_path / "bf16.png") - pixels(tmp_path / "fp32.png")).mean() < 8


@pytest.mark.gpu
@pytest.mark.parametrize("precision", ["fp32", "bf16", "fp16"])
def test_gpu_matches_cpu(network_file, photo, tmp_path, precision):
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA GPU")
    ckpt, _ = network_file
    run("--ckpt", ckpt, "--input", photo, "--style", "beta", "--device", "cpu", "--output", tmp_path / "cpu.png")
    assert run("--ckpt", ckpt, "--input", photo, "--style", "beta", "--device", "cuda", "--precision", precision,
               "--output", tmp_path / "gpu.png") == 0
    difference = np.abs(pixels(tmp_path / "gpu.png") - pixels(tmp_path / "cpu.png")).mean()
    assert difference < (1 if precision == "fp32" else 8)


# ---- bad input: exit code 2, one line on stderr, nothing written ----

class RunsCode:
    """Unpickling this runs a shell command: what a malicious checkpoint would do."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def bad_checkpoints(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    corrupt = tmp_path / "corrupt.ckpt"
    corrupt.write_bytes(b"\x80\x02not really a checkpoint" * 10)  # looks like a pickle, is not one
    foreign = tmp_path / "foreign.pt"
    torch.save({"state_dict": {"weight": torch.zeros(2)}}, foreign)
    malicious = tmp_path / "malicious.ckpt"
    torch.save({"nst_ff": RunsCode(tmp_path / "pwned"), "state_dict": {}}, malicious)
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "last.ckpt").write_bytes(b"")
    empty = tmp_path / "empty.pt"
    empty.write_bytes(b"")
    return {
        "missing": (tmp_path / "nope.ckpt", "checkpoint not found"),
        "folder": (tmp_path / "run", f"{tmp_path / 'run'} is a folder: give a checkpoint file (e.g. "
                                     f"{tmp_path / 'run' / 'last.ckpt'})"),
        "empty": (empty, "cannot read checkpoint " + str(empty) + ": EOFError: empty or cut short"),
        "corrupt": (corrupt, "cannot read checkpoint"),
        "foreign": (foreign, "is not an nst_ff checkpoint"),
        "malicious": (malicious, "could run code"),
    }


@pytest.mark.parametrize("kind", ["missing", "folder", "empty", "corrupt", "foreign", "malicious"])
def test_bad_checkpoint(kind, photo, tmp_path, capsys):
    path, message = bad_checkpoints(tmp_path)[kind]
    assert run("--ckpt", path, "--input", photo, "--style", "0", "--output", tmp_path / "out") == 2
    assert_one_line_error(capsys, message)
    assert not (tmp_path / "out").exists()
    assert not (tmp_path / "pwned").exists()  # the pickled os.system never ran


def test_a_missing_checkpoint_or_a_folder_names_the_newest_runs_beside_it(network_file, photo, tmp_path, capsys):
    """`checkpoints/last.ckpt` is what a user types; a run writes `checkpoints/<run_name>/last.ckpt`."""
    folder = tmp_path / "checkpoints"
    (folder / "older").mkdir(parents=True)
    (folder / "newer").mkdir()
    shutil.copy(network_file[0], folder / "older" / "last.ckpt")
    shutil.copy(network_file[0], folder / "newer" / "last.ckpt")
    shutil.copy(network_file[0], folder / "shipped.pt")
    shutil.copy(network_file[0], folder / "exported.pth")
    shutil.copy(network_file[0], folder / "oldest.onnx")  # the fifth: only the newest four are named
    for age, name in enumerate(["older/last.ckpt", "shipped.pt", "exported.pth", "oldest.onnx"], start=1):
        os.utime(folder / name, (1000 - age, 1000 - age))
    (folder / "notes.md").write_text("not a checkpoint")
    assert run("--ckpt", folder / "last.ckpt", "--input", photo, "--style", "0", "--output", tmp_path / "out") == 2
    assert_one_line_error(capsys, f"checkpoint not found: {folder / 'last.ckpt'}; in {folder}, newest first: "
                                  f"{folder / 'newer' / 'last.ckpt'}, {folder / 'older' / 'last.ckpt'}, "
                                  f"{folder / 'shipped.pt'}, {folder / 'exported.pth'}\n")
    # the folder itself: its newest checkpoint as the example
    assert run("--ckpt", folder, "--input", photo, "--style", "0", "--output", tmp_path / "out") == 2
    newest = folder / "newer" / "last.ckpt"
    assert_one_line_error(capsys, f"{folder} is a folder: give a checkpoint file (e.g. {newest})")
    assert not (tmp_path / "out").exists()


def assert_one_line_error(capsys, message: str) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("stylize.py: error: "), err
    assert "Traceback" not in err
    assert message in err, err
    return err


AVAILABLE = "available styles: 0 alpha, 1 beta, 2 gamma"
BAD_ARGUMENTS = {
    "unknown style": (["--style", "alpha,picasso"], f"unknown style 'picasso'; {AVAILABLE}"),
    "index out of range": (["--style", "3"], f"style index 3 is out of range 0-2; {AVAILABLE}"),
    "negative index": (["--style", "-1"], "style index -1 is out of range"),
    "empty style list": (["--style", "alpha,,beta"], "no empty items"),
    "mix unknown style": (["--style-mix", "alpha:0.5,vermeer:0.5"], "unknown style 'vermeer'"),
    "mix malformed weight": (["--style-mix", "alpha:lots,beta:1"], "weight 'lots' of 'alpha' is not a number"),
    "mix missing weight": (["--style-mix", "alpha:,beta:1"], "weight '' of 'alpha' is not a number"),
    "mix two weights": (["--style-mix", "alpha:0.5:0.5"], "'alpha:0.5:0.5' is not NAME:WEIGHT"),
    "mix some weights": (["--style-mix", "alpha:0.5,beta"], "give a weight to every style"),
    "mix negative": (["--style-mix", "alpha:-0.5,beta:1.5"], "finite and non-negative"),
    "mix nan": (["--style-mix", "alpha:nan,beta:1"], "finite and non-negative"),
    "mix inf": (["--style-mix", "alpha:inf,beta:1"], "finite and non-negative"),
    "mix all zero": (["--style-mix", "alpha:0,beta:0"], "the weights sum to zero"),
    "interpolate one style": (["--interpolate", "alpha"], "exactly two styles"),
    "interpolate one step": (["--interpolate", "alpha,beta", "--steps", "1"], "at least 2 steps"),
    "two modes": (["--style", "alpha", "--all-styles"], "not several"),
    "no style": ([], f"choose --style, --style-mix, --all-styles or --interpolate; {AVAILABLE}"),
    "strength": (["--style", "alpha", "--strength", "1.5"], "--strength 1.5: must be between 0 and 1"),
    "strength nan": (["--style", "alpha", "--strength", "nan"], "must be between 0 and 1"),
    "size": (["--style", "alpha", "--size", "0"], "--size 0: must be at least 1"),
    "fp16 on cpu": (["--style", "alpha", "--device", "cpu", "--precision", "fp16"], "needs a GPU"),
    "unknown cmap": (["--style", "alpha", "--activations", "{tmp}/out/runs", "--cmap", "sunset_boulevard"],
                     "unknown colour map 'sunset_boulevard'; choose a matplotlib colour map: "),
    "unknown layer": (["--style", "alpha", "--activations", "{tmp}/out/runs", "--layers", "contract1,conv9"],
                      "unknown layer(s) conv9; available: contract1, contract2, contract3, residual1.conv1"),
    "unknown channels": (["--style", "alpha", "--activations", "{tmp}/out/runs", "--channels", "middle_8"],
                         "invalid choice: 'middle_8' (choose from"),
    "unknown vgg layer": (["--style", "alpha", "--activations", "{tmp}/out/runs", "--vgg-activations",
                           "--vgg-weights", "random", "--vgg-layers", "relu9_9"], "unknown vgg16 layer(s) relu9_9"),
    "tile too small": (["--style", "alpha", "--tile", "8"], "--tile 8: tiles must be at least 16 pixels"),
    "tile with activations": (["--style", "alpha", "--tile", "64", "--activations", "{tmp}/out/runs"],
                              "cannot run in --tile mode"),
    "output under a file": (["--style", "alpha", "--output", "{photo}/out.png"], "is not a folder"),
    "one file for many": (["--all-styles", "--output", "{tmp}/out/one.png"], "takes one image but this run writes 4"),
    "unknown format": (["--style", "alpha", "--output", "{tmp}/out/one.gif"], "cannot write this image format"),
    # an option that would be ignored without its companion
    "steps without interpolate": (["--style", "alpha", "--steps", "3"],
                                  "--steps is used with --interpolate A,B; add that or leave --steps out"),
    "layers without activations": (["--style", "alpha", "--layers", "contract1"],
                                   "--layers is used with --activations LOGDIR; add that or leave --layers out"),
    "cmap without activations": (["--style", "alpha", "--cmap", "magma"], "--cmap is used with --activations"),
    "vgg layers without vgg": (["--style", "alpha", "--activations", "{tmp}/out/runs", "--vgg-layers", "relu1_2"],
                               "--vgg-layers is used with --vgg-activations; add that or leave --vgg-layers out"),
    "format of one file": (["--style", "alpha", "--output", "{tmp}/out/one.jpg", "--format", "png"],
                           "--format png is the type of the images written to a folder, and --output "),
    "temporal for a photo": (["--style", "alpha", "--temporal", "off"], "--temporal applies to clips, not photos"),
    "crf for a photo": (["--style", "alpha", "--crf", "18"], "--crf applies to clips, not photos"),
}


@pytest.mark.parametrize("case", list(BAD_ARGUMENTS))
def test_bad_arguments(case, network_file, photo, tmp_path, capsys):
    ckpt, _ = network_file
    argv, message = BAD_ARGUMENTS[case]
    argv = [arg.replace("{tmp}", str(tmp_path)).replace("{photo}", str(photo)) for arg in argv]
    defaults = [] if "--output" in argv else ["--output", tmp_path / "out"]
    assert run("--ckpt", ckpt, "--input", photo, *argv, *defaults) == 2
    assert_one_line_error(capsys, message)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("content", [b"", b"not an image at all", "truncated"])
def test_unreadable_input(content, network_file, photo, tmp_path, capsys):
    ckpt, _ = network_file
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(photo.read_bytes()[:200] if content == "truncated" else content)
    assert run("--ckpt", ckpt, "--input", bad, "--style", "alpha", "--output", tmp_path / "out") == 2
    assert_one_line_error(capsys, f"{bad}: cannot read image")
    assert not (tmp_path / "out").exists()


def test_missing_input_and_empty_folder(network_file, tmp_path, capsys):
    ckpt, _ = network_file
    assert run("--ckpt", ckpt, "--input", tmp_path / "nope.jpg", "--style", "alpha", "--output", tmp_path / "o") == 2
    assert_one_line_error(capsys, f"input not found: {tmp_path / 'nope.jpg'}")
    (tmp_path / "empty").mkdir()
    assert run("--ckpt", ckpt, "--input", tmp_path / "empty", "--style", "alpha", "--output", tmp_path / "o") == 2
    assert_one_line_error(capsys, "no images in folder")
    assert not (tmp_path / "o").exists()


def test_unreadable_photo_in_a_folder_is_skipped_and_reported(network_file, tmp_path, capsys):
    ckpt, _ = network_file
    make_image(tmp_path / "photos" / "good.png")
    (tmp_path / "photos" / "broken.jpg").write_bytes(b"")
    assert run("--ckpt", ckpt, "--input", tmp_path / "photos", "--style", "beta", "--workers", "0",
               "--output", tmp_path / "out") == 2
    err = capsys.readouterr().err
    assert f"skipping {tmp_path / 'photos' / 'broken.jpg'}: cannot read image (empty file)" in err
    assert "1 of 2 photos could not be read" in err
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["good_beta.png"]


def test_existing_output_is_kept_unless_overwrite(network_file, photo, tmp_path, capsys):
    ckpt, _ = network_file
    out = tmp_path / "out.png"
    out.write_bytes(b"precious")
    assert run("--ckpt", ckpt, "--input", photo, "--style", "alpha", "--output", out) == 2
    assert_one_line_error(capsys, f"{out} exists; add --overwrite to replace it")
    assert out.read_bytes() == b"precious"
    assert run("--ckpt", ckpt, "--input", photo, "--style", "alpha", "--output", out, "--overwrite") == 0
    assert Image.open(out).size == (45, 37)
    exported = tmp_path / "small.pt"
    exported.write_bytes(b"precious")
    assert run("--ckpt", ckpt, "--export", exported) == 2
    assert_one_line_error(capsys, "exists; add --overwrite")
    assert exported.read_bytes() == b"precious"


def test_nothing_to_do(network_file, capsys):
    ckpt, _ = network_file
    assert run("--ckpt", ckpt) == 2
    assert_one_line_error(capsys, "nothing to do")


def test_tiled_equals_untiled_at_a_size_that_needs_several_tiles(network_file, tmp_path):
    ckpt, network = network_file
    photo = make_image(tmp_path / "wide.png", size=(150, 97), seed=5)  # odd sizes: padding and borders
    mix = ["--style-mix", "alpha:0.6,gamma:0.4"]
    assert run("--ckpt", ckpt, "--input", photo, *mix, "--tile", "0", "--output", tmp_path / "whole.png") == 0
    assert run("--ckpt", ckpt, "--input", photo, *mix, "--tile", "32", "--output", tmp_path / "tiled.png") == 0
    difference = np.abs(pixels(tmp_path / "whole.png") - pixels(tmp_path / "tiled.png"))
    assert difference.max() <= 2  # within 2/255: no seams, the same colours


def test_huge_mix_weights_are_normalised_without_overflow(network_file, photo, tmp_path):
    ckpt, network = network_file
    assert run("--ckpt", ckpt, "--input", photo, "--style-mix", "alpha:1e308,beta:1e308,alpha:1e308",
               "--output", tmp_path / "out") == 0
    (written,) = (tmp_path / "out").iterdir()
    assert written.name == "photo_alpha@0.667+beta@0.333.png"
    expected = expected_pixels(network, photo, torch.tensor([2 / 3, 1 / 3, 0]))
    assert np.abs(pixels(written) - expected).max() <= 1


def test_outputs_inside_the_input_folder_are_never_read_as_photos(network_file, tmp_path):
    ckpt, _ = network_file
    make_image(tmp_path / "photos" / "street.png")
    argv = ["--ckpt", ckpt, "--input", tmp_path / "photos", "--style", "beta", "--output", tmp_path / "photos" / "out"]
    assert run(*argv) == 0
    assert run(*argv, "--overwrite") == 0  # a second run stylizes street.png again, not out/street_beta.png
    assert sorted(p.name for p in (tmp_path / "photos" / "out").iterdir()) == ["street_beta.png"]


def test_an_output_folder_that_cannot_be_written_stops_before_any_work(network_file, photo, tmp_path, capsys):
    ckpt, _ = network_file
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where a folder should be")
    assert run("--ckpt", ckpt, "--input", photo, "--style", "alpha", "--output", blocker / "out") == 2
    out, err = capsys.readouterr()
    assert err == f"stylize.py: error: cannot write to {blocker / 'out'}: {blocker} is not a folder\n"
    assert out == ""  # no success line before the error


def test_a_network_with_broken_weights_is_refused(tmp_path, photo, capsys):
    network = styled_network()
    with torch.no_grad():
        network.expand[0].conv.weight[0, 0, 0, 0] = float("nan")
    export(tmp_path / "nan.pt", network, STYLES)
    assert run("--ckpt", tmp_path / "nan.pt", "--input", photo, "--style", "alpha", "--output", tmp_path / "o") == 2
    assert_one_line_error(capsys, "broken weights, as after a diverged training run "
                                  "(expand.0.conv.weight is not finite)")
    assert not (tmp_path / "o").exists()
