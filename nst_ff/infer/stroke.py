"""Brush-stroke scale at inference: a network paints strokes of the size it was trained at, in pixels, whatever
the photo's size, so a 2048-px photo looks filtered rather than painted. `stroke_scaled` paints the photo a
second time at 1/scale of its size, where the same strokes cover `scale` times more of the picture, and joins
the two passes as a two-level Laplacian pyramid: the coarse pass gives the low frequencies (the large
strokes and their colour fields), the full-size pass the detail above them (crisp edges and fine texture).
Upsampling the coarse pass alone, the obvious alternative, is blurry at every scale above 1."""

from collections.abc import Callable

import torch
import torch.nn.functional as F

from nst_ff.errors import UsageError

MIN_STROKE_SCALE, MAX_STROKE_SCALE = 0.25, 8.0
MIN_COARSE_SIDE = 16  # the network's two stride-2 layers need at least this much to paint anything


def check_stroke_scale(scale: float) -> float:
    if not (MIN_STROKE_SCALE <= scale <= MAX_STROKE_SCALE):  # also refuses nan
        raise UsageError(f"--stroke-scale {scale}: must be between {MIN_STROKE_SCALE:g} and {MAX_STROKE_SCALE:g} "
                         "(1: the strokes the network learned; 2: twice as large)")
    return scale


def _resize(images: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """[..., 3, H, W] -> [..., 3, *size], antialiased when shrinking (no aliasing into the coarse pass)."""
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
    coarse_size = (max(MIN_COARSE_SIDE, round(height / scale)), max(MIN_COARSE_SIDE, round(width / scale)))
    coarse = _resize(paint(_resize(photos, coarse_size)), (height, width))
    detail = full - _resize(_resize(full, coarse_size), (height, width))
    return (coarse + detail).clamp(0, 1)

