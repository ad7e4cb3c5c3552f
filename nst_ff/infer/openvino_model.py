"""An exported network (.onnx, fp32 or the int8 QDQ export) on OpenVINO's CPU plugin, in ONNX Runtime's place.

OpenVINO reads the .onnx file as it is and compiles it for this CPU: it fuses the padding, instance norm and
activations around the convolutions (ONNX Runtime runs each as its own pass), runs the int8 export's
convolutions with VNNI/AMX, and on CPUs with AMX or AVX512-BF16 computes in bfloat16 unless told fp32
(BENCHMARKS.md, "OpenVINO": several times ONNX Runtime's speed on such a CPU, PSNR far above 30 dB against fp32).
openvino is imported only here and only when used.
"""

import importlib
import os
import threading
from pathlib import Path

import torch

from nst_ff.errors import UsageError
from nst_ff.infer.onnx_model import INPUT_NAMES, read_description, require
from nst_ff.model.checkpoint import NST_FF_KEY, CheckpointError, checkpoint_not_found

INSTALL_HINT = 'pip install -e ".[openvino]"'
# stylize's --precision -> OpenVINO's inference precision; without one, OpenVINO picks (bf16 where the CPU has it).
PRECISION_HINTS = {"fp32": "f32", "bf16": "bf16"}


def openvino_installed() -> bool:
    try:
        importlib.import_module("openvino")
    except ImportError:
        return False
    return True


class OpenVinoNetwork:
    """An exported network compiled by OpenVINO for the CPU, called like the network: (images [B, 3, H, W],
    style_weights [B, N]) -> stylized [B, 3, H, W], float32 torch tensors on the CPU."""

    cuda_available = False  # the CPU plugin only: CUDA is ONNX Runtime's (--backend onnxruntime)

    def __init__(self, path: str | os.PathLike, precision: str | None = None, threads: int | None = None):
        self.path = Path(path)
        ov = require("openvino", f"running {path} on OpenVINO", INSTALL_HINT)
        if not self.path.is_file():
            raise checkpoint_not_found(path)
        if precision not in (None, *PRECISION_HINTS):
            raise UsageError(f"--precision {precision}: OpenVINO runs on the CPU in fp32 or bf16")
        core = ov.Core()
        # Its ONNX reader alone: Core.read_model tries every framework's, and TensorFlow's logs its own parse errors
        # of a file that is not an ONNX model to stderr.
        frontend = ov.frontend.FrontEndManager().load_by_framework("onnx")
        try:
            model = frontend.convert(frontend.load(str(self.path)))
        except Exception as error:  # OpenVINO's GeneralFailure...: "Check '...' failed at file:line:" first
            lines = [line.strip() for line in str(error).splitlines() if line.strip()] or [type(error).__name__]
            raise CheckpointError(f"cannot read ONNX model {self.path}: {lines[-1]}") from None
        # The ONNX file's metadata_props, as OpenVINO keeps them.
        if not model.has_rt_info(["framework", NST_FF_KEY]):
            raise CheckpointError(f"{path} is not an nst_ff ONNX model (no '{NST_FF_KEY}' metadata)")
        text = model.get_rt_info(["framework", NST_FF_KEY]).astype(str)
        self.description, self.style_names = read_description(path, text)
        self.num_styles = len(self.style_names)
        inputs = [(i.get_any_name(), i.get_partial_shape()) for i in model.inputs]
        if [name for name, _ in inputs] != INPUT_NAMES or inputs[1][1][1] != self.num_styles:
            raise CheckpointError(f"{path}: its inputs {inputs} are not images and style weights for "
                                  f"{self.num_styles} styles")
        config = {"PERFORMANCE_HINT": "LATENCY"}  # one photo at a time, every core on it
        if precision:
            config["INFERENCE_PRECISION_HINT"] = PRECISION_HINTS[precision]
        if threads:
            config["INFERENCE_NUM_THREADS"] = threads
        try:
            self.compiled = core.compile_model(model, "CPU", config)
        except RuntimeError as error:  # a graph it reads but cannot build (a damaged or foreign file)
            first_line = (str(error).strip().splitlines() or [""])[0]
            raise CheckpointError(f"OpenVINO cannot compile {self.path}: {first_line}") from None
        # What it computes in: f32 or bf16.
        self.precision = self.compiled.get_property("INFERENCE_PRECISION_HINT").get_type_name()
        self.request = self.compiled.create_infer_request()
        # The request refuses a call while busy ("Infer Request is busy"): threads sharing this network, as the
        # workbench's sessions share its cached one, take turns.
        self.request_lock = threading.Lock()

    def to(self, device: torch.device | str, dtype: torch.dtype = torch.float32,
           memory_format=None) -> "OpenVinoNetwork":
        """CPU only; takes and gives float32 whatever precision OpenVINO computes in (chosen when loaded)."""
        if torch.device(device).type != "cpu":
            raise UsageError("OpenVINO runs the model on the CPU; use --device cpu, or --backend onnxruntime on CUDA")
        if dtype != torch.float32:
            raise UsageError(f"an ONNX model takes float32 images, not {dtype}")
        return self

    def __call__(self, images: torch.Tensor, style_weights: torch.Tensor) -> torch.Tensor:
        feeds = {name: tensor.detach().float().contiguous().cpu().numpy()
                 for name, tensor in zip(INPUT_NAMES, (images, style_weights), strict=True)}
        with self.request_lock:
            stylized = self.request.infer(feeds)[self.compiled.output(0)]  # [B, 3, H, W], a copy of the request's
        return torch.from_numpy(stylized).to(images.device)
