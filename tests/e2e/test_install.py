"""A non-editable install (a wheel in a fresh virtualenv) runs every console script from any directory: conf/
travels inside the package."""

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT, make_image

SCRIPTS = ("nst-train", "nst-stylize", "nst-optimize", "nst-evaluate", "nst-workbench")


def site_folders() -> list[str]:
    """This interpreter's package folders, whatever it is (a virtualenv, a conda env, the system Python, with or
    without a user site): every site-packages or dist-packages folder on its path."""
    return [entry for entry in sys.path
            if Path(entry).name in ("site-packages", "dist-packages") and Path(entry).is_dir()]


@pytest.fixture(scope="module")
def wheel_venv(tmp_path_factory) -> Path:
    """A fresh virtualenv holding nst_ff as a wheel and nothing else; a .pth file lets it see this environment's
    torch & co. (--system-site-packages would show the system's, which a virtualenv or conda env does not use).
    Lines of a .pth file only extend sys.path: the folders' own .pth files, such as an editable install of
    nst_ff, are not run, and the venv's site-packages comes first."""
    venv = tmp_path_factory.mktemp("wheel") / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    purelib = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    (Path(purelib) / "nst_ff_test_environment.pth").write_text("\n".join(site_folders()) + "\n")
    # this environment's pip, run by the venv's python, installs into the venv; the wheel is built with this
    # environment's setuptools where it has one (nothing downloaded), else pip fetches it as for any source install
    offline = ["--no-build-isolation"] if importlib.util.find_spec("setuptools") else []
    install = subprocess.run([python, "-m", "pip", "install", "-q", "--no-deps", *offline, str(ROOT)],
                             capture_output=True, text=True, timeout=600, cwd=venv)
    assert install.returncode == 0, install.stderr[-3000:]
    return venv


def run(venv: Path, command: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "NST_FF_VGG_WEIGHTS": "random", "PYTHONPATH": ""}
    return subprocess.run([str(venv / "bin" / command[0]), *command[1:]], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=600)


@pytest.mark.slow
def test_the_wheel_is_the_copy_that_runs(wheel_venv, tmp_path):
    where = run(wheel_venv, ["python", "-c", "import nst_ff.io.config as c, torch; print(c.conf_dir())"], tmp_path)
    assert where.returncode == 0, where.stderr[-3000:]
    assert str(wheel_venv) in where.stdout  # the installed copy with its conf/, not this source tree


@pytest.mark.slow
@pytest.mark.parametrize("script", SCRIPTS)
def test_every_console_script_answers_help(wheel_venv, tmp_path, script):
    result = run(wheel_venv, [script, "--help"], tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip()


@pytest.mark.slow
def test_the_console_scripts_train_stylize_optimize_and_evaluate_from_another_directory(wheel_venv, tmp_path):
    content, styles = tmp_path / "photos", tmp_path / "paintings"
    for i in range(2):
        make_image(content / f"photo{i}.png", size=(40, 32), seed=i)
    for i, name in enumerate(("dots", "waves")):
        make_image(styles / f"{name}.png", size=(40, 40), seed=10 + i)
    train = run(wheel_venv, ["nst-train", "data.content_dir=photos", "data.style_dir=paintings", "data.image_size=32",
                             "data.style_size=32", "data.batch_size=2", "data.num_workers=0", "data.grid_images=1",
                             "trainer.max_steps=2", "trainer.enable_progress_bar=false", "run_name=wheel"], tmp_path)
    assert train.returncode == 0, train.stderr[-3000:]
    ckpt = tmp_path / "checkpoints" / "wheel" / "last.ckpt"
    stylize = run(wheel_venv, ["nst-stylize", "--ckpt", str(ckpt), "--input", "photos/photo0.png", "--style", "waves",
                               "--output", "out.png"], tmp_path)
    assert stylize.returncode == 0, stylize.stderr[-3000:]
    optimize = run(wheel_venv, ["nst-optimize", "--input", "photos/photo0.png", "--style-image", "paintings/dots.png",
                                "--output", "optimized.png", "--steps", "2", "--size", "32"], tmp_path)
    assert optimize.returncode == 0, optimize.stderr[-3000:]
    evaluate = run(wheel_venv, ["nst-evaluate", "--ckpt", str(ckpt), "--content-dir", "photos", "--style-dir",
                                "paintings", "--size", "32", "--opt-steps", "0", "--log", "tb"], tmp_path)
    assert evaluate.returncode == 0, evaluate.stderr[-3000:]
    assert all((tmp_path / name).is_file() for name in ("out.png", "optimized.png", "tb/evaluation.json"))
