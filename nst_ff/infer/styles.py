"""Style choices of a stylize run: one style by name or index, weighted mixes of several, interpolations from
one style to another. Each is a row of style weights [N] for the network, with a label and a file-name slug;
every mistake raises UsageError naming the problem and the valid choices."""

import math
from dataclasses import dataclass

import torch

from nst_ff.errors import UsageError

MAX_STEPS = 100  # images in one --interpolate: a strip of 100 is already a film


@dataclass(frozen=True)
class StyleChoice:
    """One output per photo: `weights` [N] is a one-hot row or a convex mix of the checkpoint's styles."""

    label: str  # for sheets and logs: "starry_night" or "0.7 starry_night + 0.3 the_scream"
    slug: str  # for file names and TensorBoard tags: "starry_night" or "starry_night@0.7+the_scream@0.3"
    weights: torch.Tensor


def available_styles(style_names: list[str]) -> str:
    return "available styles: " + ", ".join(f"{index} {name}" for index, name in enumerate(style_names))


def resolve_style(token: str, style_names: list[str]) -> int:
    """A style name, or its index when no style has that name."""
    token = token.strip()
    if token in style_names:
        return style_names.index(token)
    if token.lstrip("+-").isdecimal():
        index = int(token)
        if 0 <= index < len(style_names):
            return index
        raise UsageError(
            f"style index {token} is out of range 0-{len(style_names) - 1}; {available_styles(style_names)}"
        )
    raise UsageError(f"unknown style {token!r}; {available_styles(style_names)}")


def _split(text: str, option: str) -> list[str]:
    items = [item.strip() for item in text.split(",")]
    if not text.strip() or any(not item for item in items):
        raise UsageError(f"{option} {text!r}: expected a comma-separated list with no empty items")
    return items


def mix_choice(weights: torch.Tensor, style_names: list[str]) -> StyleChoice:
    used = [(style_names[i], f"{w:.3g}") for i, w in enumerate(weights.tolist()) if w > 0]
    if len(used) == 1:
        return StyleChoice(used[0][0], used[0][0], weights)
    return StyleChoice(
        " + ".join(f"{w} {name}" for name, w in used), "+".join(f"{name}@{w}" for name, w in used), weights
    )


def named_weights(weights: torch.Tensor, style_names: list[str]) -> dict[str, float]:
    return {name: round(w, 6) for name, w in zip(style_names, weights.tolist(), strict=True) if w > 0}


def parse_styles(text: str, style_names: list[str]) -> list[StyleChoice]:
    """`--style starry_night,3`: one choice per distinct style, in the order given."""
    indices = dict.fromkeys(resolve_style(token, style_names) for token in _split(text, "--style"))
    return [mix_choice(torch.eye(len(style_names))[i], style_names) for i in indices]


def parse_mix(text: str, style_names: list[str]) -> StyleChoice:
    """`--style-mix a:0.7,b:0.3` (names or indices) or a bare `a,b` for equal weights; normalised to sum 1."""
    items = _split(text, "--style-mix")
    weighted = [":" in item for item in items]
    if any(weighted) and not all(weighted):
        raise UsageError(f"--style-mix {text!r}: give a weight to every style (a:0.7,b:0.3) or to none (a,b)")
    pairs = []
    for item in items:
        if item.count(":") > 1:  # style names never hold one
            raise UsageError(f"--style-mix {text!r}: {item!r} is not NAME:WEIGHT")
        name, _, weight_text = item.rpartition(":") if ":" in item else (item, "", "1")
        try:
            weight = float(weight_text)
        except ValueError:
            raise UsageError(f"--style-mix {text!r}: weight {weight_text!r} of {name!r} is not a number") from None
        if not math.isfinite(weight) or weight < 0:
            raise UsageError(f"--style-mix {text!r}: weights must be finite and non-negative, got {weight_text}")
        pairs.append((resolve_style(name, style_names), weight))
    largest = max(weight for _, weight in pairs)
    if largest <= 0:
        raise UsageError(f"--style-mix {text!r}: the weights sum to zero")
    weights = torch.zeros(len(style_names), dtype=torch.float64)
    for index, weight in pairs:  # scaled by the largest first: weights near the float limit cannot sum to inf
        weights[index] += weight / largest
    return mix_choice((weights / weights.sum()).float(), style_names)


def parse_interpolation(text: str, steps: int, style_names: list[str]) -> tuple[list[StyleChoice], str]:
    """`--interpolate a,b --steps K`: K mixes going from pure a to pure b, and their name ("a-to-b")."""
    items = _split(text, "--interpolate")
    if len(items) != 2:
        raise UsageError(f"--interpolate {text!r}: expected exactly two styles, as in a,b")
    if steps < 2:
        raise UsageError(f"--steps {steps}: an interpolation needs at least 2 steps")
    if steps > MAX_STEPS:
        raise UsageError(f"--steps {steps}: an interpolation has at most {MAX_STEPS} steps")
    a, b = (resolve_style(item, style_names) for item in items)
    eye = torch.eye(len(style_names))
    path = f"{style_names[a]}-to-{style_names[b]}"
    choices = []
    for step in range(steps):
        t = step / (steps - 1)
        mix = mix_choice((1 - t) * eye[a] + t * eye[b], style_names)
        choices.append(StyleChoice(mix.label, f"{path}_{step:02d}", mix.weights))
    return choices, path


def all_styles(style_names: list[str]) -> list[StyleChoice]:
    return [mix_choice(row, style_names) for row in torch.eye(len(style_names))]
