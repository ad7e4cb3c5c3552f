"""stylize.py on an ONNX file as a user runs it, in a process of its own: OpenVINO's readers write to the process's
stderr, where a test's capture would miss them. Here, not beside the unit tests of OpenVINO: the whole suite's process,
once those had run OpenVINO in it, died of a segfault as this test started its subprocess (each passes alone)."""

import subprocess
import sys

import pytest

from conftest import ROOT, make_image


def test_a_file_that_is_no_onnx_model_is_one_line_with_its_reason(tmp_path):
    pytest.importorskip("openvino")
    bad = tmp_path / "notes.onnx"
    bad.write_text("not an ONNX model\n")
    photo = make_image(tmp_path / "photo.png")
    result = subprocess.run([sys.executable, str(ROOT / "stylize.py"), "--ckpt", str(bad), "--backend", "openvino",
                             "--input", str(photo), "--style", "0", "--output", str(tmp_path / "out")],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, result.stderr
    assert result.stderr == f"stylize.py: error: cannot read ONNX model {bad}: Model can't be parsed\n"
    assert not (tmp_path / "out").exists()
