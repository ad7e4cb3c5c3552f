"""benchmarks/gpu.sh: its dry run goes through every step (training, stylize, video) on the CPU and writes one JSON
and one markdown table; a bad option, or a real run without a GPU, is one line and exit 2."""

import json
import subprocess

import pytest
import torch

from conftest import ROOT

SCRIPT = ROOT / "benchmarks" / "gpu.sh"


def gpu_sh(*args) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(SCRIPT), *map(str, args)], capture_output=True, text=True, timeout=900)


@pytest.mark.slow
def test_dry_run_writes_one_json_and_one_table(tmp_path):
    done = gpu_sh("--dry-run", "--out", tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads((tmp_path / "gpu.json").read_text())
    train, stylize = report["reports"]["train"]["results"], report["reports"]["stylize"]["results"]
    video, modes = report["reports"]["video"], ["off", "norms", "flow", "on"]
    assert [(r["precision"], r["batch"], r["channels_last"]) for r in train] == [("bf16-mixed", 2, False),
                                                                                ("bf16-mixed", 2, True)]
    assert [(r["backend"], r["precision"]) for r in stylize] == [("torch", "bf16"), ("onnxruntime", "fp32")]
    assert (video["precision"], video["args"]["device"], video["args"]["height"]) == ("fp32", "cpu", 32)
    assert [(r["clip"].split()[0], r["mode"]) for r in video["results"]] == [("pan", mode) for mode in modes]
    assert all(r["fps"] > 0 and r["peak_memory_mb"] is None for r in video["results"])  # no CUDA: no peak
    table = (tmp_path / "gpu.md").read_text().splitlines()
    assert table[0].startswith("no GPU (dry run on the CPU)") and table[2].startswith("| figure |")
    assert [line.split("|")[2].strip() for line in table if line.startswith("| training steps/s |")] == [
        "torch", "torch, channels-last"]
    assert sum(line.startswith("| stylize images/s |") for line in table) == 2
    video_rows = [[cell.strip() for cell in line.strip("|").split("|")] for line in table
                  if line.startswith("| video frames/s")]
    assert [row[0] for row in video_rows] == [f"video frames/s, --temporal {mode}" for mode in modes]
    assert [row[1] for row in video_rows] == ["torch", "torch", "torch + CPU flow", "torch + CPU flow"]
    assert all(row[2:6] == ["fp32", "-", "32p", "1"] and float(row[6]) > 0 and row[7] == "-" for row in video_rows)
    assert "dry run" in report["note"]


@pytest.mark.parametrize("args,message", [(["--fast"], "unknown option --fast"), (["--out"], "--out needs a folder")])
def test_bad_option_is_one_line(tmp_path, args, message):
    done = gpu_sh(*args)
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and message in done.stderr, done.stderr


@pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is visible: the real run would start")
def test_real_run_without_a_gpu_is_one_line(tmp_path):
    done = gpu_sh("--out", tmp_path)
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "no CUDA GPU" in done.stderr, done.stderr
    assert not (tmp_path / "gpu.json").exists()
