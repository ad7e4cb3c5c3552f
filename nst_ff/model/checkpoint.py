"""Self-describing checkpoints: network weights, constructor arguments and ordered style names.

Lightning training checkpoints and exported inference files both load with `weights_only=True`,
so a file from an untrusted source cannot run code, and both need nothing else to rebuild the network.
"""

import math
import os
from pathlib import Path

import torch
from torchvision.transforms.v2 import functional as TF

from nst_ff.errors import NstError
from nst_ff.io.images import to_uint8, write_atomically
from nst_ff.io.tensors import UnreadableFile, load_tensors
from nst_ff.model.schema import FORMAT_VERSION, THUMBNAIL_SIZE, description_problem, weights_digest
from nst_ff.model.transformer import StyleTransferNetwork

NST_FF_KEY = "nst_ff"

# Trained weights stay small: Adam moves a weight by about its learning rate per step at most, so even
# 40k steps at the CIN rate of 3e-2 stay far below this, while a diverging run passes it within a step or two.
# Beyond it, half-precision inference (largest value 65504) would overflow too.
MAX_ABS_WEIGHT = 1e4


class CheckpointError(NstError, ValueError):
    """A checkpoint that cannot be used; the message names the path and the reason."""


def checkpoints_in(folder: Path) -> list[Path]:
    """The checkpoint files in `folder` and its runs' `last.ckpt`, newest first: what a user who named a
    file that is not there, or a folder, most likely meant."""
    times = {}
    for pattern in ("*.pt", "*.pth", "*.ckpt", "*.onnx", "*/last.ckpt"):
        for candidate in folder.glob(pattern) if folder.is_dir() else ():
            try:
                if candidate.is_file():
                    times[candidate] = candidate.stat().st_mtime
            except OSError:  # gone or unreadable since the glob: not worth naming
                pass
    return sorted(times, key=times.get, reverse=True)


def checkpoint_not_found(path: str | os.PathLike) -> CheckpointError:
    """The error for a path that holds no file, naming the newest checkpoints in its folder: runs write
    `<run_name>/last.ckpt`, not the `last.ckpt` a user may expect beside them."""
    folder = Path(path).parent
    newest = checkpoints_in(folder)[:4]
    hint = f"; in {folder}, newest first: {', '.join(str(p) for p in newest)}" if newest else ""
    return CheckpointError(f"checkpoint not found: {path}{hint}")


def weights_problem(state: dict[str, torch.Tensor]) -> str | None:
    """Why these weights are broken (non-finite, or beyond MAX_ABS_WEIGHT), or None when they are sane.
    Checked after every training step: one reduction and one device sync when all is well."""
    tensors = [t.detach() for t in state.values() if t.is_floating_point() and t.numel()]
    largest = torch.stack([t.abs().amax().float() for t in tensors]).amax().item() if tensors else 0.0
    if math.isfinite(largest) and largest <= MAX_ABS_WEIGHT:  # amax propagates NaN
        return None
    for name, tensor in state.items():
        if tensor.is_floating_point():
            if not torch.isfinite(tensor).all():
                return f"{name} is not finite"
            largest = tensor.abs().max().item() if tensor.numel() else 0.0
            if largest > MAX_ABS_WEIGHT:
                return f"{name} reaches {largest:.3g}, beyond the sane {MAX_ABS_WEIGHT:g}"
    return None


def thumbnail(image: torch.Tensor) -> torch.Tensor:
    """A style image [3, H, W] in [0, 1] -> uint8 [3, h, w] with its longest side THUMBNAIL_SIZE at most."""
    scale = min(1.0, THUMBNAIL_SIZE / max(image.shape[-2:]))
    size = [max(1, round(side * scale)) for side in image.shape[-2:]]
    return to_uint8(TF.resize(image, size, antialias=True))


def describe(network: StyleTransferNetwork, style_names: list[str], training: dict | None = None) -> dict:
    """The checkpoint's description: format, network arguments, style names, the SHA-256 of the weights, and what
    it was trained with (`training`: the loss's constructor arguments under "loss", the style images' size under
    "style_size", and their thumbnails in style order under "thumbnails")."""
    return {"format": FORMAT_VERSION, "model": network.constructor_args(), "style_names": list(style_names),
            "weights_sha256": weights_digest(network.state_dict()), **(training or {})}


def training_record(info: dict) -> dict:
    """The "loss", "style_size" and "thumbnails" of a description; checkpoints of format 1 wrote the VGG as
    "vgg_arch". Of the VGG only its architecture: which weights file scores is the user's setting, never the
    checkpoint's."""
    record = {key: info[key] for key in ("loss", "style_size", "thumbnails") if key in info}
    if "loss" in record:
        loss = dict(record["loss"])
        arch = loss.pop("vgg_arch", None) or loss.pop("vgg", {}).get("arch")
        record["loss"] = {**loss, **({"vgg": {"arch": arch}} if arch else {})}
    return record


def atomic_save(obj: dict, path: str | os.PathLike) -> None:
    """torch.save, atomically and synced to disk: a kill at any moment leaves the old file or the new."""
    write_atomically(path, lambda f: torch.save(obj, f), fsync=True)


def export(path: str | os.PathLike, network: StyleTransferNetwork, style_names: list[str],
           training: dict | None = None) -> None:
    """Write an inference file: the network's weights and description (with the loss it was trained with when
    `training` gives it), nothing else."""
    state = {k: v.detach().cpu().clone() for k, v in network.state_dict().items()}
    atomic_save({NST_FF_KEY: describe(network, style_names, training), "state_dict": state}, path)


def load_network(path: str | os.PathLike, map_location="cpu") -> tuple[StyleTransferNetwork, list[str]]:
    """Rebuild the network (eval mode) and its style names from a training checkpoint or an export."""
    network, style_names, _ = load_checkpoint(path, map_location)
    return network, style_names


def load_checkpoint(path: str | os.PathLike, map_location="cpu") -> tuple[StyleTransferNetwork, list[str], dict]:
    """As load_network, plus the checkpoint's description (a training checkpoint's has the loss settings)."""
    checkpoint = read_checkpoint(path, map_location)
    info = checkpoint[NST_FF_KEY]
    state = network_state(checkpoint)
    network = StyleTransferNetwork(**info["model"])
    try:
        network.load_state_dict(state)
    except RuntimeError as error:
        first_line = str(error).strip().splitlines()[-1].strip()  # torch's first line is only "Error(s) in ..."
        raise CheckpointError(f"{path}: weights do not match the described network: {first_line}") from None
    problem = weights_problem(state)
    if problem:
        raise CheckpointError(f"{path}: broken weights, as after a diverged training run ({problem}); "
                              "use an earlier checkpoint")
    return network.eval(), list(info["style_names"]), {**info, **training_record(info)}


def read_checkpoint(path: str | os.PathLike, map_location="cpu") -> dict:
    """The contents of an nst_ff checkpoint (training or exported), loaded so that it cannot run code."""
    path = Path(path)
    if path.is_dir():
        found = checkpoints_in(path)
        hint = f" (e.g. {found[0]})" if found else ""
        raise CheckpointError(f"{path} is a folder: give a checkpoint file{hint}")
    if not path.is_file():
        raise checkpoint_not_found(path)
    try:
        checkpoint = load_tensors(path, map_location)
    except UnreadableFile as error:
        message = f"refusing {path}: {error}" if error.refused else f"cannot read checkpoint {path}: {error}"
        raise CheckpointError(message) from None
    check_contents(checkpoint, path)
    return checkpoint


def check_contents(checkpoint, path: Path) -> None:
    """The loaded file against the schema: an nst_ff record of a sane network, and the weights it describes."""
    if not isinstance(checkpoint, dict) or NST_FF_KEY not in checkpoint or "state_dict" not in checkpoint:
        raise CheckpointError(f"{path} is not an nst_ff checkpoint (no '{NST_FF_KEY}' description)")
    version = checkpoint[NST_FF_KEY].get("format", 1) if isinstance(checkpoint[NST_FF_KEY], dict) else 1
    if isinstance(version, int) and version > FORMAT_VERSION:
        raise CheckpointError(f"{path} has checkpoint format {version}, newer than this nst_ff reads "
                              f"({FORMAT_VERSION}): upgrade nst_ff to use it")
    problem = description_problem(checkpoint[NST_FF_KEY])
    state = checkpoint["state_dict"]
    if problem is None and not (isinstance(state, dict) and all(
            isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items())):
        problem = "its state_dict is not a record of named tensors"
    expected = checkpoint[NST_FF_KEY].get("weights_sha256") if problem is None else None
    if expected is not None and weights_digest(network_state(checkpoint)) != expected:
        problem = "its weights do not match their SHA-256 (the file is damaged or was altered)"
    if problem:
        raise CheckpointError(f"refusing checkpoint {path}: {problem}")


def network_state(checkpoint: dict) -> dict[str, torch.Tensor]:
    """The network's weights of a checkpoint: an export's state dict, or a Lightning checkpoint's `network.*`."""
    state = checkpoint["state_dict"]
    if any(key.startswith("network.") for key in state):  # a Lightning checkpoint of StyleTransferModule
        state = {k.removeprefix("network."): v for k, v in state.items() if k.startswith("network.")}
    return state
