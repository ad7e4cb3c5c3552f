"""What the command-line scripts share: a parser whose errors are one line, and value types.
Every user mistake is one line on stderr and exit code 2."""

import argparse
import sys


class Parser(argparse.ArgumentParser):
    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")  # one line, not the long usage block


def fail(prog: str, error: BaseException | str) -> int:
    print(f"{prog}: error: {error}", file=sys.stderr)
    return 2


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
