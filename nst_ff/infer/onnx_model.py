"""The network as an ONNX model, and ONNX Runtime running it in the network's place.

The file describes itself as a checkpoint does: its metadata key `nst_ff` holds the checkpoint's description
(format, network arguments, ordered style names, loss settings) as JSON, so stylize needs nothing else.
onnx and onnxruntime are imported only here and only when used: stylizing a .ckpt never loads them.
"""

import copy
import importlib
import json
import os
import warnings
from pathlib import Path

import numpy as np
import torch

from nst_ff.errors import UsageError
from nst_ff.io import jsonfile
from nst_ff.io.images import write_atomically
from nst_ff.model.checkpoint import FORMAT_VERSION, NST_FF_KEY, CheckpointError, checkpoint_not_found, describe
from nst_ff.model.schema import description_problem
from nst_ff.model.transformer import StyleTransferNetwork

INSTALL_HINT = 'pip install -e ".[onnx]"'
INPUT_NAMES, OUTPUT_NAMES = ["images", "style_weights"], ["stylized"]


def is_onnx(path: str | os.PathLike) -> bool:
    return Path(path).suffix.lower() == ".onnx"


def require(module: str, purpose: str, hint: str = INSTALL_HINT):
    try:
        return importlib.import_module(module)
    except ImportError:
        raise CheckpointError(f"{purpose} needs {module}, which is not installed: {hint}") from None


def export_onnx(path: str | os.PathLike, network: StyleTransferNetwork, style_names: list[str],
                training: dict | None = None) -> None:
    """Write the network as ONNX: inputs images [B, 3, H, W] and style_weights [B, N] with B, H and W dynamic,
    output stylized [B, 3, H, W]; the description in the metadata."""
    onnx = require("onnx", f"exporting {path}")
    require("onnxscript", f"exporting {path}")
    # A copy, in fp32 on the CPU: the caller's network stays exactly as it was (device, precision, mode).
    model = copy.deepcopy(network).float().cpu().eval()
    # Example sizes that match no other dimension (not 1, not 3 channels, not N styles), so that tracing keys
    # nothing on an accidental equality; sizes not a multiple of 4, so that the padding stays symbolic.
    batch = max(2, model.num_styles) + 2
    example = (torch.rand(batch, 3, 61, 43), torch.full((batch, model.num_styles), 1 / model.num_styles))
    batch_dim, height, width = torch.export.Dim("batch"), torch.export.Dim("height"), torch.export.Dim("width")
    with warnings.catch_warnings():  # the exporter's notes on axis renaming and its internals, not the user's
        warnings.simplefilter("ignore")
        program = torch.onnx.export(
            model, example, dynamo=True, verbose=False, input_names=INPUT_NAMES, output_names=OUTPUT_NAMES,
            dynamic_shapes={"images": {0: batch_dim, 2: height, 3: width}, "style_weights": {0: batch_dim}},
        )
    proto = program.model_proto
    # The exporter names the output's sizes by their padding-and-crop formula; they are the input's.
    dims = proto.graph.output[0].type.tensor_type.shape.dim  # [B, 3, H, W]
    for index, name in ((0, "batch"), (2, "height"), (3, "width")):
        dims[index].dim_param = name
    # Thumbnails are tensors and stay out: the metadata is JSON text.
    # The weights digest is the PyTorch state dict's, which an ONNX graph does not keep.
    record = {key: value for key, value in (training or {}).items() if key != "thumbnails"}
    description = {k: v for k, v in describe(model, style_names, record).items() if k != "weights_sha256"}
    onnx.helper.set_model_props(proto, {NST_FF_KEY: jsonfile.dumps(description)})
    onnx.checker.check_model(proto)
    write_atomically(path, lambda f: f.write(proto.SerializeToString()), fsync=True)


class OnnxNetwork:
    """An exported network on ONNX Runtime, called like the network: (images [B, 3, H, W], style_weights
    [B, N]) -> stylized [B, 3, H, W], as float32 torch tensors on the device the images came from."""

    def __init__(self, path: str | os.PathLike, threads: int | None = None):
        self.path, self.threads = Path(path), threads
        ort = require("onnxruntime", f"running {path}")
        if not self.path.is_file():
            raise checkpoint_not_found(path)
        self.model = self.path.read_bytes()
        self.session = self._session(["CPUExecutionProvider"])
        metadata = self.session.get_modelmeta().custom_metadata_map
        if NST_FF_KEY not in metadata:
            raise CheckpointError(f"{path} is not an nst_ff ONNX model (no '{NST_FF_KEY}' metadata)")
        self.description, self.style_names = read_description(path, metadata[NST_FF_KEY])
        inputs = [(i.name, i.shape) for i in self.session.get_inputs()]
        if [name for name, _ in inputs] != INPUT_NAMES or inputs[1][1][1] != len(self.style_names):
            raise CheckpointError(f"{path}: its inputs {inputs} are not images and style weights for "
                                  f"{len(self.style_names)} styles")
        self.num_styles = len(self.style_names)
        self.cuda_available = "CUDAExecutionProvider" in ort.get_available_providers()

    def _session(self, providers: list[str]):
        import onnxruntime as ort

        options = ort.SessionOptions()
        if self.threads:
            options.intra_op_num_threads = self.threads
        try:
            return ort.InferenceSession(self.model, options, providers=providers)
        except Exception as error:  # onnxruntime raises its own classes for bad protobufs, graphs, providers
            first_line = (str(error).strip().splitlines() or [""])[0]
            raise CheckpointError(f"cannot read ONNX model {self.path}: {first_line}") from None

    def to(self, device: torch.device | str, dtype: torch.dtype = torch.float32, memory_format=None) -> "OnnxNetwork":
        """Runs on `device` (CPU or CUDA) in fp32, the only precision exported; the memory format is torch's
        concern (inputs are copied to ONNX Runtime contiguously)."""
        if dtype != torch.float32:
            raise UsageError(f"an ONNX model runs in float32 only, not {dtype}")
        if torch.device(device).type == "cuda":
            self.session = self._session(["CUDAExecutionProvider", "CPUExecutionProvider"])
        return self

    def __call__(self, images: torch.Tensor, style_weights: torch.Tensor) -> torch.Tensor:
        feeds = {name: tensor.detach().float().contiguous().cpu().numpy()
                 for name, tensor in zip(INPUT_NAMES, (images, style_weights), strict=True)}
        (stylized,) = self.session.run(OUTPUT_NAMES, feeds)  # [B, 3, H, W]
        return torch.from_numpy(np.ascontiguousarray(stylized)).to(images.device)


def read_description(path, text: str) -> tuple[dict, list[str]]:
    """The metadata's description checked against the checkpoint schema (no thumbnails, no weights digest:
    ONNX Runtime reads the weights), and its style names."""
    try:
        description = json.loads(text)
    except ValueError as error:
        raise CheckpointError(f"{path}: unreadable '{NST_FF_KEY}' metadata ({error})") from None
    version = description.get("format") if isinstance(description, dict) else None
    if isinstance(version, int) and version > FORMAT_VERSION:
        raise CheckpointError(f"{path} has checkpoint format {version}, newer than this nst_ff reads "
                              f"({FORMAT_VERSION}): upgrade nst_ff to use it")
    problem = description_problem(description)
    if problem is None and {"thumbnails", "weights_sha256"} & set(description):
        problem = "its metadata carries thumbnails or a weights digest, which an ONNX model never has"
    if problem:
        raise CheckpointError(f"refusing ONNX model {path}: {problem}")
    return description, list(description["style_names"])


def load_onnx(path: str | os.PathLike) -> tuple[OnnxNetwork, list[str], dict]:
    """As checkpoint.load_checkpoint for an exported .onnx file: (network stand-in, style names, description)."""
    network = OnnxNetwork(path)
    return network, network.style_names, network.description
