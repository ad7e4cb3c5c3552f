"""Temporal stability at inference: instance-norm statistics that glide from frame to frame.

Each conditional instance norm normalises a frame with that frame's own per-channel mean and variance. In a
video those statistics jump with compression noise, a hand entering the picture or a small pan, and every
jump repaints the whole frame: flicker. Here each norm uses an exponential running average of its statistics
over the frames instead, restarted at scene cuts (a jump of the colour histogram), so that the style changes
only as fast as the scene does. Forward hooks do it: the network itself stays untouched, and without a
smoother it computes exactly what it computes for photos.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial

import torch

from nst_ff.model.transformer import ConditionalInstanceNorm2d

MOMENTUM = 0.9  # weight of the running average against each new frame: about 10 frames of memory
CUT_THRESHOLD = 0.35  # histogram distance (0: equal, 1: disjoint) above which a frame starts a new scene
HISTOGRAM_BINS = 16  # per colour channel


def colour_histograms(frames: torch.Tensor) -> torch.Tensor:
    """frames [B, 3, H, W] in [0, 1] -> normalised colour histograms [B, 3, HISTOGRAM_BINS]."""
    bins = (frames.float().clamp(0, 1) * (HISTOGRAM_BINS - 1)).round().long().flatten(2)  # [B, 3, H*W]
    counts = torch.zeros(*bins.shape[:2], HISTOGRAM_BINS, device=frames.device).scatter_add_(
        2, bins, torch.ones_like(bins, dtype=torch.float))
    return counts / bins.shape[-1]


class NormSmoother:
    """Running averages of every CIN's statistics across the frames of one clip in one style; feed it the
    clip's frames in order, batch after batch."""

    def __init__(self, network, momentum: float = MOMENTUM, cut_threshold: float = CUT_THRESHOLD):
        self.norms = [m for m in network.modules() if isinstance(m, ConditionalInstanceNorm2d)]
        self.momentum, self.cut_threshold = momentum, cut_threshold
        self.stats: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}  # norm index -> mean, var [C]
        self.histogram = None  # of the last frame seen

    def scene_starts(self, frames: torch.Tensor) -> list[bool]:
        """For each frame of the batch [B, 3, H, W]: does it start a scene (the first frame, or after a cut)?"""
        histograms = colour_histograms(frames)  # [B, 3, bins]
        previous = torch.cat([histograms[:1] if self.histogram is None else self.histogram, histograms[:-1]])
        distance = 0.5 * (histograms - previous).abs().sum(dim=-1).mean(dim=-1)  # [B], total variation
        starts = (distance > self.cut_threshold).tolist()
        if self.histogram is None:
            starts[0] = True
        self.histogram = histograms[-1:]
        return starts

    @contextmanager
    def smoothing(self, frames: torch.Tensor) -> Iterator[None]:
        """Within the block, the network normalises these consecutive frames [B, 3, H, W] with running
        statistics (one style row per frame)."""
        starts = self.scene_starts(frames)
        handles = [norm.register_forward_hook(partial(self._normalise, index=i, starts=starts))
                   for i, norm in enumerate(self.norms)]
        try:
            yield
        finally:
            for handle in handles:
                handle.remove()

    def _normalise(self, norm: ConditionalInstanceNorm2d, inputs, output, index: int, starts: list[bool]):
        x, style_weights = inputs  # [B, C, H, W], [B, N]
        var, mean = torch.var_mean(x.float(), dim=(2, 3), correction=0)  # [B, C] each
        mean, var = self._running(index, mean, var, starts)
        scale = (style_weights.float() @ norm.gamma.float()) * torch.rsqrt(var + norm.eps)  # [B, C]
        shift = style_weights.float() @ norm.beta.float() - mean * scale
        return (x.float() * scale[..., None, None] + shift[..., None, None]).to(output.dtype)

    def _running(self, index: int, mean: torch.Tensor, var: torch.Tensor, starts: list[bool]):
        """Per frame, in order: the running mean and variance after that frame, [B, C] each."""
        means, variances = [], []
        previous = self.stats.get(index)
        for t, start in enumerate(starts):
            if previous is None or start:
                previous = (mean[t], var[t])
            else:
                previous = tuple(torch.lerp(new, old, self.momentum)
                                 for new, old in zip((mean[t], var[t]), previous, strict=True))
            means.append(previous[0])
            variances.append(previous[1])
        self.stats[index] = previous
        return torch.stack(means), torch.stack(variances)
