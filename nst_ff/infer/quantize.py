"""int8 ONNX: the exported network statically quantized by ONNX Runtime's quantizer, for faster CPU inference.

`stylize.py --export m.onnx --quantize int8` exports the fp32 model, then rewrites it in QDQ form: the later 3x3
convolutions of the residual blocks and those of the upsampling path get int8 weights per output channel and uint8
activations, with scales calibrated on a few photos stylized in each of the model's styles. Everything else
stays float (measured layer by layer, BENCHMARKS.md): instance norm (its statistics are per photo, and the
style tables blend in float), the style-weight matmuls, padding, upsampling, the residual adds, the two 9x9
convolutions at full resolution (the first sees only 3 channels, where int8 is slower than fp32 on AVX2), the
two downsampling convolutions and the first three residual convolutions (the most sensitive: their errors grow
through every later layer). The metadata says "int8".
"""

import contextlib
import io
import json
import logging
import os
import tempfile
from pathlib import Path

import numpy as np

from nst_ff.errors import UsageError
from nst_ff.infer.onnx_model import export_onnx, require
from nst_ff.io import jsonfile
from nst_ff.io.images import IMAGE_EXTENSIONS, list_images, open_image, write_atomically
from nst_ff.model.checkpoint import NST_FF_KEY
from nst_ff.model.transformer import StyleTransferNetwork

MODES = ("int8",)
EXPORT_SUFFIXES = (".pt", ".pth", ".onnx")
# The photos bundled with a source checkout; a wheel has none (then the caller passes its own).
DEMO_PHOTOS = Path(__file__).resolve().parents[2] / "demo" / "content"
CALIBRATION_SIZE = 256  # px, square crops: the activation ranges of a photo hardly depend on its size
MAX_CALIBRATION_PHOTOS = 24  # each style runs on two of them: more photos than that add time, not range
FLOAT_KERNELS = (9, 9)  # the full-resolution first and last convolutions
FLOAT_STRIDES = (2, 2)  # the two downsampling convolutions: their errors grow through every later layer
# The 3x3 convolutions right after the downsampling, for the same reason: on the ready model, each alone in int8
# cost 24, 28 and 29 dB on its worst photo-style pair, the later ones 38 dB or more (BENCHMARKS.md).
FLOAT_RESIDUAL = 3


def check_export(mode: str | None, export_path: str | None, calibration: str | None = None) -> None:
    """Refuses an export named neither .pt nor .onnx (a folder's name included), --quantize without an .onnx
    export, and --calibration without --quantize (before anything is written)."""
    if mode is not None and (not export_path or Path(export_path).suffix.lower() != ".onnx"):
        raise UsageError(f"--quantize {mode} writes an ONNX model: give --export PATH.onnx "
                         f"(not {export_path or 'nothing'})")
    if export_path is not None and (str(export_path).endswith(("/", os.sep))
                                    or Path(export_path).suffix.lower() not in EXPORT_SUFFIXES):
        raise UsageError(f"--export {export_path}: name the file .pt (PyTorch) or .onnx (ONNX)")
    if calibration is not None and mode is None:
        raise UsageError(f"--calibration {calibration}: photos to calibrate an int8 export on; add --quantize int8")


def calibration_photos(folder: str | os.PathLike | None = None, size: int = CALIBRATION_SIZE,
                       limit: int = MAX_CALIBRATION_PHOTOS) -> list[np.ndarray]:
    """The first `limit` images in `folder` (default: the demo photos; sorted) as centred square crops,
    [1, 3, size, size] float32 in [0, 1]."""
    from PIL import Image, ImageOps

    folder = DEMO_PHOTOS if folder is None else Path(folder)
    paths = list_images(folder, recursive=False)[:limit] if folder.is_dir() else []
    if not paths and folder == DEMO_PHOTOS:  # installed from a wheel: no demo photos beside the package
        raise UsageError("int8 calibration needs photos: give --calibration FOLDER (a few of the kind you will "
                         "stylize; a source checkout uses its demo/content)")
    if not paths:
        found = f"no images (looked for {' '.join(IMAGE_EXTENSIONS)})" if folder.is_dir() else "not a folder"
        raise UsageError(f"--calibration {folder}: {found}")
    return [np.asarray(ImageOps.fit(open_image(path), (size, size), Image.Resampling.BICUBIC), np.float32)
            .transpose(2, 0, 1)[None] / 255 for path in paths]


def calibration_feeds(photos: list[np.ndarray], num_styles: int, per_style: int = 2) -> list[dict]:
    """Each style on `per_style` photos (taken in turn): the ranges cover every style's instance-norm scales."""
    feeds = []
    for style in range(num_styles):
        weights = np.zeros((1, num_styles), np.float32)
        weights[0, style] = 1
        for k in range(per_style):
            feeds.append({"images": photos[(style * per_style + k) % len(photos)], "style_weights": weights})
    return feeds


def float_convolutions(proto) -> list[str]:
    """Names of the Conv nodes kept in float: those whose kernel is FLOAT_KERNELS or whose stride FLOAT_STRIDES,
    and the first FLOAT_RESIDUAL of the others (the graph lists the nodes in the network's order)."""
    kernels = {tensor.name: tuple(tensor.dims[2:]) for tensor in proto.graph.initializer}

    def strides(node):
        return next((tuple(a.ints) for a in node.attribute if a.name == "strides"), (1, 1))

    convs = [node for node in proto.graph.node if node.op_type == "Conv"]
    edges = [node.name for node in convs
             if kernels.get(node.input[1]) == FLOAT_KERNELS or strides(node) == FLOAT_STRIDES]
    return edges + [node.name for node in convs if node.name not in edges][:FLOAT_RESIDUAL]


def quantize_model(float_path: str | os.PathLike, path: str | os.PathLike, feeds: list[dict]) -> None:
    """Writes `path`: the fp32 model at `float_path` in int8 QDQ form, calibrated by running `feeds`."""
    onnx = require("onnx", f"quantizing {path}")
    quantization = require("onnxruntime.quantization", f"quantizing {path}")

    class Reader(quantization.CalibrationDataReader):
        def __init__(self):
            self.feeds = iter(feeds)

        def get_next(self):
            return next(self.feeds, None)

    proto = onnx.load(float_path)
    with tempfile.TemporaryDirectory() as folder, _quiet_quantizer():
        quantized = Path(folder) / "int8.onnx"
        # u8s8 with reduce_range: uint8 activations, int8 weights in 7 bits, which AVX2's u8 x s8 multiply-add
        # (vpmaddubsw, 16-bit sums) cannot saturate; per-channel weight scales (ONNX Runtime's own advice).
        # Activation ranges from the 99.999th percentile: one style's rare large activations would otherwise
        # stretch the single uint8 scale that every style shares (min/max: 23 dB at worst on the ready model).
        quantization.quantize_static(
            float_path, quantized, Reader(), quant_format=quantization.QuantFormat.QDQ,
            op_types_to_quantize=["Conv"], nodes_to_exclude=float_convolutions(proto), per_channel=True,
            reduce_range=True, activation_type=quantization.QuantType.QUInt8,
            weight_type=quantization.QuantType.QInt8, calibrate_method=quantization.CalibrationMethod.Percentile)
        result = onnx.load(quantized)
    description = json.loads({p.key: p.value for p in proto.metadata_props}[NST_FF_KEY])
    description["precision"] = "int8"
    onnx.helper.set_model_props(result, {NST_FF_KEY: jsonfile.dumps(description)})
    onnx.checker.check_model(result)
    write_atomically(path, lambda f: f.write(result.SerializeToString()), fsync=True)


@contextlib.contextmanager
def _quiet_quantizer():
    """The quantizer logs advice on pre-processing at WARNING on the root logger, and its percentile calibration
    prints its progress: not the user's concern."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            yield
    finally:
        root.setLevel(level)


def export_int8(path: str | os.PathLike, network: StyleTransferNetwork, style_names: list[str],
                training: dict | None = None, photos: list[np.ndarray] | None = None) -> None:
    """Export the network as an int8 ONNX model at `path`, calibrated on `photos` (default: the demo photos)."""
    photos = calibration_photos() if photos is None else photos
    feeds = calibration_feeds(photos, network.num_styles)
    with tempfile.TemporaryDirectory() as folder:
        float_path = Path(folder) / "fp32.onnx"
        export_onnx(float_path, network, style_names, training)
        quantize_model(float_path, path, feeds)
