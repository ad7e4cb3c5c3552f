"""Temporal stability at inference, in two parts that --temporal turns on together.

Norms: each conditional instance norm normalises a frame with that frame's own per-channel mean and variance. In a
video those statistics jump with compression noise, a hand entering the picture or a small pan, and every
jump repaints the whole frame: flicker. Here each norm uses an exponential running average of its statistics
over the frames instead, restarted at scene cuts (a jump of the colour histogram), so that the style changes
only as fast as the scene does. Forward hooks do it: the network itself stays untouched, and without a
smoother it computes exactly what it computes for photos.

Flow: a per-frame network still answers noise and small moves with new brushstrokes. Each output is therefore
blended with the previous output moved along the optical flow of the input frames (OpenCV's DIS flow, a few
ms a frame on a CPU), where the moved previous frame agrees with the current one (no occlusion, no new
content): strokes follow the motion instead of boiling. This part works on the output alone, so it also serves
ONNX models and tiled frames.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial

import numpy as np
import torch

from nst_ff.errors import UsageError
from nst_ff.model.transformer import ConditionalInstanceNorm2d

MOMENTUM = 0.9  # weight of the running average against each new frame: about 10 frames of memory
CUT_THRESHOLD = 0.35  # histogram distance (0: equal, 1: disjoint) above which a frame starts a new scene
HISTOGRAM_BINS = 16  # per colour channel
FLOW_BLEND = 0.6  # share of the moved previous output in each output where the two frames agree
AGREEMENT = 0.05  # colour difference (in [0, 1]) at which the frames are taken to disagree (Gaussian width)


def colour_histograms(frames: torch.Tensor) -> torch.Tensor:
    """frames [B, 3, H, W] in [0, 1] -> normalised colour histograms [B, 3, HISTOGRAM_BINS]."""
    bins = (frames.float().clamp(0, 1) * (HISTOGRAM_BINS - 1)).round().long().flatten(2)  # [B, 3, H*W]
    counts = torch.zeros(*bins.shape[:2], HISTOGRAM_BINS, device=frames.device).scatter_add_(
        2, bins, torch.ones_like(bins, dtype=torch.float))
    return counts / bins.shape[-1]


class SceneCuts:
    """Tells which frames start a scene: the first one, and each whose colour histogram jumps from the last."""

    def __init__(self, threshold: float = CUT_THRESHOLD):
        self.threshold = threshold
        self.histogram = None  # of the last frame seen

    def __call__(self, frames: torch.Tensor) -> list[bool]:
        """frames [B, 3, H, W], the clip's next ones -> for each, does it start a scene?"""
        histograms = colour_histograms(frames)  # [B, 3, bins]
        previous = torch.cat([histograms[:1] if self.histogram is None else self.histogram, histograms[:-1]])
        distance = 0.5 * (histograms - previous).abs().sum(dim=-1).mean(dim=-1)  # [B], total variation
        starts = (distance > self.threshold).tolist()
        if self.histogram is None:
            starts[0] = True
        self.histogram = histograms[-1:]
        return starts


class NormSmoother:
    """Running averages of every CIN's statistics across the frames of one clip in one style; feed it the
    clip's frames in order, batch after batch.

    Each norm keeps one average per picture size: --stroke-scale paints every frame twice, at full size and at
    1/scale, two different videos whose statistics must not be mixed (one average over both flickers more than
    no smoothing: 1.15-2.3x the per-frame warping error on synthetic pans and zooms). Both passes are smoothed:
    the coarse one gives the output its colour fields, where a jump of the statistics shows most, and its fewer
    pixels make its statistics the noisier; the full one gives the strokes, whose contrast the variance sets.
    Smoothing both did as well as the better of either alone on every clip measured."""

    def __init__(self, network, momentum: float = MOMENTUM):
        self.norms = [m for m in network.modules() if isinstance(m, ConditionalInstanceNorm2d)]
        self.momentum = momentum
        self.stats: dict[tuple, tuple[torch.Tensor, torch.Tensor]] = {}  # (norm index, H, W) -> mean, var [C]

    @contextmanager
    def smoothing(self, starts: list[bool]) -> Iterator[None]:
        """Within the block, the network normalises the clip's next len(starts) frames (one style row per
        frame) with running statistics; `starts` marks the frames that start a scene."""
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
        mean, var = self._running((index, *x.shape[-2:]), mean, var, starts)
        scale = (style_weights.float() @ norm.gamma.float()) * torch.rsqrt(var + norm.eps)  # [B, C]
        shift = style_weights.float() @ norm.beta.float() - mean * scale
        return (x.float() * scale[..., None, None] + shift[..., None, None]).to(output.dtype)

    def _running(self, key: tuple, mean: torch.Tensor, var: torch.Tensor, starts: list[bool]):
        """Per frame, in order: the running mean and variance after that frame, [B, C] each."""
        means, variances = [], []
        previous = self.stats.get(key)
        for t, start in enumerate(starts):
            if previous is None or start:
                previous = (mean[t], var[t])
            else:
                previous = tuple(torch.lerp(new, old, self.momentum)
                                 for new, old in zip((mean[t], var[t]), previous, strict=True))
            means.append(previous[0])
            variances.append(previous[1])
        self.stats[key] = previous
        return torch.stack(means), torch.stack(variances)


class Temporal:
    """The stability parts for one clip in one style: scene cuts, and norms and/or flow."""

    def __init__(self, network=None, flow: bool = True):
        self.cuts = SceneCuts()
        self.norms = NormSmoother(network) if network is not None else None
        self.flow = FlowBlend() if flow else None


def _require_cv2():
    try:
        import cv2
    except ImportError:
        raise UsageError('--temporal flow needs OpenCV, which is not installed: pip install -e ".[video]" '
                         "(or --temporal off)") from None
    return cv2


class FlowBlend:
    """Blends each output with the previous output moved along the input's optical flow, where they agree."""

    def __init__(self, blend: float = FLOW_BLEND, agreement: float = AGREEMENT):
        cv2 = _require_cv2()
        self.flow = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_FAST)
        self.blend, self.agreement = blend, agreement
        self.previous = None  # (input [H, W, 3] float32, its gray uint8, output [H, W, 3] float32)

    def __call__(self, frames: torch.Tensor, painted: torch.Tensor, starts: list[bool]) -> torch.Tensor:
        """frames and painted [B, 3, H, W] on the CPU, the clip's next ones -> painted, blended."""
        inputs = frames.permute(0, 2, 3, 1).float().contiguous().numpy()  # [B, H, W, 3]
        outputs = painted.permute(0, 2, 3, 1).float().contiguous().numpy().copy()
        for t, start in enumerate(starts):
            gray = (inputs[t] @ np.float32([0.299, 0.587, 0.114]) * 255).round().astype(np.uint8)
            if self.previous is not None and not start:
                outputs[t] = self._blended(inputs[t], gray, outputs[t])
            self.previous = (inputs[t], gray, outputs[t])
        return torch.from_numpy(outputs).permute(0, 3, 1, 2).contiguous()

    def _blended(self, frame: np.ndarray, gray: np.ndarray, output: np.ndarray) -> np.ndarray:
        cv2 = _require_cv2()
        previous_frame, previous_gray, previous_output = self.previous
        flow = self.flow.calc(gray, previous_gray, None)  # [H, W, 2]: where each pixel was in the previous frame
        height, width = gray.shape
        grid_x, grid_y = np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32))
        map_x, map_y = grid_x + flow[..., 0], grid_y + flow[..., 1]
        moved_frame, moved_output = (cv2.remap(image, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
                                     for image in (previous_frame, previous_output))
        inside = (map_x >= 0) & (map_x <= width - 1) & (map_y >= 0) & (map_y <= height - 1)
        difference = np.abs(moved_frame - frame).mean(axis=-1)  # [H, W]
        weight = self.blend * inside * np.exp(-0.5 * (difference / self.agreement) ** 2)
        return output + weight[..., None] * (moved_output - output)
