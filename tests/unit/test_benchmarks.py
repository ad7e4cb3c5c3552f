"""The benchmarks run end to end with --quick and write their JSON reports (timings are not asserted)."""

import json
import sys

import pytest
from pytest import approx

from conftest import ROOT, make_image
from nst_ff.model.transformer import StyleTransferNetwork

sys.path.insert(0, str(ROOT / "benchmarks"))
import bench_large  # noqa: E402
import bench_stylize  # noqa: E402
import bench_train  # noqa: E402


def test_bench_stylize_quick(tmp_path, capsys):
    assert bench_stylize.main(["--quick", "--json", str(tmp_path / "stylize.json")]) == 0
    report = json.loads((tmp_path / "stylize.json").read_text())
    assert {"cpu", "cores", "commit", "torch"} <= set(report["machine"])
    assert [(r["size"], r["batch"]) for r in report["results"]] == [(32, 1), (32, 2), (64, 1), (64, 2)]
    for row in report["results"]:
        assert row["ms_per_image"] > 0 and row["images_per_s"] > 0 and row["peak_memory_mb"] > 0
        assert row["gmac_per_s"] > 0
    # Analytic count: the convolutions' multiply-adds grow with the pixel count, 4x from 32 to 64 px.
    small, large = report["results"][0]["gmac_per_image"], report["results"][2]["gmac_per_image"]
    assert large == 4 * small
    assert "ms/image" in capsys.readouterr().out


@pytest.mark.slow
def test_bench_stylize_quick_on_onnx_runtime(tmp_path):
    assert bench_stylize.main(["--quick", "--backend", "onnxruntime", "--alpha", "0.25", "--num-styles", "2",
                               "--json", str(tmp_path / "stylize.json")]) == 0
    rows = json.loads((tmp_path / "stylize.json").read_text())["results"]
    assert [(r["backend"], r["precision"], r["size"], r["batch"]) for r in rows] == [
        ("onnxruntime", "fp32", size, batch) for size in (32, 64) for batch in (1, 2)]
    assert all(row["ms_per_image"] > 0 and row["gmac_per_s"] > 0 for row in rows)


def test_conv_macs_match_the_formula():
    network = StyleTransferNetwork(num_styles=2)
    # contract 9x9 3->32, 3x3 s2 32->64, 3x3 s2 64->128; 10 residual 3x3 128->128 at 1/4 size;
    # expand 3x3 128->64 at 1/2, 64->32 at full size, 9x9 32->3.
    s = 64
    expected = (s * s * 32 * 3 * 81 + (s // 2) ** 2 * 64 * 32 * 9 + (s // 4) ** 2 * 128 * 64 * 9
                + 10 * (s // 4) ** 2 * 128 * 128 * 9 + (s // 2) ** 2 * 64 * 128 * 9 + s * s * 32 * 64 * 9
                + s * s * 3 * 32 * 81)
    assert bench_stylize.conv_macs(network, s, 2) == expected


@pytest.mark.parametrize("finetune", [[], ["--finetune", "1"], ["--breakdown"]])
def test_bench_train_quick(tmp_path, capsys, finetune):
    for i in range(3):
        make_image(tmp_path / "photos" / f"p{i}.jpg", seed=i)
    for i, name in enumerate(["alpha", "beta"]):
        make_image(tmp_path / "styles" / f"{name}.png", seed=10 + i)
    assert bench_train.main(["--quick", "--content-dir", str(tmp_path / "photos"), "--style-dir",
                             str(tmp_path / "styles"), "--json", str(tmp_path / "train.json"), *finetune]) == 0
    report = json.loads((tmp_path / "train.json").read_text())
    (result,) = report["results"]
    assert result["batch"] == 2 and result["size"] == 32 and result["steps"] == 2
    assert result["steps_per_s"] > 0 and result["images_per_s"] == approx(2 * result["steps_per_s"])
    assert result["peak_memory_mb"] > 0 and result["content_images"] == 3 and result["styles"] == 2
    assert result["finetune"] == (1 if "--finetune" in finetune else None)
    assert "steps/s" in capsys.readouterr().out
    if "--breakdown" in finetune:  # both steps' phases, timed on the same batches, and the data rate
        phases = report["breakdown"]
        for name in ("nst_ff", "fast_neural_style"):
            assert set(phases[name]) == {"network", "loss", "backward", "optimizer", "total"}
            assert phases[name]["total"] == approx(sum(v for k, v in phases[name].items() if k != "total"))
        assert phases["ratio"] > 0 and phases["data_photos_per_s_per_worker"] > 0


def test_bench_large_runs_stylize_in_tiles(tmp_path, capsys):
    assert bench_large.main(["--sizes", "72", "--tile", "32", "--json", str(tmp_path / "large.json")]) == 0
    (row,) = json.loads((tmp_path / "large.json").read_text())["results"]
    assert row["size"] == 72 and row["tile"] == "32" and row["peak_memory_mb"] > 0 and row["seconds"] > 0
    assert "peak MB" in capsys.readouterr().out

@pytest.mark.slow
def test_bench_stylize_quick_with_int8_and_the_peer(tmp_path):
    assert bench_stylize.main(["--quick", "--backend", "onnxruntime", "--int8", "--peer", "--alpha", "0.25",
                               "--num-styles", "2", "--json", str(tmp_path / "stylize.json")]) == 0
    rows = json.loads((tmp_path / "stylize.json").read_text())["results"]
    assert [(r["backend"], r["precision"]) for r in rows[::4]] == [
        ("fast_neural_style", "fp32"), ("onnxruntime", "fp32"), ("onnxruntime", "int8")]
    assert len(rows) == 12 and all(row["ms_per_image"] > 0 for row in rows)


@pytest.mark.slow
def test_bench_stylize_quick_with_openvino_and_cpu_bf16(tmp_path):
    pytest.importorskip("openvino")
    assert bench_stylize.main(["--quick", "--openvino", "--int8", "--default-path", "--precisions", "fp32",
                               "autocast-bf16", "mkldnn-bf16", "--batch-sizes", "1", "--alpha", "0.25",
                               "--num-styles", "2", "--json", str(tmp_path / "stylize.json")]) == 0
    rows = json.loads((tmp_path / "stylize.json").read_text())["results"]
    default = [row.pop("precision") for row in rows if row["backend"] == "stylize.py default"]
    assert set(default) <= {"openvino f32", "openvino bf16"} and len(default) == 4  # stylize.py's own choice
    assert list(dict.fromkeys((r["backend"], r.get("precision")) for r in rows)) == [
        ("torch", "fp32"), ("torch", "autocast-bf16"), ("torch", "mkldnn-bf16"), ("openvino", "fp32"),
        ("openvino", "bf16"), ("stylize.py default", None), ("openvino", "int8"), ("openvino", "int8+bf16")]
    assert all(row["ms_per_image"] > 0 for row in rows)

