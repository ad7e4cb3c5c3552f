"""evaluate.py: per-style scores of network, optimum and photo; ratios; JSON, table and TensorBoard."""

import json

import pytest
import torch
from torch import nn

from conftest import make_image
from nst_ff.cli import evaluate_main as evaluate_cli
from nst_ff.io.config import loss_config
from nst_ff.io.images import read_image
from nst_ff.loss.perceptual import PerceptualLoss, relative_error
from nst_ff.measure.evaluation import evaluate, load_photos
from nst_ff.model.checkpoint import export
from nst_ff.model.transformer import StyleTransferNetwork

STYLES = ["alpha", "beta", "gamma"]


class ReturnsInput(nn.Module):
    def forward(self, images, style_weights):
        return images


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("evaluate")
    for i in range(3):
        make_image(root / "photos" / f"photo{i}.jpg", size=(40, 36), seed=i)
    for i, name in enumerate(STYLES[:2]):  # gamma has no painting
        make_image(root / "styles" / f"{name}.png", size=(36, 36), seed=10 + i)
    return root


@pytest.fixture(scope="module")
def loss():
    torch.manual_seed(0)
    return PerceptualLoss(**loss_config(vgg_weights="random"))


@pytest.fixture(scope="module")
def scored(folders, loss):
    """An identity network evaluated on two photos in both painted styles."""
    paintings = {name: read_image(folders / "styles" / f"{name}.png") for name in STYLES[:2]}
    photos, skipped = load_photos(folders / "photos", size=32, limit=2)
    assert len(photos) == 2 and not skipped
    report, rows = evaluate(ReturnsInput(), STYLES, paintings, photos, loss, opt_steps=3)
    return report, rows, paintings, photos


def test_photo_scores_equal_the_loss_module_computed_directly(scored, loss):
    report, _, paintings, photos = scored
    for style, painting in paintings.items():
        loss.set_style_targets([painting])
        for name, photo in photos.items():
            with torch.no_grad():
                direct = loss(photo[None], photo[None], torch.ones(1, 1))
            for term in ("content", "style", "total"):
                assert report["styles"][style]["photos"][name]["photo"][term] == pytest.approx(direct[term].item())


def test_network_returning_its_input_scores_content_loss_zero(scored):
    report, rows, _, photos = scored
    for style in report["styles"].values():
        for scores in style["photos"].values():
            assert scores["network"]["content"] == 0 and scores["network"] == scores["photo"]
            assert scores["optimum"]["total"] < scores["photo"]["total"]  # three steps already help
        assert style["ratio"]["total"] > 1  # the photo is no stylization
    assert rows["alpha"].shape == (3 * len(photos), 3, 32, 32)  # photo | network | optimum per photo


def run_cli(folders, tmp_path, *options) -> int:
    """evaluate.py on a random 3-style network, 32 px photos and random-weight VGGs, logging under tmp_path."""
    ckpt = tmp_path / "net.pt"
    torch.manual_seed(0)
    export(ckpt, StyleTransferNetwork(num_styles=3), STYLES)
    return evaluate_cli.main([
        "--ckpt", str(ckpt), "--content-dir", str(folders / "photos"), "--style-dir", str(folders / "styles"),
        "--size", "32", "--vgg-weights", "random", "--log", str(tmp_path / "tb"), *options,
    ])


def test_cli_reports_every_style_and_ratios(folders, tmp_path, capsys):
    assert run_cli(folders, tmp_path, "--limit", "1", "--opt-steps", "1", "--style-weight", "2") == 0
    out, err = capsys.readouterr()
    assert f"evaluate.py: 1 of the 3 styles have no painting (NAME.*) in {folders / 'styles'}, skipped: gamma\n" in err
    assert "the per-image optimum's images, on the same yardstick:" in out
    assert "alpha" in out and "beta" in out and "overall" in out
    report = json.loads((tmp_path / "tb" / "evaluation.json").read_text())
    assert list(report["styles"]) == ["alpha", "beta"] and report["missing_styles"] == ["gamma"]
    assert list(report["optimum_quality"]["styles"]) == ["alpha", "beta"]
    assert report["loss"]["style_weight"] == 2  # the training run's weights, when they differ from the YAML
    assert report["photos"] == ["photo0.jpg"]
    for summary in [*report["styles"].values(), report["overall"]]:
        assert set(summary["ratio"]) == {"total", "style"} and all(r > 0 for r in summary["ratio"].values())
        assert set(summary["mean"]) == {"network", "optimum", "photo"}
    assert any((tmp_path / "tb").glob("events.out.tfevents.*"))
    assert set(report["quality"]["styles"]) == {"alpha", "beta"} and "identified" in report["quality"]["overall"]


def test_cli_without_optimisation_reports_quality_alone(folders, tmp_path, capsys):
    assert run_cli(folders, tmp_path, "--limit", "2", "--opt-steps", "0") == 0
    out, err = capsys.readouterr()
    assert "identified" in out and "style gain" in out and "optimum" not in out and "lbfgs" not in err
    report = json.loads((tmp_path / "tb" / "evaluation.json").read_text())
    assert "styles" not in report and "ratio" not in report  # no per-image optimisation was run
    quality = report["quality"]
    assert list(quality["styles"]) == ["alpha", "beta"] and quality["chance"] == 0.5
    for scores in [*quality["styles"].values(), quality["overall"]]:
        assert 0 <= scores["identified"] <= 1 and scores["content"] >= 0
    assert all(len(scores["nearest"]) == 2 for scores in quality["styles"].values())
    assert list(quality["photos"]) == report["photos"] and all(name in out for name in report["photos"])


def test_stroke_scale_scores_what_stylize_paints_with_it(folders, tmp_path, capsys):
    reports = {}
    for scale in ("1", "2"):
        (tmp_path / scale).mkdir()
        assert run_cli(folders, tmp_path / scale, "--limit", "2", "--opt-steps", "0", "--stroke-scale", scale) == 0
        reports[scale] = json.loads((tmp_path / scale / "tb" / "evaluation.json").read_text())
    assert reports["2"]["stroke_scale"] == 2.0
    assert reports["1"]["quality"]["overall"] != reports["2"]["quality"]["overall"]  # another picture, scored


@pytest.mark.parametrize("change, message", [
    ({"--ckpt": "missing.pt"}, "missing.pt"),
    ({"--style-dir": "nowhere"}, "nowhere"),
    ({"--styles": "delta"}, "alpha, beta, gamma"),
])
def test_bad_input_exits_2(folders, tmp_path, capsys, change, message):
    ckpt = tmp_path / "net.pt"
    export(ckpt, StyleTransferNetwork(num_styles=3), STYLES)
    options = {"--ckpt": str(ckpt), "--content-dir": str(folders / "photos"),
               "--style-dir": str(folders / "styles"), "--vgg-weights": "random", "--log": str(tmp_path / "tb")}
    options.update({k: str(tmp_path / v) if k != "--styles" else v for k, v in change.items()})
    assert evaluate_cli.main([item for pair in options.items() for item in pair]) == 2
    err = capsys.readouterr().err
    assert err.startswith("evaluate.py: error:") and message in err and err.count("\n") == 1
    assert not (tmp_path / "tb").exists()


@pytest.mark.parametrize("argument, message", [
    (["--size", "0"], "argument --size: must be from 16 to 2048, got 0 (see --help)"),
    (["--optimizer", "sgd"], "argument --optimizer: invalid choice: 'sgd'"),
    (["--log", "{blocker}/tb"], "cannot write to {blocker}/tb: {blocker} is not a folder"),
    (["--json", "{blocker}/report.json"], "cannot write to {blocker}: {blocker} is not a folder"),
    (["--stroke-scale", "0"], "--stroke-scale 0.0: must be between 0.25 and 8"),
    (["--stroke-scale", "nan"], "--stroke-scale nan: must be between 0.25 and 8"),
])
def test_bad_arguments_and_unwritable_outputs_are_one_line(folders, tmp_path, capsys, argument, message):
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where a folder should be")
    argument = [item.replace("{blocker}", str(blocker)) for item in argument]
    assert run_cli(folders, tmp_path, "--opt-steps", "0", *argument) == 2
    out, err = capsys.readouterr()
    assert err.startswith("evaluate.py: error: ") and err.count("\n") == 1 and "Traceback" not in err
    assert message.replace("{blocker}", str(blocker)) in err, err
    assert out == "" and not (tmp_path / "tb").exists()


def test_the_loss_a_checkpoint_records_is_the_loss_evaluate_rebuilds(folders, tmp_path, capsys):
    trained = {"loss": {"vgg": {"arch": "vgg19"}, "content_layers": ["relu4_2"], "style_layers": {"relu1_1": 0.5},
                        "content_weight": 1.0, "style_weight": 3.0, "tv_weight": 0.0, "style_scales": {"beta": 2.0}},
               "style_size": 48}
    ckpt = tmp_path / "vgg19.pt"
    export(ckpt, StyleTransferNetwork(num_styles=3), STYLES, trained)
    assert torch.load(ckpt, weights_only=True)["nst_ff"]["loss"] == trained["loss"]  # exported files carry it
    assert evaluate_cli.main(["--ckpt", str(ckpt), "--content-dir", str(folders / "photos"), "--style-dir",
                              str(folders / "styles"), "--size", "32", "--limit", "1", "--opt-steps", "1",
                              "--vgg-weights", "random", "--log", str(tmp_path / "tb")]) == 0
    report = json.loads((tmp_path / "tb" / "evaluation.json").read_text())
    assert report["loss"]["vgg"] == {"arch": "vgg19", "weights": "random"}
    assert {k: report["loss"][k] for k in trained["loss"] if k != "vgg"} == \
        {k: v for k, v in trained["loss"].items() if k != "vgg"}
    assert report["style_size"] == 48
    assert PerceptualLoss(**report["loss"]).settings() == trained["loss"]  # and it round-trips


def test_a_checkpoint_of_a_newer_format_is_refused(folders, tmp_path, capsys):
    ckpt = tmp_path / "future.pt"
    export(ckpt, StyleTransferNetwork(num_styles=3), STYLES)
    checkpoint = torch.load(ckpt, weights_only=True)
    checkpoint["nst_ff"]["format"] = 99
    torch.save(checkpoint, ckpt)
    assert evaluate_cli.main(["--ckpt", str(ckpt), "--content-dir", str(folders / "photos"), "--style-dir",
                              str(folders / "styles"), "--log", str(tmp_path / "tb")]) == 2
    err = capsys.readouterr().err
    assert err == (f"evaluate.py: error: {ckpt} has checkpoint format 99, newer than this nst_ff reads (2): "
                   "upgrade nst_ff to use it\n")


def test_a_network_painting_nan_is_refused_and_no_report_written(folders, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(StyleTransferNetwork, "forward", lambda self, images, weights: images * float("nan"))
    assert run_cli(folders, tmp_path, "--opt-steps", "0") == 2
    last = capsys.readouterr().err.splitlines()[-1]  # after the note on the style without a painting
    assert last.startswith("evaluate.py: error: the network's output is not finite")
    assert not (tmp_path / "tb").exists()


def test_cli_takes_several_content_folders_in_order(folders, tmp_path):
    second = tmp_path / "more"
    make_image(second / "extra.png", size=(40, 36), seed=5)
    assert run_cli(folders, tmp_path, "--content-dir", str(folders / "photos"), str(second), "--opt-steps", "0",
                   "--limit", "9") == 0
    report = json.loads((tmp_path / "tb" / "evaluation.json").read_text())
    first = [str(folders / "photos" / f"photo{i}.jpg") for i in range(3)]
    assert report["photos"] == first + [str(second / "extra.png")]


def test_the_optimums_images_are_scored_per_style_on_the_yardstick():
    """Each style's optimum images (every third row: photo | network | optimum) scored as that style's outputs:
    here alpha's optimum is its painting itself and beta's the photo unchanged."""
    from nst_ff.measure.quality import Yardstick

    torch.manual_seed(0)
    paintings = [torch.rand(3, 32, 32) for _ in range(2)]
    photos = torch.rand(2, 3, 32, 32)
    network_output = torch.zeros(3, 32, 32)
    rows = {"alpha": torch.stack([image for photo in photos for image in (photo, network_output, paintings[0])]),
            "beta": torch.stack([image for photo in photos for image in (photo, network_output, photo)])}
    run = {"style_names": ["gamma", "alpha", "beta"], "yardstick": Yardstick(paintings, "random")}
    quality = evaluate_cli.optimum_quality(rows, run, {"one.jpg": photos[0], "two.jpg": photos[1]})
    alpha, beta = quality["styles"]["alpha"], quality["styles"]["beta"]
    assert alpha["identified"] == 1 and alpha["style_gain"] == pytest.approx(1, abs=1e-5)
    assert beta["style_gain"] == pytest.approx(0, abs=1e-5) and beta["content"] == pytest.approx(0, abs=1e-5)
    # per photo, the mean of alpha's full gain and beta's none, and its content error is alpha's for that photo
    assert list(quality["photos"]) == ["one.jpg", "two.jpg"]
    _, painted = run["yardstick"].errors(paintings[0][None])
    for index, name in enumerate(["one.jpg", "two.jpg"]):
        assert quality["photos"][name]["style_gain"] == pytest.approx(0.5, abs=1e-5)
        _, photo = run["yardstick"].errors(photos[index][None])
        expected = relative_error(painted, photo).item() / 2
        assert quality["photos"][name]["content"] == pytest.approx(expected, rel=1e-4)
