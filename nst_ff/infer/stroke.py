"""Brush-stroke scale at inference: a network paints strokes of the size it was trained at, in pixels, whatever
the photo's size, so a 2048-px photo looks filtered rather than painted. `stroke_scaled` paints the photo a
second time at 1/scale of its size, where the same strokes cover `scale` times more of the picture, and joins the
two passes by guided upsampling (He, Sun and Tang, "Guided Image Filtering", 2013; the fast variant of He and Sun,
2015): in every 3x3 window of the small pass, its colours are fitted as a linear function of the full-size
painting's colours there, and those functions, upsampled, are applied to the full-size painting. The large
strokes and colour fields of the small pass land on the edges of the full-size one.

Measured on the ready model at 1024 px (BENCHMARKS.md, "Brush-stroke scale"): upsampling the small pass alone
blurs; adding the full pass's detail to it (a Laplacian pyramid) keeps both passes' edges, a ghost beside every
outline, and doubled the content error; the guided join gives most of the pyramid's style at a quarter of its
content cost."""

from collections.abc import Callable

import torch
import torch.nn.functional as F

from nst_ff.errors import UsageError

MIN_STROKE_SCALE, MAX_STROKE_SCALE = 0.25, 8.0
MIN_COARSE_SIDE = 16  # the network's two stride-2 layers need at least this much to paint anything
# The guided join's window radius (in pixels of the small pass) and its regulariser: a larger radius or eps follows
# the full-size painting more and the small pass's strokes less (measured: r 1, eps 1e-3 kept the most style per
# unit of content error; r 2 lost a quarter to a third of the style gained).
GUIDE_RADIUS, GUIDE_EPS = 1, 1e-3


def check_stroke_scale(scale: float) -> float:
    if not (MIN_STROKE_SCALE <= scale <= MAX_STROKE_SCALE):  # also refuses nan
        raise UsageError(f"--stroke-scale {scale}: must be between {MIN_STROKE_SCALE:g} and {MAX_STROKE_SCALE:g} "
                         "(1: the strokes the network learned; 2: twice as large)")
    return scale


def _resize(images: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """[..., C, H, W] -> [..., C, *size], antialiased when shrinking (no aliasing into the coarse pass)."""
    flat = images.flatten(0, -4).float()  # antialiased bicubic has no bf16/fp16 kernel on the CPU
    resized = F.interpolate(flat, size=size, mode="bicubic", align_corners=False, antialias=True)
    return resized.to(images.dtype).unflatten(0, images.shape[:-3])


def stroke_scaled(paint: Callable[[torch.Tensor], torch.Tensor], photos: torch.Tensor,
                  scale: float) -> torch.Tensor:
    """`paint(photos [B, 3, H, W]) -> [B, S, 3, H, W]` with strokes `scale` times their trained size."""
    full = paint(photos)
    if scale == 1:
        return full
    height, width = photos.shape[-2:]
    other_size = (max(MIN_COARSE_SIDE, round(height / scale)), max(MIN_COARSE_SIDE, round(width / scale)))
    other = paint(_resize(photos, other_size))
    if scale < 1:  # finer strokes: the larger pass shrunk holds all of them, and the full pass's edges too
        return _resize(other, (height, width)).clamp(0, 1)
    joined = torch.empty_like(full)
    for image in range(full.shape[0]):  # one photo at a time: the fit holds 18 planes of the small pass per style
        joined[image] = guided_upsample(_resize(full[image], other_size), other[image], full[image]).clamp(0, 1)
    return joined


def _box(images: torch.Tensor) -> torch.Tensor:
    return F.avg_pool2d(images, 2 * GUIDE_RADIUS + 1, stride=1, padding=GUIDE_RADIUS, count_include_pad=False)


def guided_upsample(guide_small: torch.Tensor, source_small: torch.Tensor, guide: torch.Tensor) -> torch.Tensor:
    """[N, 3, h, w] small guide and source, [N, 3, H, W] guide -> [N, 3, H, W]: the source as a local linear
    function of the guide's colours (a 3x3 matrix and an offset per pixel, fitted at the small size), applied to
    the full-size guide. One output channel at a time: the 12 fitted planes are never all at full size at once."""
    guide_small, source_small, guide = guide_small.float(), source_small.float(), guide.float()
    mean_guide, mean_source = _box(guide_small), _box(source_small)
    products = [guide_small[:, i:i + 1] * guide_small for i in range(3)] + \
        [guide_small[:, i:i + 1] * source_small for i in range(3)]
    moments = _box(torch.cat(products, 1)).unflatten(1, (2, 3, 3))  # [N, 2, 3, 3, h, w]
    covariance = moments[:, 0] - mean_guide[:, :, None] * mean_guide[:, None]  # guide x guide
    cross = moments[:, 1] - mean_guide[:, :, None] * mean_source[:, None]  # guide x source
    eye = GUIDE_EPS * torch.eye(3, device=guide_small.device)
    # source ~ matrix @ guide + offset in each window: the ridge-regularised least squares of the guided filter
    matrix = torch.linalg.solve(covariance.permute(0, 3, 4, 1, 2) + eye, cross.permute(0, 3, 4, 1, 2))
    matrix = matrix.permute(0, 4, 3, 1, 2)  # [N, 3 source, 3 guide, h, w]
    offset = mean_source - (matrix * mean_guide[:, None]).sum(2)
    matrix, offset = _box(matrix.flatten(1, 2)).unflatten(1, (3, 3)), _box(offset)
    size = guide.shape[-2:]
    channels = []
    for channel in range(3):
        weights = F.interpolate(matrix[:, channel], size=size, mode="bilinear", align_corners=False)
        shift = F.interpolate(offset[:, channel:channel + 1], size=size, mode="bilinear", align_corners=False)
        channels.append((weights * guide).sum(1, keepdim=True) + shift)
    return torch.cat(channels, 1)
