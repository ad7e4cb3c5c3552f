"""Hostile checkpoints and careless commands: each is refused in one line with exit code 2 (or handled correctly),
and every file outside the intended output is byte-identical afterwards."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_dir
from PIL import Image

from conftest import ROOT, make_image, styled_network, train_overrides
from nst_ff.cli import evaluate_main, optimize_main, stylize_main, train_main
from nst_ff.io.images import read_image
from nst_ff.io.paths import NAME_RULE, file_name, inside, name_problem, names_problem
from nst_ff.model.checkpoint import export, load_checkpoint
from nst_ff.model.schema import description_problem
from nst_ff.train.run_folder import REPLACED, locked, restore_or_drop, set_aside

STYLES = ["alpha", "beta", "gamma"]


def flip_a_bit(record: dict) -> None:
    """One bit of one weight: the value stays plausible (no NaN, no huge number), only the checksum can tell."""
    tensor = record["state_dict"]["contract.0.conv.weight"]
    tensor.view(torch.int32).view(-1)[7] ^= 1


# The fixture factory: each kind edits an exported checkpoint's contents; (edit, what the one line says).
HOSTILE = {
    "traversal": (lambda r: r["nst_ff"].update(style_names=["../../ESCAPED", "a/b", "gamma"]),
                  "style name '../../ESCAPED' is not a safe name"),
    "duplicate names": (lambda r: r["nst_ff"].update(style_names=["alpha", "alpha", "gamma"]),
                        "style name 'alpha' appears twice"),
    "too few names": (lambda r: r["nst_ff"].update(style_names=["alpha", "beta"]),
                      "2 style names for a network of 3 styles"),
    "integer names": (lambda r: r["nst_ff"].update(style_names=[1, 2, 3]), "style name 1 is not text"),
    "unknown argument": (lambda r: r["nst_ff"]["model"].update(bias=True), "is not {num_styles, alpha}"),
    "huge alpha": (lambda r: r["nst_ff"]["model"].update(alpha=1e6),
                   "model.alpha 1000000.0 is not a number from 0.001 to 4"),
    "huge style count": (lambda r: r["nst_ff"]["model"].update(num_styles=10**7),
                         "model.num_styles 10000000 is not a whole number from 1 to 1024"),
    "wrong type": (lambda r: r.update(nst_ff=["not", "a", "record"]), "its description is a list, not a record"),
    "unknown field": (lambda r: r["nst_ff"].update(run="rm -rf ~"), "its description has unknown field(s) run"),
    "bad loss": (lambda r: r["nst_ff"].update(loss={"content_weight": "lots"}),
                 "loss.content_weight 'lots' is not a finite number >= 0"),
    "bad style scales": (lambda r: r["nst_ff"].update(loss={"style_scales": {"a": -1}}),
                         "loss.style_scales {'a': -1} is not {style name: factor > 0}"),
    "style scales not a map": (lambda r: r["nst_ff"].update(loss={"style_scales": [2]}),
                               "loss.style_scales [2] is not {style name: factor > 0}"),
    "flipped bit": (flip_a_bit, "its weights do not match their SHA-256"),
}


@pytest.fixture(scope="module")
def good_checkpoint(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("good") / "net.pt"
    export(path, styled_network(alpha=0.25), STYLES)
    return path


def hostile(good: Path, kind: str, folder: Path) -> Path:
    record = torch.load(good, weights_only=True)
    HOSTILE[kind][0](record)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "hostile.pt"
    torch.save(record, path)
    return path


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(path.relative_to(root)): path.read_bytes() for path in sorted(root.rglob("*")) if path.is_file()}


def one_line(capsys, prog: str, message: str) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"{prog}: error: ") and "Traceback" not in err, err
    assert message in err, err
    return err


@pytest.fixture
def photo(tmp_path) -> Path:
    return make_image(tmp_path / "photo.png", size=(45, 37), seed=3)


def test_names_are_data_never_paths():
    for name in ("starry_night", "the scream", "la_muse.v2", "É", "_"):
        assert name_problem(name) is None
    for name in ("../x", "a/b", "a\\b", ".hidden", "x..y", "a,b", "a:b", "a@b", "a+b", "", " a", "a.", "x" * 101, 3):
        assert name_problem(name) is not None, name
    assert names_problem(["a", "A"]) == "style name 'A' appears twice"  # one file on a case-insensitive disk
    for text in ("../../ESCAPED", "a/b", "..", ".x", "a\\b\x00c"):
        name = file_name(text)
        assert "/" not in name and "\\" not in name and ".." not in name and not name.startswith(".")
    assert inside(Path("out"), "../../x/..") == Path("out/_./_./x/_.")  # every part a plain name


def test_an_output_that_a_link_leads_outside_is_refused(tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "x_alpha.png").symlink_to(tmp_path / "elsewhere.png")
    with pytest.raises(ValueError, match="would lie outside"):
        inside(tmp_path / "out", "x_alpha.png")


@pytest.mark.parametrize("kind", list(HOSTILE))
def test_the_schema_names_each_hostile_field(good_checkpoint, tmp_path, kind):
    record = torch.load(hostile(good_checkpoint, kind, tmp_path), weights_only=True)
    if kind != "flipped bit":  # the record itself is fine; its weights are not
        assert HOSTILE[kind][1] in description_problem(record["nst_ff"])


@pytest.mark.parametrize("kind", list(HOSTILE))
def test_stylize_refuses_a_hostile_checkpoint(good_checkpoint, photo, tmp_path, capsys, kind):
    path = hostile(good_checkpoint, kind, tmp_path / "ckpt")
    before = snapshot(tmp_path)
    argv = ["--ckpt", path, "--input", photo, "--all-styles", "--output", tmp_path / "o"]
    assert stylize_main.main([str(arg) for arg in argv]) == 2
    one_line(capsys, "stylize.py", HOSTILE[kind][1])
    assert snapshot(tmp_path) == before and not (tmp_path / "o").exists()
    assert not (tmp_path / "ESCAPED.png").exists() and not list(tmp_path.parent.glob("ESCAPED*"))


@pytest.mark.parametrize("kind", ["traversal", "huge alpha", "wrong type", "flipped bit"])
def test_onnx_export_refuses_a_hostile_checkpoint(good_checkpoint, tmp_path, capsys, kind):
    path = hostile(good_checkpoint, kind, tmp_path / "ckpt")
    before = snapshot(tmp_path)
    assert stylize_main.main(["--ckpt", str(path), "--export", str(tmp_path / "net.onnx")]) == 2
    one_line(capsys, "stylize.py", HOSTILE[kind][1])
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("kind", ["traversal", "duplicate names", "unknown argument", "huge style count",
                                  "bad loss", "flipped bit"])
def test_evaluate_and_optimize_refuse_a_hostile_checkpoint(good_checkpoint, photo, tmp_path, capsys, kind):
    path = hostile(good_checkpoint, kind, tmp_path / "ckpt")
    before = snapshot(tmp_path)
    assert evaluate_main.main(["--ckpt", str(path), "--content-dir", str(tmp_path), "--style-dir", str(tmp_path),
                               "--log", str(tmp_path / "tb"), "--vgg-weights", "random"]) == 2
    one_line(capsys, "evaluate.py", HOSTILE[kind][1])
    assert optimize_main.main(["--ckpt", str(path), "--input", str(photo), "--style-image", str(photo),
                               "--output", str(tmp_path / "out.png"), "--vgg-weights", "random"]) == 2
    one_line(capsys, "optimize.py", HOSTILE[kind][1])
    assert snapshot(tmp_path) == before


def test_an_onnx_model_with_hostile_metadata_is_refused(photo, tmp_path, capsys):
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    graph = helper.make_graph([helper.make_node("Identity", ["images"], ["stylized"])], "identity",
                              [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, 4, 4])],
                              [helper.make_tensor_value_info("stylized", TensorProto.FLOAT, [1, 3, 4, 4])])
    model = helper.make_model(graph)
    names = ["../../ESCAPED", "a/b"]
    helper.set_model_props(model, {"nst_ff": json.dumps({"format": 2, "model": {"num_styles": 2},
                                                         "style_names": names})})
    onnx.save(model, tmp_path / "hostile.onnx")
    before = snapshot(tmp_path)
    assert stylize_main.main(["--ckpt", str(tmp_path / "hostile.onnx"), "--input", str(photo), "--all-styles",
                              "--output", str(tmp_path / "o")]) == 2
    one_line(capsys, "stylize.py", "refusing ONNX model")
    assert snapshot(tmp_path) == before


def test_an_older_checkpoint_without_a_digest_still_loads(good_checkpoint, tmp_path):
    record = torch.load(good_checkpoint, weights_only=True)
    del record["nst_ff"]["weights_sha256"]
    torch.save(record, tmp_path / "old.pt")
    network, names, _ = load_checkpoint(tmp_path / "old.pt")
    assert names == STYLES and torch.equal(network.contract[0].conv.weight,
                                           load_checkpoint(good_checkpoint)[0].contract[0].conv.weight)


def test_the_users_vgg_weights_win_over_the_checkpoints(tmp_path, capsys, monkeypatch):
    content, styles = tmp_path / "photos", tmp_path / "styles"
    make_image(content / "p.png", size=(32, 32))
    for i, name in enumerate(STYLES):
        make_image(styles / f"{name}.png", size=(32, 32), seed=10 + i)
    path = tmp_path / "net.pt"
    export(path, styled_network(alpha=0.25), STYLES, {"loss": {"vgg": {"arch": "vgg16", "weights": "/no/such.pth"}}})
    monkeypatch.setenv("NST_FF_VGG_WEIGHTS", "random")
    assert evaluate_main.main(["--ckpt", str(path), "--content-dir", str(content), "--style-dir", str(styles),
                               "--size", "32", "--limit", "1", "--opt-steps", "0", "--log", str(tmp_path / "tb")]) == 0
    assert "scored with VGG weights: random" in capsys.readouterr().err
    assert json.loads((tmp_path / "tb" / "evaluation.json").read_text())["vgg_weights"] == "random"


# --- outputs: collisions, inputs, existing files, bounds -------------------------------------------------------


def test_colliding_output_names_are_refused_before_anything_is_written(tmp_path, capsys):
    photos = tmp_path / "photos"
    make_image(photos / "x.png")
    make_image(photos / "x_starry.png", seed=1)
    export(tmp_path / "net.pt", styled_network(num_styles=2, alpha=0.25), ["starry_night", "night"])
    before = snapshot(tmp_path)
    assert stylize_main.main(["--ckpt", str(tmp_path / "net.pt"), "--input", str(photos), "--all-styles",
                              "--output", str(tmp_path / "out")]) == 2
    one_line(capsys, "stylize.py", f"would both be written to {tmp_path / 'out' / 'x_starry_night.png'}")
    assert snapshot(tmp_path) == before and not (tmp_path / "out").exists()


def test_mixes_that_round_alike_are_refused(good_checkpoint, photo, tmp_path, capsys):
    argv = ["--ckpt", good_checkpoint, "--input", photo, "--output", tmp_path / "out",
            "--style-mix", "alpha:0.3331,beta:0.6669", "--style-mix", "alpha:0.3332,beta:0.6668"]
    assert stylize_main.main([str(arg) for arg in argv]) == 2
    one_line(capsys, "stylize.py", "would both be written to")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("target", ["photo", "checkpoint"])
def test_stylize_never_replaces_its_own_input_even_with_overwrite(good_checkpoint, photo, tmp_path, capsys, target):
    ckpt = tmp_path / "net.pt"
    ckpt.write_bytes(good_checkpoint.read_bytes())
    before = snapshot(tmp_path)
    output = ["--output", str(photo)] if target == "photo" else ["--export", str(ckpt)]
    assert stylize_main.main(["--ckpt", str(ckpt), "--input", str(photo), "--style", "alpha", *output,
                              "--overwrite"]) == 2
    one_line(capsys, "stylize.py", "is an input of this run" if target == "photo" else "is also an input")
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("argv, message", [
    (["--export", "{tmp}/folder.pt"], "--export {tmp}/folder.pt is a folder: give a file name"),
    (["--export", "{tmp}/folder"], "--export {tmp}/folder: name the file .pt (PyTorch) or .onnx (ONNX)"),
    (["--export", "{tmp}/new/"], "--export {tmp}/new/: name the file .pt (PyTorch) or .onnx (ONNX)"),
    (["--export", "{tmp}/net.txt"], "--export {tmp}/net.txt: name the file .pt (PyTorch) or .onnx (ONNX)"),
    (["--input", "{photo}", "--style", "alpha", "--output", "{tmp}/o", "--activations", "{tmp}/file.txt"],
     "cannot write to {tmp}/file.txt: {tmp}/file.txt is not a folder"),
    (["--input", "{photo}", "--style", "alpha", "--size", "100000"], "--size 100000: must be at most 9459"),
    (["--input", "{photo}", "--style", "alpha", "--size", "9000"], "over the limit of 89478485 pixels"),
    (["--input", "{photo}", "--interpolate", "alpha,beta", "--steps", "100000"],
     "--steps 100000: an interpolation has at most 100 steps"),
    (["--input", "{photo}", "--style", "alpha", "--batch-size", "100000"], "--batch-size 100000: must be at most 256"),
    (["--input", "{photo}", "--style", "alpha", "--tile", "100000"], "--tile 100000: must be at most 8192"),
])
def test_stylize_checks_targets_and_bounds_before_work(good_checkpoint, photo, tmp_path, capsys, argv, message):
    (tmp_path / "folder").mkdir()
    (tmp_path / "folder.pt").mkdir()
    (tmp_path / "file.txt").write_text("notes")
    before = snapshot(tmp_path)
    fill = {"{tmp}": str(tmp_path), "{photo}": str(photo)}
    argv = [next((arg.replace(k, v) for k, v in fill.items() if k in arg), arg) for arg in argv]
    assert stylize_main.main(["--ckpt", str(good_checkpoint), *argv]) == 2
    one_line(capsys, "stylize.py", message.replace("{tmp}", str(tmp_path)))
    assert snapshot(tmp_path) == before and not (tmp_path / "o").exists()


def test_evaluate_never_writes_its_report_over_the_checkpoint(good_checkpoint, tmp_path, capsys):
    ckpt = tmp_path / "net.pt"
    ckpt.write_bytes(good_checkpoint.read_bytes())
    (tmp_path / "report.json").write_text("{}")
    before = snapshot(tmp_path)
    common = ["--ckpt", str(ckpt), "--content-dir", str(tmp_path), "--style-dir", str(tmp_path)]
    assert evaluate_main.main([*common, "--json", str(ckpt), "--overwrite"]) == 2
    one_line(capsys, "evaluate.py", f"--json {ckpt} is also an input of this run")
    assert evaluate_main.main([*common, "--json", str(tmp_path / "report.json")]) == 2
    one_line(capsys, "evaluate.py", "report.json exists; add --overwrite to replace it")
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("option, value, overwrite, message", [
    ("--output", "{photo}", True, "--output {photo} is also an input of this run"),
    ("--output", "{tmp}/painting.png", True, "is also an input of this run"),
    ("--output", "{tmp}/old.png", False, "--output {tmp}/old.png exists; add --overwrite to replace it"),
    ("--gif", "{tmp}/old.gif", False, "--gif {tmp}/old.gif exists; add --overwrite"),
    ("--size", "100000", False, "argument --size: must be from 16 to 2048, got 100000"),
    ("--steps", "10000000", False, "argument --steps: must be from 1 to 100000"),
])
def test_optimize_never_replaces_its_inputs_or_an_existing_file(photo, tmp_path, capsys, option, value,
                                                                 overwrite, message):
    painting = make_image(tmp_path / "painting.png", seed=9)
    make_image(tmp_path / "old.png", seed=8)
    (tmp_path / "old.gif").write_bytes(b"GIF89a")
    before = snapshot(tmp_path)
    fill = lambda text: text.replace("{tmp}", str(tmp_path)).replace("{photo}", str(photo))  # noqa: E731
    options = {"--input": str(photo), "--style-image": str(painting), "--output": str(tmp_path / "new.png"),
               "--vgg-weights": "random", option: fill(value)}
    argv = [item for pair in options.items() for item in pair] + (["--overwrite"] if overwrite else [])
    assert optimize_main.main(argv) == 2
    one_line(capsys, "optimize.py", fill(message))
    assert snapshot(tmp_path) == before


def test_float_and_32_bit_integer_tiffs_are_read_over_their_range(tmp_path):
    ramp = np.linspace(0, 1, 32 * 16, dtype=np.float32).reshape(16, 32)
    Image.fromarray(ramp).save(tmp_path / "float.tif")
    Image.fromarray((ramp.astype(np.float64) * (2**31 - 1)).astype(np.int32)).save(tmp_path / "int32.tif")
    for name in ("float.tif", "int32.tif"):
        image = read_image(tmp_path / name)
        assert torch.allclose(image[0], torch.from_numpy(ramp), atol=1.5 / 255), name
    Image.fromarray(ramp * 1000).save(tmp_path / "hdr.tif")
    with pytest.raises(ValueError, match=r"hdr.tif: cannot read image \(32-bit float pixels from 0 to 1000, outside"):
        read_image(tmp_path / "hdr.tif")


# --- training: run names, overwrite, fine-tune bases, resume, the lock ---------------------------------------------


def train_config(tmp_path: Path, content: Path, styles: Path, *overrides: str):
    """The tiny run of conftest.train_overrides; an override `~KEY` leaves KEY's own override out."""
    dropped = [item[1:] for item in overrides if item.startswith("~")]
    base = [item for item in train_overrides(tmp_path, content, styles, steps=2) if item.split("=")[0] not in dropped]
    with initialize_config_dir(str(ROOT / "conf"), version_base="1.3"):
        return compose("train", overrides=base + [item for item in overrides if not item.startswith("~")])


def run_train(cfg) -> int:
    try:
        train_main.run(cfg)
    except SystemExit as exit:
        return exit.code
    return 0


@pytest.fixture
def old_run(tmp_path, image_dirs) -> tuple[Path, Path]:
    """A trained run's files (stand-ins: train.py reads none of them unless resuming) and the data folders."""
    folder, events = tmp_path / "ckpt", tmp_path / "runs" / "test"
    folder.mkdir()
    events.mkdir(parents=True)
    (folder / "last.ckpt").write_bytes(b"the trained demo")
    (folder / "step=60.ckpt").write_bytes(b"step 60")
    (events / "events.out.tfevents.1.host").write_bytes(b"its curves")
    return image_dirs


@pytest.mark.parametrize("override, message", [
    ("data.style_dir={tmp}/no_such_folder", "style folder {tmp}/no_such_folder: not a folder"),
    ("data.style_dir={tmp}/bad_styles", "style image {tmp}/bad_styles/broken.png: cannot read image"),
    ("finetune_from={tmp}/ckpt/last.ckpt", "finetune_from={tmp}/ckpt/last.ckpt is a checkpoint of this run"),
    ("init_from={tmp}/ckpt/last.ckpt", "init_from={tmp}/ckpt/last.ckpt is a checkpoint of this run"),
    ("init_from={tmp}/missing.pt", "init_from={tmp}/missing.pt: checkpoint not found: {tmp}/missing.pt"),
    ("data.image_size=1", "data.image_size=1: must be a whole number >= 16"),
])
def test_overwrite_keeps_the_old_run_when_an_input_is_bad(tmp_path, old_run, capsys, override, message):
    content, styles = old_run
    (tmp_path / "bad_styles").mkdir()
    (tmp_path / "bad_styles" / "broken.png").write_bytes(b"not a png")
    before = snapshot(tmp_path)
    cfg = train_config(tmp_path, content, styles, "overwrite=true", override.replace("{tmp}", str(tmp_path)))
    assert run_train(cfg) == 2
    one_line(capsys, "train.py", message.replace("{tmp}", str(tmp_path)))
    assert snapshot(tmp_path) == before


def test_overwrite_replaces_the_old_run_once_the_new_one_has_a_checkpoint(tmp_path, old_run, caplog):
    content, styles = old_run
    with caplog.at_level("INFO"):
        assert run_train(train_config(tmp_path, content, styles, "overwrite=true")) == 0
    assert f"overwrite=true: replacing run test ({tmp_path / 'ckpt'})" in caplog.text
    folder = tmp_path / "ckpt"
    assert (folder / "last.ckpt").read_bytes() != b"the trained demo" and not (folder / "step=60.ckpt").exists()
    assert not (folder / REPLACED).exists()
    assert load_checkpoint(folder / "last.ckpt")[1] == STYLES


def test_a_replacement_killed_before_its_first_checkpoint_gives_the_old_run_back(tmp_path, old_run):
    folder, events = tmp_path / "ckpt", tmp_path / "runs" / "test"
    before = snapshot(tmp_path)
    set_aside(folder, events)
    assert not list(folder.glob("*.ckpt")) and not list(events.glob("events*"))
    restore_or_drop(folder, events)  # as prepare_run_dir does at the next start
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("kind", ["traversal", "huge alpha", "flipped bit"])
@pytest.mark.parametrize("setting", ["finetune_from", "init_from", "ckpt_path"])
def test_training_refuses_a_hostile_base_or_resume_checkpoint(good_checkpoint, tmp_path, image_dirs, capsys,
                                                              kind, setting):
    path = hostile(good_checkpoint, kind, tmp_path / "elsewhere")
    before = snapshot(tmp_path)
    assert run_train(train_config(tmp_path, *image_dirs, f"{setting}={path}")) == 2
    one_line(capsys, "train.py", f"{setting}={path}: refusing checkpoint {path}: {HOSTILE[kind][1]}")
    assert snapshot(tmp_path) == before and not (tmp_path / "ckpt").exists()


@pytest.mark.parametrize("override, message", [
    ("run_name=../../escape", f"run_name=../../escape: '../../escape' is not a safe name ({NAME_RULE})"),
    ("data.batch_size=100000", "data.batch_size=100000: must be at most 1024"),
    ("data.style_size=100000", "data.style_size=100000: must be at most 4096"),
    ("~data.content_dir", "data.content_dir: required, and not given (add data.content_dir=VALUE)"),
])
def test_bad_run_names_sizes_and_missing_values_are_one_line(tmp_path, image_dirs, capsys, override, message):
    before = snapshot(tmp_path)
    assert run_train(train_config(tmp_path, *image_dirs, override)) == 2
    one_line(capsys, "train.py", message)
    assert snapshot(tmp_path) == before


def test_a_style_file_name_that_is_not_a_safe_name_is_refused(tmp_path, image_dirs, capsys):
    content, styles = image_dirs
    make_image(styles / "a,b.png")
    before = snapshot(tmp_path)
    assert run_train(train_config(tmp_path, content, styles)) == 2
    one_line(capsys, "train.py", f"style folder {styles}: style name 'a,b' is not a safe name")
    assert snapshot(tmp_path) == before


def test_a_second_run_into_a_locked_run_folder_is_refused(tmp_path, old_run, capsys):
    content, styles = old_run
    before = snapshot(tmp_path)
    with locked(tmp_path / "ckpt", "test"):  # another process's run, as far as flock can tell
        assert run_train(train_config(tmp_path, content, styles, "ckpt_path=last")) == 2
    one_line(capsys, "train.py", "run test is being trained by another process")
    assert snapshot(tmp_path) == before


# --- the workbench ---------------------------------------------------------------------------------------------


def test_the_workbench_shows_one_message_for_each_hostile_checkpoint(good_checkpoint, tmp_path, monkeypatch):
    AppTest = pytest.importorskip("streamlit.testing.v1").AppTest
    monkeypatch.setenv("NST_FF_VGG_WEIGHTS", "random")
    at = AppTest.from_file(str(ROOT / "workbench.py"), default_timeout=120).run()
    at.sidebar.selectbox(key="ckpt_choice").set_value("another path...").run()
    at.sidebar.selectbox(key="photo_choice").set_value("chelsea.jpg")
    at.sidebar.number_input(key="size").set_value(32)
    for kind in ("traversal", "duplicate names", "huge alpha", "wrong type", "flipped bit"):
        path = hostile(good_checkpoint, kind, tmp_path / kind.replace(" ", "_"))
        at.sidebar.text_input(key="ckpt_path").set_value(str(path)).run()
        assert not at.exception, at.exception[0].value
        assert len(at.error) == 1 and HOSTILE[kind][1] in at.error[0].value, kind
