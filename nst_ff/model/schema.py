"""The schema of a checkpoint's description (the `nst_ff` record): every field a checkpoint, an export or an ONNX
model carries is checked here, by type and range, before anything is built from it. A file from anywhere is
data: its names become file names, its sizes allocate memory, its loss settings steer evaluation."""

import hashlib
import math

import torch

from nst_ff.io.paths import names_problem

FORMAT_VERSION = 2  # 2: the loss recorded as its constructor takes it, and the style size
# Longest side of the style thumbnails a checkpoint carries (uint8, ~30 KB a style): a gallery to pick styles
# from, not the Gram targets (those need the full painting).
THUMBNAIL_SIZE = 128
# A sane network: Magenta's widths times alpha at most 4 (27M weights, 110 MB), and at most 1024 styles
# (Magenta's largest published model has 32; each style adds about 3.2k weights at alpha 1).
MAX_ALPHA = 4.0
MAX_STYLES = 1024
MAX_STYLE_SIZE = 4096  # shorter side of the paintings in training; conf/data/folders.yaml uses 256
LOSS_KEYS = {"vgg", "content_layers", "style_layers", "content_weight", "style_weight", "tv_weight", "style_scales",
             "vgg_arch"}  # vgg_arch: format 1
# `weights_sha256` is absent from checkpoints written before it existed; they still load.
# `precision`: only in an ONNX model quantized by stylize.py --quantize ("int8").
RECORD_KEYS = {"format", "model", "style_names", "loss", "style_size", "thumbnails", "weights_sha256", "precision"}
PRECISIONS = ("int8",)


def weights_digest(state: dict[str, torch.Tensor]) -> str:
    """SHA-256 of the network's weights: names, dtypes, shapes and bytes, in name order."""
    digest = hashlib.sha256()
    for name in sorted(state):
        tensor = state[name].detach().cpu().contiguous()
        digest.update(f"{name}|{tensor.dtype}|{tuple(tensor.shape)}|".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def _is_number(value, least: float = 0.0, most: float = math.inf) -> bool:
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    return ok and least <= value <= most


def _is_whole(value, least: int, most: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and least <= value <= most


def model_problem(model) -> str | None:
    if not isinstance(model, dict) or set(model) - {"num_styles", "alpha"} or "num_styles" not in model:
        return f"model {model!r:.200} is not {{num_styles, alpha}}"
    if not _is_whole(model["num_styles"], 1, MAX_STYLES):
        return f"model.num_styles {model['num_styles']!r:.50} is not a whole number from 1 to {MAX_STYLES}"
    if not _is_number(model.get("alpha", 1.0), 1e-3, MAX_ALPHA):
        return f"model.alpha {model['alpha']!r:.50} is not a number from 0.001 to {MAX_ALPHA:g}"
    return None


def loss_problem(loss) -> str | None:
    if not isinstance(loss, dict) or set(loss) - LOSS_KEYS:
        return f"loss {loss!r:.200} has keys outside {', '.join(sorted(LOSS_KEYS))}"
    vgg = loss.get("vgg", {"arch": loss.get("vgg_arch", "vgg16")})
    if not isinstance(vgg, dict) or set(vgg) - {"arch", "weights"} or vgg.get("arch") not in ("vgg16", "vgg19"):
        return f"loss.vgg {vgg!r:.200} is not {{arch: vgg16 or vgg19}}"
    layers = loss.get("content_layers", [])
    if not isinstance(layers, list) or not all(isinstance(layer, str) for layer in layers):
        return f"loss.content_layers {layers!r:.200} is not a list of layer names"
    style = loss.get("style_layers", {})
    style = dict.fromkeys(style, 1.0) if isinstance(style, list) else style
    if not isinstance(style, dict) or not all(isinstance(k, str) and _is_number(v) for k, v in style.items()):
        return f"loss.style_layers {style!r:.200} is not {{layer name: weight >= 0}}"
    for key in ("content_weight", "style_weight", "tv_weight"):
        if key in loss and not _is_number(loss[key]):
            return f"loss.{key} {loss[key]!r:.50} is not a finite number >= 0"
    scales = loss.get("style_scales", {})
    if not isinstance(scales, dict) or not all(isinstance(k, str) and _is_number(v) and v > 0
                                               for k, v in scales.items()):
        return f"loss.style_scales {scales!r:.200} is not {{style name: factor > 0}}"
    return None


def thumbnails_problem(thumbnails, count: int) -> str | None:
    if not isinstance(thumbnails, list) or len(thumbnails) != count:
        return f"thumbnails are not a list of {count} images"
    for image in thumbnails:
        if not (isinstance(image, torch.Tensor) and image.dtype == torch.uint8 and image.dim() == 3
                and image.shape[0] == 3 and 0 < min(image.shape[1:]) and max(image.shape[1:]) <= THUMBNAIL_SIZE):
            return f"a thumbnail is not a uint8 image [3, h, w] of at most {THUMBNAIL_SIZE} px"
    return None


def description_problem(info) -> str | None:
    """Why a checkpoint's description is not one this nst_ff can use, in one line, or None."""
    if not isinstance(info, dict):
        return f"its description is a {type(info).__name__}, not a record"
    unknown = sorted(str(key) for key in set(info) - RECORD_KEYS)
    if unknown:
        return f"its description has unknown field(s) {', '.join(unknown)[:200]}"
    version = info.get("format", 1)
    if not _is_whole(version, 1, FORMAT_VERSION):
        return f"checkpoint format {version!r:.50} is not a whole number from 1 to {FORMAT_VERSION}"
    problem = model_problem(info.get("model"))
    if problem:
        return problem
    count = info["model"]["num_styles"]
    problem = names_problem(info.get("style_names"), count)
    if problem is None and "loss" in info:
        problem = loss_problem(info["loss"])
    if problem is None and "style_size" in info and not _is_whole(info["style_size"], 1, MAX_STYLE_SIZE):
        problem = f"style_size {info['style_size']!r:.50} is not a whole number from 1 to {MAX_STYLE_SIZE}"
    if problem is None and "thumbnails" in info:
        problem = thumbnails_problem(info["thumbnails"], count)
    digest = info.get("weights_sha256")
    if problem is None and digest is not None and not (isinstance(digest, str) and len(digest) == 64):
        problem = f"weights_sha256 {digest!r:.80} is not a SHA-256 digest"
    if problem is None and info.get("precision", "int8") not in PRECISIONS:
        problem = f"precision {info['precision']!r:.50} is not one of {', '.join(PRECISIONS)}"
    return problem
