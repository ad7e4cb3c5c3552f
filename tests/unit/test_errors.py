"""One family of expected failures: every exception class of nst_ff derives from NstError, and the command-line layer
turns one (also wrapped by Hydra) into one line and exit code 2, while a bug keeps its traceback."""

import importlib
import inspect
import pkgutil
import subprocess
import sys

import pytest

import nst_ff
from conftest import ROOT
from nst_ff.cli.arguments import exit_code
from nst_ff.errors import NstError, UsageError


def exception_classes() -> list[type]:
    found = []
    for module in pkgutil.walk_packages(nst_ff.__path__, "nst_ff."):
        imported = importlib.import_module(module.name)
        found += [cls for _, cls in inspect.getmembers(imported, inspect.isclass)
                  if issubclass(cls, BaseException) and cls.__module__ == module.name]
    return found


# Not failures: stops the user asked for (Ctrl-C after the last step was saved, SIGTERM), which exit 130 and 143 as a
# shell expects.
STOPS = {"nst_ff.train.callbacks.Interrupted", "nst_ff.cli.arguments.Terminated"}


def test_every_exception_class_of_the_package_is_an_nst_error():
    classes = exception_classes()
    assert len(classes) >= 10  # the walk did reach the modules that define them
    outside = [f"{cls.__module__}.{cls.__qualname__}" for cls in classes if not issubclass(cls, NstError)]
    assert sorted(outside) == sorted(STOPS)


def test_an_expected_failure_is_one_line_and_exit_code_2(capsys):
    def command():
        raise UsageError("--size 0: must be at least 1")

    assert exit_code("stylize.py", command) == 2
    assert capsys.readouterr().err == "stylize.py: error: --size 0: must be at least 1\n"


def test_an_nst_error_that_hydra_wraps_is_still_one_line(capsys):
    from hydra.errors import InstantiationException

    def command():
        try:
            raise NstError("VGG weights file not found: /x/vgg.pth")
        except NstError as error:
            raise InstantiationException("Error in call to target 'PerceptualLoss': ...") from error

    assert exit_code("train.py", command) == 2
    assert capsys.readouterr().err == "train.py: error: VGG weights file not found: /x/vgg.pth\n"


def test_a_bug_keeps_its_traceback():
    def command():
        raise KeyError("a bug")

    with pytest.raises(KeyError):
        exit_code("stylize.py", command)


def test_train_reports_a_missing_vgg_file_in_one_line_naming_its_absolute_path(tmp_path, image_dirs, monkeypatch,
                                                                                capsys):
    from hydra import compose, initialize_config_dir

    from conftest import ROOT, train_overrides
    from nst_ff.cli.train_main import run

    content, styles = image_dirs
    monkeypatch.chdir(tmp_path)
    overrides = [item for item in train_overrides(tmp_path, content, styles) if not item.startswith("loss.vgg")]
    with initialize_config_dir(str(ROOT / "conf"), version_base="1.3"):
        cfg = compose("train", overrides=[*overrides, "loss.vgg.weights=missing/vgg16.pth"])
    with pytest.raises(SystemExit) as exit:
        run(cfg)
    assert exit.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err == f"train.py: error: VGG weights file not found: {tmp_path / 'missing' / 'vgg16.pth'} " \
                  "(expected a path, 'imagenet' or 'random')"
    assert not (tmp_path / "ckpt").exists()


def test_a_reader_that_leaves_early_stops_the_command_quietly():
    """`stylize.py --list-layers | head -1`: no error line, and the exit code of a program stopped by SIGPIPE."""
    command = [sys.executable, str(ROOT / "stylize.py"), "--ckpt", str(ROOT / "checkpoints" / "ready12.pt"),
               "--list-layers"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    process.stdout.close()  # the reader is gone before the command has written a line
    assert process.wait(timeout=120) == 141 and process.stderr.read() == ""
