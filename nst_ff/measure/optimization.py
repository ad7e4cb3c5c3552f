"""Per-image optimisation (Gatys et al. 2016) against the training loss: the reference a feed-forward
network approximates."""

from collections.abc import Callable

import torch

from nst_ff.errors import UsageError
from nst_ff.loss.perceptual import PerceptualLoss

OPTIMIZERS = ("lbfgs", "adam")
INITS = ("content", "noise", "style")
# L-BFGS takes unit steps along its quasi-Newton direction (jcjohnson/neural-style); Adam moves pixels in
# [0, 1] by about lr per step, and 0.02 (5 grey levels) converges in a few hundred steps without noise.
DEFAULT_LR = {"lbfgs": 1.0, "adam": 0.02}


def initial_image(init: str, content: torch.Tensor, style: torch.Tensor | None, seed: int = 0) -> torch.Tensor:
    """[1, 3, H, W] starting image: the photo, uniform noise, or the style image resized to the photo's size."""
    if init == "content":
        return content.clone()
    if init == "noise":
        generator = torch.Generator().manual_seed(seed)
        return torch.rand(content.shape, generator=generator).to(content.device)
    if init == "style":
        if style is None:
            raise UsageError("init 'style' needs a style image")
        return torch.nn.functional.interpolate(
            style[None].to(content.device), size=content.shape[-2:], mode="bilinear", antialias=True
        ).clamp(0, 1)
    raise UsageError(f"unknown init {init!r}; choose one of {', '.join(INITS)}")


def optimize_image(loss: PerceptualLoss, content: torch.Tensor, style_weights: torch.Tensor, init_image: torch.Tensor,
                   steps: int, optimizer: str = "lbfgs", lr: float | None = None,
                   on_step: Callable[[int, torch.Tensor, dict[str, float]], None] | None = None,
                   ) -> tuple[torch.Tensor, dict[str, float]]:
    """Minimise `loss` over the pixels of one image [1, 3, H, W] in `steps` optimiser steps.

    Pixels are optimised directly and projected onto [0, 1] before every evaluation, so every loss
    reported is that of a valid image. (A sigmoid parametrisation was tried: saturated photo pixels
    then barely move, and L-BFGS reached a 15% higher loss in the same number of steps.)
    `on_step(step, image, terms)` sees the image and its loss terms before step `step` is taken.
    Returns the final image and its loss terms.
    """
    image = init_image.detach().clone().contiguous().requires_grad_(True)
    solver = _solver(image, optimizer, lr)

    def closure(evaluations: list) -> torch.Tensor:
        """One loss evaluation, recorded as (image, terms); the first of a step is the step's start."""
        with torch.no_grad():
            image.clamp_(0, 1)
        solver.zero_grad()
        terms = loss(image, content, style_weights)
        terms["total"].backward()
        evaluations.append((image.detach().clone(), {name: value.detach() for name, value in terms.items()}))
        return terms["total"]

    for step in range(steps):
        evaluations = []
        solver.step(lambda evaluations=evaluations: closure(evaluations))
        if on_step is not None:
            start, terms = evaluations[0]
            on_step(step, start, _floats(terms))
    with torch.no_grad():
        image.clamp_(0, 1)
        terms = _floats(loss(image, content, style_weights))
    final = image.detach()
    if on_step is not None:
        on_step(steps, final, terms)
    return final, terms


def _floats(terms: dict[str, torch.Tensor]) -> dict[str, float]:
    return {name: value.item() for name, value in terms.items()}


def _solver(image: torch.Tensor, optimizer: str, lr: float | None) -> torch.optim.Optimizer:
    if optimizer not in OPTIMIZERS:
        raise UsageError(f"unknown optimizer {optimizer!r}; choose one of {', '.join(OPTIMIZERS)}")
    lr = DEFAULT_LR[optimizer] if lr is None else lr
    if optimizer == "adam":
        return torch.optim.Adam([image], lr=lr)
    # One L-BFGS iteration per step, with a strong-Wolfe line search (up to 20 loss evaluations):
    # without one, full quasi-Newton steps overshoot and the loss can climb far above where it started.
    # No tolerances: the loss is a mean of relative errors, its gradients per pixel are tiny.
    return torch.optim.LBFGS([image], lr=lr, max_iter=1, max_eval=20, history_size=50,
                             line_search_fn="strong_wolfe", tolerance_grad=0.0, tolerance_change=0.0)
