"""What the command-line scripts share: a parser whose errors are one line, the one place where an expected
failure (nst_ff.errors.NstError) becomes one line on stderr and exit code 2, and value types."""

import argparse
import os
import signal
import sys
import threading
from collections.abc import Callable

import torch

from nst_ff.errors import NstError
from nst_ff.io.config import pin_environment


class Parser(argparse.ArgumentParser):
    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")  # one line, not the long usage block


def fail(prog: str, error: BaseException | str) -> int:
    print(f"{prog}: error: {error}", file=sys.stderr)
    return 2


def expected_failure(error: BaseException) -> BaseException | None:
    """The NstError behind `error` (itself, or the cause Hydra wraps when a config node fails to build), or an
    OSError of the machine (a full disk, a folder without permission); None for a bug."""
    while error is not None and not isinstance(error, NstError | OSError):
        error = error.__cause__
    return error


def exit_code(prog: str, command: Callable[[], object]) -> int:
    """Runs `command`: its exit code (0 unless it returns one); an expected failure is one line on stderr and exit
    code 2; anything else raises on, with its traceback (exit code 1)."""
    try:
        result = command()
    except BrokenPipeError:  # the reader of stdout left (`--list-layers | head`): stop quietly, as `cat` would
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # so that the exit's flush finds no pipe
        return 128 + signal.SIGPIPE
    except Exception as error:
        failure = expected_failure(error)
        if failure is None:
            raise
        return fail(prog, failure)
    return result if isinstance(result, int) else 0


class Terminated(BaseException):
    """SIGTERM, raised where the command is, like Ctrl-C's KeyboardInterrupt: files being written are removed on
    the way out (a BaseException, so that no `except Exception` keeps the command going)."""


def _terminate(signum, frame):
    raise Terminated


def run_command(prog: str, parse: Callable[[list[str] | None], argparse.Namespace],
                run: Callable[[argparse.Namespace], object], argv: list[str] | None) -> int:
    """A command's main: the environment's paths pinned (for every process it starts), its arguments parsed, then
    `run(args)` under exit_code. Ctrl-C and SIGTERM stop it with one line and the shell's exit codes (130, 143);
    what was finished before stays, what was being written is removed."""
    pin_environment()
    try:
        args = parse(argv)
    except SystemExit as exit:  # --help, or a bad option already reported in one line
        return int(exit.code or 0)
    main_thread = threading.current_thread() is threading.main_thread()  # only it may set a signal handler
    previous = signal.signal(signal.SIGTERM, _terminate) if main_thread else None
    try:
        return exit_code(prog, lambda: run(args))
    except KeyboardInterrupt:
        print(f"{prog}: stopped by Ctrl-C", file=sys.stderr)
        return 128 + signal.SIGINT
    except Terminated:
        print(f"{prog}: stopped by SIGTERM", file=sys.stderr)
        return 128 + signal.SIGTERM
    finally:
        if main_thread:
            signal.signal(signal.SIGTERM, previous)


def device(text: str) -> torch.device:
    """cpu, cuda or cuda:N, refused where this machine has no such device."""
    try:
        chosen = torch.device(text)
    except RuntimeError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a device; use cpu or cuda") from None
    if chosen.type == "cuda" and not torch.cuda.is_available():
        raise argparse.ArgumentTypeError("no CUDA device is available; use cpu")
    if chosen.type not in ("cpu", "cuda"):
        raise argparse.ArgumentTypeError(f"{text!r}: use cpu or cuda")
    return chosen


def positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value


def int_from(least: int, most: int):
    """An argparse type: a whole number from `least` to `most`, the bounds named when refused."""
    def whole(text: str) -> int:
        value = int(text)
        if not least <= value <= most:
            raise argparse.ArgumentTypeError(f"must be from {least} to {most}, got {text}")
        return value

    whole.__name__ = "int"  # argparse names the type in its message: "invalid int value"
    return whole


def non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return value


def non_negative(text: str) -> float:
    value = float(text)
    if not value >= 0:  # also refuses nan
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return value


def layer_list(text: str) -> list[str]:
    layers = [name.strip() for name in text.split(",") if name.strip()]
    if not layers:
        raise argparse.ArgumentTypeError("expected comma-separated VGG layer names, e.g. relu3_3")
    return layers


def layer_weights(text: str) -> dict[str, float]:
    """`relu1_2:0.5,relu2_2:4` -> {layer: weight}; a layer without `:weight` weighs 1."""
    weights = {}
    for item in layer_list(text):
        name, _, weight = item.partition(":")
        try:
            weights[name.strip()] = non_negative(weight) if weight else 1.0
        except (ValueError, argparse.ArgumentTypeError):
            raise argparse.ArgumentTypeError(f"bad weight in {item!r}: expected LAYER or LAYER:WEIGHT >= 0") from None
    return weights
