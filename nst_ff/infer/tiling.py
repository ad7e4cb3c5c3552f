"""The network on images of any size in bounded memory: tile by tile, with every instance norm exact.

Instance norm needs each channel's mean and variance over the whole image, so tiles cannot simply be run
apart (that leaves seams and shifted colours). Here each norm's statistics are gathered over all tiles
first, recomputing the cheap full-resolution layers before it, and then applied. The quarter-resolution
residual blocks, most of the network's work, run once on whole feature maps (128 channels at 1/16 of the
pixels), so memory grows with the image at about 120 bytes per pixel instead of the untiled ~1 kB.
"""

import math

import torch
import torch.nn.functional as F
from torch import nn

from nst_ff.model.transformer import ConvCIN, StyleTransferNetwork, pad_for_network

# Above this many pixels per image, stylize tiles automatically: the untiled network needs ~1 kB per pixel.
AUTO_TILE_PIXELS = 2048 * 2048
DEFAULT_TILE = 1024


def _geometry(layer: ConvCIN) -> tuple[int, int, int, int]:
    upsample = 2 if layer.upsample else 1
    (kernel, _), (stride, _), pad = layer.conv.kernel_size, layer.conv.stride, layer.pad.padding[0]
    return upsample, kernel, stride, pad


def _output_length(layer: ConvCIN, length: int) -> int:
    upsample, kernel, stride, pad = _geometry(layer)
    return (upsample * length + 2 * pad - kernel) // stride + 1


def _plan_axis(layers: list[ConvCIN], lengths: list[int], start: int, stop: int) -> list[tuple]:
    """For output rows [start, stop) of the last layer, per layer: the input rows [lo, hi) to read, the crop
    (offset, length) after upsampling, and the reflection (before, after) where the rows meet the border."""
    steps = []
    for layer, length in zip(reversed(layers), reversed(lengths[:-1]), strict=True):
        upsample, kernel, stride, pad = _geometry(layer)
        first, last = start * stride - pad, (stop - 1) * stride + kernel - pad  # in upsampled, unpadded rows
        inside_first, inside_last = max(first, 0), min(last, upsample * length)
        lo, hi = inside_first // upsample, -(-inside_last // upsample)
        steps.append((lo, hi, inside_first - lo * upsample, inside_last - inside_first,
                      inside_first - first, last - inside_last))
        start, stop = lo, hi
    return steps[::-1]


def _activate_(layer: ConvCIN, x: torch.Tensor) -> torch.Tensor:
    if isinstance(layer.activation, nn.ReLU):
        return x.relu_()
    if isinstance(layer.activation, nn.Sigmoid):
        return x.sigmoid_()
    return x


def _affine(layer: ConvCIN, mean: torch.Tensor, var: torch.Tensor, style_weights: torch.Tensor):
    """Instance norm with known statistics [B, C] and the blended gamma/beta as scale and shift [B, C, 1, 1]."""
    norm = layer.norm
    scale = (style_weights @ norm.gamma).double() * torch.rsqrt(var + norm.eps)
    shift = (style_weights @ norm.beta).double() - mean * scale
    dtype = norm.gamma.dtype
    return scale[..., None, None].to(dtype), shift[..., None, None].to(dtype)


def _run_chain(source: torch.Tensor, layers: list[ConvCIN], affines: list, tile: int, emit) -> None:
    """Runs `layers` over `source` [B, C, H, W] one output tile at a time. Every layer but the last is
    normalised with its (scale, shift) from `affines` and activated; emit(rows, cols, x) receives the last
    layer's convolution output (before its norm) for those output rows and columns."""
    heights, widths = _lengths(layers, source.shape[-2]), _lengths(layers, source.shape[-1])
    for top in range(0, heights[-1], tile):
        rows = slice(top, min(top + tile, heights[-1]))
        plan_rows = _plan_axis(layers, heights, rows.start, rows.stop)
        for left in range(0, widths[-1], tile):
            cols = slice(left, min(left + tile, widths[-1]))
            plan_cols = _plan_axis(layers, widths, cols.start, cols.stop)
            x = source[..., plan_rows[0][0]:plan_rows[0][1], plan_cols[0][0]:plan_cols[0][1]]
            for i, (layer, (*_, row_at, row_len, top_pad, bottom_pad), (*_, col_at, col_len, left_pad, right_pad)) \
                    in enumerate(zip(layers, plan_rows, plan_cols, strict=True)):
                if layer.upsample:
                    x = F.interpolate(x, scale_factor=2, mode="nearest")
                x = x[..., row_at:row_at + row_len, col_at:col_at + col_len]
                if top_pad or bottom_pad or left_pad or right_pad:
                    x = F.pad(x, (left_pad, right_pad, top_pad, bottom_pad), mode="reflect")
                x = layer.conv(x)
                if i < len(layers) - 1:
                    scale, shift = affines[i]
                    x = _activate_(layer, x.mul_(scale).add_(shift))
            emit(rows, cols, x)


class _Moments:
    """Per-channel mean and variance over tiles, combined exactly (Chan et al.'s parallel update)."""

    def __init__(self):
        self.count, self.mean, self.m2 = 0, 0.0, 0.0

    def __call__(self, rows, cols, x: torch.Tensor) -> None:
        var, mean = torch.var_mean(x.float(), dim=(-2, -1), correction=0)
        n, mean, m2 = x.shape[-2] * x.shape[-1], mean.double(), var.double() * x.shape[-2] * x.shape[-1]
        total = self.count + n
        delta = mean - self.mean
        self.mean = self.mean + delta * (n / total)
        self.m2 = self.m2 + m2 + delta**2 * (self.count * n / total)
        self.count = total

    @property
    def var(self) -> torch.Tensor:
        return self.m2 / self.count


def _chain_tile(layers: list[ConvCIN], tile: int) -> int:
    """`tile`, given in the chain's input pixels, in its output pixels."""
    scale = math.prod((2 if layer.upsample else 1) / layer.conv.stride[0] for layer in layers)
    return max(8, int(tile * scale))


def _through(source: torch.Tensor, layers: list[ConvCIN], style_weights: torch.Tensor, tile: int) -> torch.Tensor:
    """`layers` applied to `source` in tiles of `tile` source pixels, each norm's statistics gathered over all
    tiles first; only the output is kept whole (it is small: quarter resolution, or the 3-channel image)."""
    affines = []
    for k in range(len(layers) - 1):
        moments = _Moments()
        _run_chain(source, layers[:k + 1], affines, _chain_tile(layers[:k + 1], tile), moments)
        affines.append(_affine(layers[k], moments.mean, moments.var, style_weights))
    out = source.new_empty(source.shape[0], layers[-1].conv.out_channels, _lengths(layers, source.shape[-2])[-1],
                           _lengths(layers, source.shape[-1])[-1])

    def keep(rows, cols, x):
        out[..., rows, cols] = x

    _run_chain(source, layers, affines, _chain_tile(layers, tile), keep)
    var, mean = torch.var_mean(out, dim=(-2, -1), correction=0)
    scale, shift = _affine(layers[-1], mean.double(), var.double(), style_weights)
    return _activate_(layers[-1], out.mul_(scale).add_(shift))


def _lengths(layers: list[ConvCIN], length: int) -> list[int]:
    """The length of one axis at the input of `layers` and after each of them."""
    lengths = [length]
    for layer in layers:
        lengths.append(_output_length(layer, lengths[-1]))
    return lengths


@torch.no_grad()
def tiled_forward(network: StyleTransferNetwork, images: torch.Tensor, style_weights: torch.Tensor,
                  tile: int = DEFAULT_TILE) -> torch.Tensor:
    """network(images, style_weights) computed tile by tile: the same result in bounded memory."""
    if style_weights.shape != (images.shape[0], network.num_styles):
        raise ValueError(f"style_weights must have shape [batch, {network.num_styles}], "
                         f"got {list(style_weights.shape)}")
    style_weights = style_weights.to(network.contract[0].norm.gamma.dtype)
    height, width = images.shape[-2:]
    x = _through(pad_for_network(images), list(network.contract), style_weights, tile)
    quarter = max(8, tile // 4)  # tiles are given in image pixels; the middle runs at a quarter of them
    for block in network.residual:
        x += _through(_through(x, [block.conv1], style_weights, quarter), [block.conv2], style_weights, quarter)
    return _through(x, list(network.expand), style_weights, quarter)[..., :height, :width]
