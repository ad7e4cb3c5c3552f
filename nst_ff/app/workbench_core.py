"""What the browser workbench (workbench.py) computes, free of Streamlit: stylizing one photo with a mix of
styles, the network's and the VGG's activation maps as `stylize.py --activations` draws them, and per-image
optimisation as `optimize.py` runs it."""

import io
import time
from pathlib import Path

import torch

from nst_ff.errors import UsageError
from nst_ff.infer.activations import channel_grid, colormap_table, record_outputs, select_channels, transformer_layers
from nst_ff.infer.stylizer import NonFiniteOutputError, blend, preserve_color, stylize
from nst_ff.io.config import loss_config
from nst_ff.io.images import to_pil, write_gif
from nst_ff.loss.perceptual import PerceptualLoss
from nst_ff.measure.optimization import initial_image, optimize_image

MAX_SIDE = 2048  # longest side the page accepts: bigger photos are for stylize.py, which tiles them


def find_checkpoints(folder: str | Path = "checkpoints") -> list[str]:
    """Every run's last.ckpt under `folder`, newest first."""
    found = Path(folder).glob("*/last.ckpt")
    return [str(path) for path in sorted(found, key=lambda path: path.stat().st_mtime, reverse=True)]


def style_mix(sliders: list[float]) -> torch.Tensor:
    """Slider values, one per style -> style weights [1, N] summing to 1."""
    weights = torch.tensor(sliders, dtype=torch.float32)
    if not torch.isfinite(weights).all() or (weights < 0).any() or weights.sum() <= 0:
        raise UsageError("move at least one style's slider above 0")
    return (weights / weights.sum())[None]


def check_size(photo: torch.Tensor) -> None:
    height, width = photo.shape[-2:]
    if max(height, width) > MAX_SIDE:
        raise UsageError(f"the photo is {width}x{height} after resizing: choose a smaller output size (at most "
                         f"{MAX_SIDE} px on the longer side here; stylize.py handles any size)")


@torch.inference_mode()
def stylize_photo(network, photo: torch.Tensor, style_weights: torch.Tensor, strength: float = 1.0,
                  keep_color: bool = False) -> tuple[torch.Tensor, float]:
    """photo [3, H, W] in the mix `style_weights` [1, N], as stylize.py paints it -> (image [3, H, W], seconds)."""
    check_size(photo)
    start = time.perf_counter()
    image = stylize(network, photo[None], style_weights)[0, 0]  # [3, H, W]
    if not torch.isfinite(image).all():
        raise NonFiniteOutputError("the network's output is not finite: its weights are broken")
    if keep_color:
        image = preserve_color(image, photo)
    return blend(image, photo, strength), time.perf_counter() - start


@torch.inference_mode()
def activation_maps(network, photo: torch.Tensor, style_weights: torch.Tensor, layers: list[str], channels: str,
                    colormap: str, vgg=None) -> dict[str, torch.Tensor]:
    """{layer: uint8 grid [3, H, W]} of the chosen network layers (and, with `vgg`, its layers of the output),
    drawn by the functions of `stylize.py --activations`."""
    check_size(photo)
    table = colormap_table(colormap)
    chosen = {name: layer for name, layer in transformer_layers(network).items() if name in layers}
    with record_outputs(chosen) as outputs:
        output = network(photo[None], style_weights)
    maps = {name: outputs[name][0] for name in chosen}
    if vgg is not None:
        maps.update({f"vgg/{name}": value[0] for name, value in vgg(output.clamp(0, 1)).items()})
    return {name: channel_grid(value, select_channels(value.shape[0], channels), table) for name, value in maps.items()}


def optimization_loss(content_layers: list[str], style_layers: dict[str, float], content_weight: float,
                      style_weight: float, tv_weight: float, vgg_weights: str | None = None) -> PerceptualLoss:
    """optimize.py's loss: conf/loss/perceptual.yaml with these choices."""
    return PerceptualLoss(**loss_config(content_layers=content_layers, style_layers=style_layers,
                                        content_weight=content_weight, style_weight=style_weight,
                                        tv_weight=tv_weight, vgg_weights=vgg_weights))


def optimize_photo(loss: PerceptualLoss, photo: torch.Tensor, painting: torch.Tensor, steps: int, optimizer: str,
                   init: str, on_step) -> tuple[torch.Tensor, dict[str, float]]:
    """photo [3, H, W] optimised towards `painting` [3, h, w]; on_step(step, image [1, 3, H, W], terms) as in
    optimize.py. Returns the final image [3, H, W] and its loss terms."""
    check_size(photo)
    loss.set_style_targets([painting])
    content = photo[None]
    image, terms = optimize_image(loss, content, torch.ones(1, 1), initial_image(init, content, painting), steps,
                                  optimizer, on_step=on_step)
    return image[0], terms


def png_bytes(image: torch.Tensor) -> bytes:
    buffer = io.BytesIO()
    to_pil(image).save(buffer, format="PNG")
    return buffer.getvalue()


def gif_bytes(frames: list[torch.Tensor]) -> bytes:
    """Frames [3, H, W] -> the animated GIF optimize.py --gif writes."""
    buffer = io.BytesIO()
    write_gif([to_pil(frame) for frame in frames], buffer)
    return buffer.getvalue()
