"""What the browser workbench (workbench.py) computes, free of Streamlit: stylizing one photo with a mix of
styles, a short clip as `stylize.py --input clip.mp4` paints it, the network's and the VGG's activation maps as
`stylize.py --activations` draws them, and per-image optimisation as `optimize.py` runs it."""

import copy
import io
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from nst_ff.errors import UsageError
from nst_ff.infer.activations import channel_grid, colormap_table, record_outputs, select_channels, transformer_layers
from nst_ff.infer.clips import paint_clip, painter, temporal_parts
from nst_ff.infer.export_cache import ExportedNetwork
from nst_ff.infer.stylizer import NonFiniteOutputError, Painting, blend, preserve_color, stylize
from nst_ff.infer.temporal import Temporal
from nst_ff.infer.video import Clip, probe
from nst_ff.io.config import loss_config
from nst_ff.io.images import to_pil, write_gif
from nst_ff.loss.perceptual import PerceptualLoss
from nst_ff.measure.optimization import initial_image, optimize_image

MAX_SIDE = 2048  # longest side the page accepts: bigger photos are for stylize.py, which tiles them
# Clips the page accepts. It paints every frame twice (per-frame and stable) while the browser waits, on the
# server's CPU at some 5-20 frames/s at 360p: 300 frames (10 s at 30 fps) keep that within a minute or two.
CLIP_SUFFIXES = (".mp4", ".mov", ".mkv", ".webm")
MAX_CLIP_FRAMES = 300
MAX_CLIP_SIDE = 1280  # 720p; a 1080p or 4K phone clip is for stylize.py
MAX_CLIP_MB = 200  # Streamlit's own default upload limit
CLIP_MODES = {"per-frame": "off", "stable": "on"}  # what the page shows -> stylize.py --temporal


def find_checkpoints(folder: str | Path = "checkpoints") -> list[str]:
    """Every run's last.ckpt under `folder` and the exported networks in it (the shipped ready12.pt), newest
    first."""
    found = [*Path(folder).glob("*/last.ckpt"), *Path(folder).glob("*.pt")]
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


def too_long(clip: Clip, frames: str) -> UsageError:
    return UsageError(f"{clip.shown} has {frames} frames: the page takes at most {MAX_CLIP_FRAMES}; cut it shorter, "
                      "or use stylize.py --input, which takes any length")


def check_clip(clip: Clip) -> None:
    frames = clip.estimated_frames
    if frames is not None and frames > MAX_CLIP_FRAMES:
        raise too_long(clip, str(frames))
    if max(clip.width, clip.height) > MAX_CLIP_SIDE:
        raise UsageError(f"{clip.shown} is {clip.width}x{clip.height}: the page takes at most {MAX_CLIP_SIDE} px on "
                         "the longer side; use stylize.py --input, which takes any size")


@dataclass(frozen=True)
class PaintedClip:
    video: bytes  # MP4
    painted_by: str  # what painted it, for the page: "OpenVINO (bf16), flow blend"


def stylize_clip(network, data: bytes, name: str, style_weights: torch.Tensor, painting: Painting,
                 progress: Callable[[float, str], None]) -> dict[str, PaintedClip]:
    """An uploaded clip `data` named `name`, in the mix `style_weights` [1, N], painted as stylize.py paints it
    with --temporal off and on -> {"per-frame": ..., "stable": ...}; progress(share done, text) as it goes.
    `network`: the one stylize.py runs on the CPU by default (nst_ff.infer.export_cache.accelerated's)."""
    suffix = Path(name).suffix.lower()
    if suffix not in CLIP_SUFFIXES:
        raise UsageError(f"{name}: upload a clip ({' '.join(CLIP_SUFFIXES)})")
    if len(data) > MAX_CLIP_MB * 2**20:
        raise UsageError(f"{name} is {len(data) / 2**20:.0f} MB: the page takes at most {MAX_CLIP_MB} MB")
    # An export has no norm layers to smooth: as in stylize.py, its stable pass gets the flow blend alone.
    exported = isinstance(network, ExportedNetwork)
    if not exported:  # a copy: --temporal's norm hooks must not reach another session's photos
        network = copy.deepcopy(network)
    with tempfile.TemporaryDirectory(prefix="nst_ff_clip_") as folder:  # PyAV reads and writes files
        source = Path(folder) / f"upload{suffix}"  # the upload's name only in messages: never a path
        source.write_bytes(data)
        clip = probe(source, name)
        check_clip(clip)
        results = {}
        for index, (label, mode) in enumerate(CLIP_MODES.items()):
            destination = Path(folder) / f"{mode}.mp4"
            temporal = temporal_parts(mode, network, whole_network_only=exported)
            paint = painter(network, style_weights[0], torch.device("cpu"), torch.float32, painting, temporal)
            paint_clip(clip, destination, paint, progress=frame_counter(clip, label, index, progress))
            results[label] = PaintedClip(destination.read_bytes(), painted_by(network, temporal))
    return results


def painted_by(network, temporal: Temporal | None) -> str:
    """What painted a pass, for the page: "OpenVINO (bf16), flow blend", "PyTorch, norms + flow blend", "PyTorch"."""
    runtime = f"OpenVINO ({network.precision})" if isinstance(network, ExportedNetwork) else "PyTorch"
    parts = []
    if temporal:
        parts = [name for name, part in (("norms", temporal.norms), ("flow blend", temporal.flow)) if part]
    return f"{runtime}, {' + '.join(parts)}" if parts else runtime


def frame_counter(clip: Clip, label: str, index: int, progress: Callable[[float, str], None]) -> Callable:
    """paint_clip's progress(frames) for the `index`th of the page's passes over `clip`; it also stops a clip
    whose container under-states its length at MAX_CLIP_FRAMES."""
    total, done = clip.estimated_frames, 0

    def step(frames: int) -> None:
        nonlocal done
        done += frames
        if done > MAX_CLIP_FRAMES:
            raise too_long(clip, f"more than {MAX_CLIP_FRAMES}")
        share = (index + min(done / total, 1)) / len(CLIP_MODES) if total else index / len(CLIP_MODES)
        progress(share, f"{label}: frame {done} of {total or '?'}")
    return step


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
