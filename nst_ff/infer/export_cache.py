"""A .ckpt or .pt run on OpenVINO by default on the CPU: its ONNX export is made once, kept in the user's cache
under the SHA-256 of its weights and styles, and compiled by OpenVINO on every later run in under a second. On a
CPU with AMX that is 0.1-0.2x fast_neural_style's time against 0.7-1.1x for the PyTorch network eager (BENCHMARKS.md,
"The default CPU path"). The PyTorch network stays loaded for what only it can do: tiles of very large photos.

NST_FF_EXPORT_CACHE names the cache folder (default $XDG_CACHE_HOME/nst_ff/exports, else ~/.cache/nst_ff/exports);
NST_FF_EXPORT_CACHE=off keeps every checkpoint in PyTorch.
"""

import hashlib
import importlib.util
import os
import sys
from pathlib import Path

import torch

from nst_ff.errors import NstError
from nst_ff.infer.onnx_model import export_onnx
from nst_ff.infer.openvino_model import OpenVinoNetwork
from nst_ff.io import jsonfile
from nst_ff.model.checkpoint import CheckpointError, training_record
from nst_ff.model.schema import weights_digest

CACHE_VARIABLE = "NST_FF_EXPORT_CACHE"
# Part of the cache key: a new exporter (torch) or a change of the export's format makes a new file.
EXPORT_FORMAT = 1


def cache_folder() -> Path | None:
    """Where exports are kept; None when NST_FF_EXPORT_CACHE=off."""
    named = os.environ.get(CACHE_VARIABLE, "")
    if named.lower() == "off":
        return None
    if named:
        return Path(named).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "nst_ff" / "exports"


def can_accelerate() -> bool:
    """The cache is on and both the exporter (onnx, onnxscript) and OpenVINO are installed."""
    wanted = ("onnx", "onnxscript", "openvino")
    return cache_folder() is not None and all(importlib.util.find_spec(name) for name in wanted)


class ExportFailed(NstError):
    """The export could not be written; the message is one line saying that the run stays in PyTorch."""


def export_into_cache(ckpt: str | os.PathLike, network, style_names: list[str], description: dict) -> Path:
    """The .onnx export of `ckpt` from the cache, made there first if missing; ExportFailed, one line saying the
    run stays in PyTorch, when the cache cannot be written or the exporter fails."""
    folder = cache_folder()
    # Keyed by what the export holds, not by the file: a .ckpt and the .pt exported from it share one entry.
    what = [weights_digest(network.state_dict()), network.constructor_args(), style_names, torch.__version__,
            EXPORT_FORMAT]
    key = hashlib.sha256(jsonfile.dumps(what).encode()).hexdigest()
    path = folder / f"{key[:24]}.onnx"
    if path.is_file():
        return path
    print(f"exporting {ckpt} for OpenVINO, once: kept in {folder} ({CACHE_VARIABLE}=off: stay in PyTorch)",
          file=sys.stderr)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        export_onnx(path, network, style_names, training_record(description))
    except (OSError, RuntimeError) as error:  # a read-only home, a full disk, an exporter that cannot
        first_line = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise ExportFailed(f"running {ckpt} in PyTorch: its export to {folder} failed: {first_line}") from None
    return path


def accelerated(ckpt: str | os.PathLike, network, style_names: list[str], description: dict,
                precision: str | None = None) -> tuple[object, str | None]:
    """`network` as a .ckpt/.pt runs on the CPU by default (stylize.py, the workbench's clips): an ExportedNetwork
    on OpenVINO where can_accelerate(), else `network` itself; with the one-line reason it stays in PyTorch when
    its export could not be made or compiled (else None)."""
    if not can_accelerate():
        return network, None
    try:
        path = export_into_cache(ckpt, network, style_names, description)
    except ExportFailed as error:
        return network, str(error)
    try:
        return ExportedNetwork(OpenVinoNetwork(path, precision), network), None
    except CheckpointError as error:  # a cache file damaged since it was written
        return network, f"running {ckpt} in PyTorch: {error}; delete {path} to export again"


class ExportedNetwork:
    """A checkpoint's network on OpenVINO, called like the network; `torch_network` is the PyTorch one it was
    exported from, which tiled stylizing uses (its tiles share whole-image norm statistics)."""

    cuda_available = False

    def __init__(self, runtime, torch_network):
        self.runtime, self.torch_network = runtime, torch_network
        self.num_styles = torch_network.num_styles
        self.precision = runtime.precision

    def to(self, device, dtype: torch.dtype = torch.float32, memory_format=None) -> "ExportedNetwork":
        self.runtime.to(device, dtype)
        self.torch_network.to(device, dtype)
        return self

    def __call__(self, images: torch.Tensor, style_weights: torch.Tensor) -> torch.Tensor:
        return self.runtime(images, style_weights)
