"""--activations: the TensorBoard run read back with TensorBoard's own reader (tags, grid sizes, colours)."""

import io
import math

import matplotlib
import numpy as np
import pytest
import torch
from PIL import Image
from tensorboard.backend.event_processing.event_accumulator import HISTOGRAMS, IMAGES, EventAccumulator

from conftest import make_image
from nst_ff.cli import stylize_main as stylize
from nst_ff.infer.activations import CHANNEL_CRITERIA, select_channels
from nst_ff.model.checkpoint import export
from nst_ff.model.transformer import StyleTransferNetwork

SIZE = 32  # photo side; contract2 and expand1 work at SIZE / 2, contract3 and the residual blocks at SIZE / 4
LAYER_SHAPES = {  # layer: (channels, side) for the default network
    "contract1": (32, SIZE), "contract2": (64, SIZE // 2), "contract3": (128, SIZE // 4),
    **{f"residual{i}.conv{j}": (128, SIZE // 4) for i in range(1, 6) for j in (1, 2)},
    "expand1": (64, SIZE // 2), "expand2": (32, SIZE), "expand3": (3, SIZE),
}
PADDING = 2


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    torch.manual_seed(0)
    network = StyleTransferNetwork(2)
    for name, parameter in network.named_parameters():
        if name.endswith("beta"):
            torch.nn.init.normal_(parameter, 0.0, 0.5)  # styles that differ, channels that are not constant
    path = tmp_path_factory.mktemp("ckpt") / "net.pt"
    export(path, network, ["alpha", "beta"])
    return path


def dump(ckpt, tmp_path, *options) -> EventAccumulator:
    photo = make_image(tmp_path / "photo.png", size=(SIZE, SIZE))
    logdir = tmp_path / "runs"
    argv = ["--ckpt", ckpt, "--input", photo, "--output", tmp_path / "out", "--activations", logdir, *options]
    assert stylize.main([str(arg) for arg in argv]) == 0
    events = EventAccumulator(str(logdir), size_guidance={IMAGES: 0, HISTOGRAMS: 0})
    events.Reload()
    return events


def image(events: EventAccumulator, tag: str) -> np.ndarray:
    (event,) = events.Images(tag)
    array = np.asarray(Image.open(io.BytesIO(event.encoded_image_string)).convert("RGB"))
    assert array.shape == (event.height, event.width, 3)
    return array


def grid_side(tiles: int, side: int, columns: int) -> tuple[int, int]:
    """(height, width) of torchvision's make_grid of `tiles` square maps (a single one comes unpadded)."""
    if tiles == 1:
        return side, side
    rows = math.ceil(tiles / columns)
    return rows * (side + PADDING) + PADDING, columns * (side + PADDING) + PADDING


def test_every_layer_input_output_and_histogram_are_tagged(ckpt, tmp_path):
    events = dump(ckpt, tmp_path, "--style", "alpha,beta")
    tags = events.Tags()
    per_layer = [f"{layer}/photo/{style}" for layer in LAYER_SHAPES for style in ("alpha", "beta")]
    assert set(tags["images"]) == {"input/photo", "output/photo/alpha", "output/photo/beta",
                                   *(f"activations/{tag}" for tag in per_layer)}
    assert set(tags["histograms"]) == {f"histograms/{tag}" for tag in per_layer}
    assert image(events, "input/photo").shape == (SIZE, SIZE, 3)
    assert np.array_equal(image(events, "output/photo/beta"), np.asarray(Image.open(tmp_path / "out/photo_beta.png")))
    # Different styles, different activations.
    assert not np.array_equal(image(events, "activations/contract1/photo/alpha"),
                              image(events, "activations/contract1/photo/beta"))


@pytest.mark.parametrize("criterion", list(CHANNEL_CRITERIA))
def test_channel_criteria_set_the_grid(criterion, ckpt, tmp_path):
    layers = ["contract1", "contract3", "expand3"]
    events = dump(ckpt, tmp_path, "--style", "beta", "--channels", criterion, "--layers", ",".join(layers))
    for layer in layers:
        channels, side = LAYER_SHAPES[layer]
        tiles = len(select_channels(channels, criterion))
        assert tiles == {"first_16": min(16, channels), "last_16": min(16, channels), "first_32": min(32, channels),
                         "last_32": min(32, channels), "every_8th": -(-channels // 8),
                         "every_16th": -(-channels // 16)}[criterion]
        shape = image(events, f"activations/{layer}/photo/beta").shape[:2]
        assert shape == grid_side(tiles, side, math.ceil(math.sqrt(tiles)))


def test_select_channels_picks_the_named_channels():
    assert stylize.CHANNEL_CRITERIA == tuple(CHANNEL_CRITERIA)  # the CLI's choices are the criteria
    assert select_channels(128, "first_16") == list(range(16))
    assert select_channels(128, "last_32") == list(range(96, 128))
    assert select_channels(64, "every_8th") == [0, 8, 16, 24, 32, 40, 48, 56]
    assert select_channels(64, "every_16th") == [0, 16, 32, 48]
    assert select_channels(3, "last_16") == [0, 1, 2]


def tiles(grid: np.ndarray, side: int) -> list[np.ndarray]:
    rows, columns = ((n - PADDING) // (side + PADDING) for n in grid.shape[:2])
    return [grid[PADDING + r * (side + PADDING):][:side, PADDING + c * (side + PADDING):][:, :side]
            for r in range(rows) for c in range(columns)]


@pytest.mark.parametrize("cmap", ["gray", "viridis", "nipy_spectral"])
def test_colour_map_is_applied_and_each_channel_spans_it(cmap, ckpt, tmp_path):
    events = dump(ckpt, tmp_path, "--style", "alpha", "--layers", "contract1", "--cmap", cmap)
    grid = image(events, "activations/contract1/photo/alpha")
    colours = np.round(matplotlib.colormaps[cmap](np.linspace(0, 1, 256))[:, :3] * 255).astype(np.uint8)
    palette = {tuple(colour) for colour in colours}
    channel_tiles = tiles(grid, SIZE)
    assert len(channel_tiles) == 16
    for tile in channel_tiles:
        assert {tuple(p) for p in tile.reshape(-1, 3)} <= palette  # every pixel is a colour of the map
        # min-max scaled per channel: its lowest value gets the map's first colour, its highest the last.
        assert (tile == colours[0]).all(-1).any() and (tile == colours[-1]).all(-1).any()
    if cmap == "gray":
        assert (grid[..., 0] == grid[..., 1]).all() and (grid[..., 1] == grid[..., 2]).all()


def test_vgg_activations_of_the_output(ckpt, tmp_path):
    events = dump(ckpt, tmp_path, "--style", "alpha", "--layers", "expand3", "--vgg-activations",
                  "--vgg-weights", "random", "--vgg-layers", "relu1_2,relu2_2")
    assert {"vgg/relu1_2/photo/alpha", "vgg/relu2_2/photo/alpha"} <= set(events.Tags()["images"])
    assert "vgg_histograms/relu2_2/photo/alpha" in events.Tags()["histograms"]
    assert image(events, "vgg/relu1_2/photo/alpha").shape[:2] == grid_side(16, SIZE, 4)  # 64 channels, first 16
    assert image(events, "vgg/relu2_2/photo/alpha").shape[:2] == grid_side(16, SIZE // 2, 4)  # after pool1
