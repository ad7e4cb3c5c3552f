"""A non-editable install (a wheel in a fresh virtualenv) runs the tools from any directory: conf/ travels
inside the package."""

import os
import subprocess
import sys

import pytest

from conftest import ROOT, make_image


@pytest.mark.slow
def test_a_wheel_install_runs_optimize_and_evaluate_defaults_from_another_directory(tmp_path):
    venv = tmp_path / "venv"
    # the virtualenv sees this environment's torch & co.; only nst_ff itself is installed into it, as a wheel
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], check=True)
    python = str(venv / "bin" / "python")
    install = subprocess.run([python, "-m", "pip", "install", "-q", "--no-deps", str(ROOT)], capture_output=True,
                             text=True, timeout=600)
    assert install.returncode == 0, install.stderr[-3000:]
    elsewhere = tmp_path / "elsewhere"
    photo = make_image(elsewhere / "photo.png", size=(40, 32))
    painting = make_image(elsewhere / "painting.png", size=(40, 40), seed=1)
    env = {**os.environ, "NST_FF_VGG_WEIGHTS": "random", "PYTHONPATH": ""}
    where = subprocess.run([python, "-c", "import nst_ff.io.config as c; print(c.conf_dir())"], cwd=elsewhere,
                           env=env, capture_output=True, text=True, check=True).stdout
    assert str(venv) in where  # the installed copy, not this source tree
    optimize = subprocess.run([python, "-m", "nst_ff.cli.optimize_main", "--input", str(photo), "--style-image",
                               str(painting), "--output", "out.png", "--steps", "2", "--size", "32"],
                              cwd=elsewhere, env=env, capture_output=True, text=True, timeout=300)
    assert optimize.returncode == 0, optimize.stderr[-3000:]
    assert (elsewhere / "out.png").is_file()
    network = subprocess.run([python, "-c", "from nst_ff.model.checkpoint import export; "
                              "from nst_ff.model.transformer import StyleTransferNetwork; "
                              "export('net.pt', StyleTransferNetwork(1), ['painting'])"],
                             cwd=elsewhere, env=env, capture_output=True, text=True, check=True)
    assert network.returncode == 0
    evaluate = subprocess.run([python, "-m", "nst_ff.cli.evaluate_main", "--ckpt", "net.pt", "--content-dir", ".",
                               "--style-dir", ".", "--size", "32", "--opt-steps", "0", "--log", "tb"],
                              cwd=elsewhere, env=env, capture_output=True, text=True, timeout=300)
    assert evaluate.returncode == 0, evaluate.stderr[-3000:]
    assert (elsewhere / "tb" / "evaluation.json").is_file()
