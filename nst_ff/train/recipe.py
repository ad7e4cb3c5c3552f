"""The training recipe around the loss: which style each example gets, and the learning rate over the run."""

import math
from dataclasses import dataclass

import torch

from nst_ff.errors import NstError


class RecipeError(NstError, ValueError):
    """A training-recipe setting that cannot work; the message names the setting and the choices."""


@dataclass(frozen=True)
class Recipe:
    """Adam's learning rates (shared weights, and the per-style CIN tables: None = the shared rate), a linear
    warm-up, a cosine decay to `final_lr_fraction` at the run's last step, and how styles are drawn."""

    lr: float = 1e-3
    cin_lr: float | None = None
    warmup_steps: int = 0
    final_lr_fraction: float = 1.0
    style_sampling: str = "balanced"

    def rates(self) -> dict[str, float]:
        return {"shared": self.lr, "cin": self.lr if self.cin_lr is None else self.cin_lr}


class StyleSampler:
    """Style indices for each batch.

    `uniform` is Magenta's: each example's style drawn independently. `balanced` gives every style equally
    often: each batch holds `batch_size // N` copies of every style (so every style is in every batch when
    batch_size >= N), and the remaining places are taken in turn from shuffled passes over the styles, so
    that over any N consecutive remainders each style comes up once. A style's CIN rows learn only from
    the examples of that style, so a style missing from a stretch of batches is a style not learning.
    """

    MODES = ("balanced", "uniform")

    def __init__(self, num_styles: int, mode: str = "balanced"):
        if mode not in self.MODES:
            raise RecipeError(f"style_sampling={mode}: choose one of {', '.join(self.MODES)}")
        self.num_styles = num_styles
        self.mode = mode
        self.queue: list[int] = []

    def __call__(self, batch_size: int) -> torch.Tensor:
        """[batch_size] style indices, in random order."""
        n = self.num_styles
        if self.mode == "uniform":
            return torch.randint(n, (batch_size,))
        rest = []
        for _ in range(batch_size % n):
            if not self.queue:
                self.queue = torch.randperm(n).tolist()
            rest.append(self.queue.pop())
        indices = torch.cat([torch.arange(n).repeat(batch_size // n), torch.tensor(rest, dtype=torch.long)])
        return indices[torch.randperm(batch_size)]


def warmup_cosine(step: int, total_steps: int, warmup_steps: int, final_fraction: float) -> float:
    """Learning-rate factor at `step`: linear warm-up from 1/warmup_steps to 1 over `warmup_steps`, then a
    cosine decay to `final_fraction` at `total_steps` (held there after it). final_fraction 1 means none."""
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    if total_steps <= warmup_steps:
        return 1.0
    progress = min(1.0, (step - warmup_steps) / max(1, total_steps - 1 - warmup_steps))
    return final_fraction + (1 - final_fraction) * 0.5 * (1 + math.cos(math.pi * progress))
