"""Dumps of the transformer's (and optionally VGG's) activation maps to TensorBoard: one image per layer, a grid
of chosen channels, each min-max scaled and coloured by a matplotlib colour map, plus a histogram per layer."""

import math
from contextlib import contextmanager

import matplotlib
import numpy as np
import torch
from torch import nn
from torch.utils.tensorboard import SummaryWriter
from torchvision.utils import make_grid

from nst_ff.errors import UsageError
from nst_ff.io.images import to_uint8
from nst_ff.model.transformer import StyleTransferNetwork

CHANNEL_CRITERIA = {
    "first_16": slice(0, 16),
    "last_16": slice(-16, None),
    "first_32": slice(0, 32),
    "last_32": slice(-32, None),
    "every_8th": slice(None, None, 8),
    "every_16th": slice(None, None, 16),
}
GRID_PADDING = 2  # white lines between channels


def transformer_layers(network: StyleTransferNetwork) -> dict[str, nn.Module]:
    """Every conv block by name, in network order; each one's output is after CIN and its activation
    (a residual block's conv2 has none: its output is added to the identity as it is)."""
    layers = {f"contract{i}": layer for i, layer in enumerate(network.contract, 1)}
    for i, block in enumerate(network.residual, 1):
        layers[f"residual{i}.conv1"] = block.conv1
        layers[f"residual{i}.conv2"] = block.conv2
    layers.update({f"expand{i}": layer for i, layer in enumerate(network.expand, 1)})
    return layers


def select_channels(num_channels: int, criterion: str) -> list[int]:
    return list(range(num_channels))[CHANNEL_CRITERIA[criterion]]


def colormap_table(name: str) -> torch.Tensor:
    """The colour map sampled at 256 levels -> [256, 3] uint8; ValueError lists the valid names."""
    try:
        colormap = matplotlib.colormaps[name]
    except KeyError:
        names = sorted(n for n in matplotlib.colormaps if not n.endswith("_r"))
        raise UsageError(f"unknown colour map {name!r}; choose a matplotlib colour map: {', '.join(names)} "
                       "(add _r to reverse one)") from None
    rgb = colormap(np.linspace(0, 1, 256))[:, :3]
    return torch.from_numpy(np.round(rgb * 255)).to(torch.uint8)


def channel_grid(activation: torch.Tensor, channels: list[int], table: torch.Tensor) -> torch.Tensor:
    """Activation [C, H, W] -> uint8 grid [3, H', W'] of the chosen channels, each scaled to its own range."""
    maps = activation[channels].float()  # [K, H, W]
    low = maps.amin(dim=(1, 2), keepdim=True)
    high = maps.amax(dim=(1, 2), keepdim=True)
    # A constant channel has no range: it shows as the colour map's first colour.
    scaled = (maps - low) / (high - low).clamp_min(torch.finfo(torch.float32).tiny)
    levels = scaled.mul(255).round().long().clamp(0, 255)
    coloured = table.to(maps.device)[levels].permute(0, 3, 1, 2)  # [K, 3, H, W]
    return make_grid(coloured, nrow=math.ceil(math.sqrt(len(channels))), padding=GRID_PADDING, pad_value=255)


@contextmanager
def record_outputs(layers: dict[str, nn.Module]):
    """Collects {name: output} of the given modules during the forward passes run inside the block."""
    outputs: dict[str, torch.Tensor] = {}
    handles = [
        module.register_forward_hook(lambda _module, _inputs, output, name=name: outputs.__setitem__(name, output))
        for name, module in layers.items()
    ]
    try:
        yield outputs
    finally:
        for handle in handles:
            handle.remove()


class ActivationDump:
    """One TensorBoard run in `logdir`. Tags: input/<photo>, output/<photo>/<style>,
    activations/<layer>/<photo>/<style> and histograms/<layer>/<photo>/<style>, and with a VGG,
    vgg/<layer>/<photo>/<style> and vgg_histograms/<layer>/<photo>/<style> for the output image."""

    def __init__(self, logdir: str, layers: dict[str, nn.Module], channels: str = "first_16",
                 colormap: str = "nipy_spectral", vgg: nn.Module | None = None):
        self.layers, self.criterion, self.vgg = layers, channels, vgg
        self.table = colormap_table(colormap)
        self.logdir = logdir
        self.writer = None  # opened on the first photo: a run that fails validation leaves no event file

    def recording(self):
        return record_outputs(self.layers)

    def add(self, photo_name: str, photo: torch.Tensor, choices, images: torch.Tensor,
            activations: dict[str, torch.Tensor]) -> None:
        """photo [3, H, W]; images [S, 3, H, W], one per choice; activations {layer: [S, C, h, w]}."""
        if self.writer is None:
            self.writer = SummaryWriter(self.logdir)
        # uint8, so TensorBoard shows the very pixels of the written files (it would truncate floats).
        self.writer.add_image(f"input/{photo_name}", to_uint8(photo))
        vgg_maps = {}
        if self.vgg is not None:
            vgg_device = next(self.vgg.buffers()).device
            vgg_maps = {layer: maps.cpu() for layer, maps in self.vgg(images.to(vgg_device)).items()}
        for s, choice in enumerate(choices):
            self.writer.add_image(f"output/{photo_name}/{choice.slug}", to_uint8(images[s]))
            self.add_maps("activations", "histograms", f"{photo_name}/{choice.slug}",
                          {layer: maps[s] for layer, maps in activations.items()})
            self.add_maps("vgg", "vgg_histograms", f"{photo_name}/{choice.slug}",
                          {layer: maps[s] for layer, maps in vgg_maps.items()})

    def add_maps(self, image_group: str, histogram_group: str, suffix: str, maps: dict[str, torch.Tensor]) -> None:
        for layer, activation in maps.items():  # activation [C, h, w]
            grid = channel_grid(activation, select_channels(activation.shape[0], self.criterion), self.table)
            self.writer.add_image(f"{image_group}/{layer}/{suffix}", grid.cpu())
            self.writer.add_histogram(f"{histogram_group}/{layer}/{suffix}", activation.float().cpu())

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
