"""Inference speed of the style transfer network: ms/image and images/s per size, batch, precision and
torch.compile, or on ONNX Runtime, after warm-up, with the analytic multiply-add count and the rate achieved.

    python benchmarks/bench_stylize.py                      # CPU, fp32, 256/512/1024 px, batch 1 and 4
    python benchmarks/bench_stylize.py --device cuda        # fp32/bf16/fp16, batch 1 and 8, eager and compiled
    python benchmarks/bench_stylize.py --backend both       # also the exported ONNX model on ONNX Runtime (fp32)
    python benchmarks/bench_stylize.py --quick              # seconds: tiny sizes, one timed pass (CI)
    python benchmarks/bench_stylize.py --backend both --int8 --peer   # + the int8 export, + fast_neural_style
    python benchmarks/bench_stylize.py --backend both --int8 --openvino --precisions fp32 bf16 autocast-bf16 \
        mkldnn-bf16      # + the exports on OpenVINO (fp32 and bf16), + PyTorch's bf16 variants on the CPU
    python benchmarks/bench_stylize.py --peer --default-path --backend both --openvino --batch-sizes 1
                         # stylize.py's default path for a .ckpt on the CPU against the peer
"""

import argparse
import contextlib
import copy
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch import nn

sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parent.parent)]
from common import format_table, machine, write_json  # noqa: E402
from fast_neural_style_peer import TransformerNet  # noqa: E402

from nst_ff.infer.onnx_model import OnnxNetwork, export_onnx  # noqa: E402
from nst_ff.infer.openvino_model import OpenVinoNetwork  # noqa: E402
from nst_ff.infer.quantize import export_int8  # noqa: E402
from nst_ff.model.transformer import StyleTransferNetwork  # noqa: E402

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
# PyTorch on the CPU in fp32 weights, with bf16 computed inside: autocast (convolutions in bf16, norms in fp32),
# or oneDNN's implicit down-conversion of fp32 convolutions (torch.backends.mkldnn.fp32_precision).
CPU_BF16 = ("autocast-bf16", "mkldnn-bf16")
# (export, OpenVINO's inference precision) -> the row's precision: the int8 export's float layers in fp32 or bf16.
OPENVINO_ROWS = {("fp32", "fp32"): "fp32", ("fp32", "bf16"): "bf16", ("int8", "fp32"): "int8",
                 ("int8", "bf16"): "int8+bf16"}
COLUMNS = [
    ("backend", "backend", ""), ("precision", "precision", ""), ("compile", "compile", ""), ("size", "size", "d"),
    ("batch", "batch", "d"),
    ("ms_per_image", "ms/image", ".1f"), ("images_per_s", "images/s", ".2f"),
    ("gmac_per_image", "GMAC/image", ".2f"), ("gmac_per_s", "GMAC/s", ".1f"), ("peak_memory_mb", "peak MB", ".0f"),
]


def conv_macs(network: nn.Module, size: int, num_styles: int) -> int:
    """Multiply-adds of every convolution for one size x size image: out_H * out_W * C_out * C_in/groups * kH * kW.
    Shapes come from a forward pass on the meta device (no memory, no compute)."""
    macs = 0

    def count(conv, inputs, output):
        nonlocal macs
        macs += output[0].numel() * conv.in_channels // conv.groups * conv.kernel_size[0] * conv.kernel_size[1]

    meta = StyleTransferNetwork(num_styles, network.alpha).to("meta")
    hooks = [m.register_forward_hook(count) for m in meta.modules() if isinstance(m, nn.Conv2d)]
    meta(torch.zeros(1, 3, size, size, device="meta"), torch.zeros(1, num_styles, device="meta"))
    for hook in hooks:
        hook.remove()
    return macs


def peak_memory_mb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def time_per_pass(run, device, warmup: int, min_time: float, min_iters: int) -> tuple[float, int]:
    """Median seconds of one call of `run` after `warmup` calls, over at least `min_iters` calls and `min_time` s."""
    def synchronize():
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    for _ in range(warmup):
        run()
    synchronize()
    times, start = [], time.perf_counter()
    while len(times) < min_iters or time.perf_counter() - start < min_time:
        begin = time.perf_counter()
        run()
        synchronize()
        times.append(time.perf_counter() - begin)
    return statistics.median(times), len(times)


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512, 1024], help="square image sides")
    parser.add_argument("--batch-sizes", type=int, nargs="+", help="default: 1 4 on CPU, 1 8 on GPU")
    parser.add_argument("--precisions", nargs="+", choices=[*DTYPES, *CPU_BF16],
                        help="default: fp32 on CPU, fp32 bf16 fp16 on GPU")
    parser.add_argument("--backend", choices=["torch", "onnxruntime", "both"], default="torch",
                        help="PyTorch, the exported ONNX model on ONNX Runtime (fp32 only), or both (default torch)")
    parser.add_argument("--compile", choices=["off", "on", "both"], help="torch.compile (default: off on CPU, "
                        "both on GPU)")
    parser.add_argument("--channels-last", action=argparse.BooleanOptionalAction, help="NHWC tensors "
                        "(default: on GPU only, as stylize does)")
    parser.add_argument("--int8", action="store_true", help="also the int8 ONNX export (stylize.py --quantize int8)")
    parser.add_argument("--openvino", action="store_true", help="also the exports (fp32, and int8 with --int8) on "
                        "OpenVINO's CPU plugin, in fp32 and in bf16 (stylize.py --backend openvino)")
    parser.add_argument("--default-path", action="store_true", help="also what stylize.py runs a .ckpt with on the "
                        "CPU by default: its ONNX export on OpenVINO at OpenVINO's own precision")
    parser.add_argument("--peer", action="store_true", help="also fast_neural_style's TransformerNet, eager fp32: "
                        "the peer of SPEC.md's speed targets")
    parser.add_argument("--alpha", type=float, default=1.0, help="width multiplier of the network (default 1)")
    parser.add_argument("--num-styles", type=int, default=12)
    parser.add_argument("--threads", type=int, help="torch.set_num_threads (default: torch's choice)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed passes per configuration (default 2)")
    parser.add_argument("--min-time", type=float, default=3.0, help="seconds timed per configuration (default 3)")
    parser.add_argument("--min-iters", type=int, default=3, help="timed passes per configuration, at least")
    parser.add_argument("--json", default="benchmarks/results/stylize.json", help="report file")
    parser.add_argument("--quick", action="store_true", help="tiny sizes, one timed pass: a smoke test for CI")
    args = parser.parse_args(argv)
    gpu = args.device.startswith("cuda")
    if args.quick:
        args.sizes, args.batch_sizes, args.warmup, args.min_time, args.min_iters = [32, 64], [1, 2], 1, 0.0, 1
    args.batch_sizes = args.batch_sizes or ([1, 8] if gpu else [1, 4])
    args.precisions = args.precisions or (list(DTYPES) if gpu else ["fp32"])
    if gpu and set(args.precisions) & set(CPU_BF16):
        parser.error(f"{', '.join(CPU_BF16)} are CPU precisions")
    args.compile = args.compile or ("both" if gpu else "off")
    args.channels_last = gpu if args.channels_last is None else args.channels_last
    return args


def onnx_models(eager: nn.Module, args, device: torch.device) -> list[tuple]:
    """(backend, precision, None, model) of the ONNX exports asked for: fp32 and/or int8, on ONNX Runtime and/or
    OpenVINO (in fp32, and in bf16 where OpenVINO computes the float layers in bfloat16). Exported first, before
    the network moves or changes precision; the int8 model calibrated on the demo photos."""
    names = [f"style{i}" for i in range(args.num_styles)]
    wanted = args.backend in ("onnxruntime", "both") or args.openvino or args.default_path
    exports = [("fp32", export_onnx)] if wanted else []
    exports += [("int8", export_int8)] if args.int8 else []
    runtimes = []
    with tempfile.TemporaryDirectory() as folder:
        for precision, save in exports:
            path = Path(folder) / f"{precision}.onnx"
            save(path, eager, names)
            if args.backend in ("onnxruntime", "both"):
                runtimes.append(("onnxruntime", precision, None, OnnxNetwork(path, threads=args.threads).to(device)))
            if args.openvino:
                runtimes += [("openvino", OPENVINO_ROWS[precision, compute], None,
                              OpenVinoNetwork(path, compute, args.threads)) for compute in ("fp32", "bf16")]
            if args.default_path and precision == "fp32":  # nst_ff.infer.export_cache: no precision asked
                network = OpenVinoNetwork(path, None, args.threads)
                runtimes.append(("stylize.py default", f"openvino {network.precision}", None, network))
    return runtimes


def torch_models(eager: nn.Module, args, device: torch.device, memory_format) -> list[tuple]:
    """(backend, precision, compile, model) of the PyTorch rows: each precision, eager and/or compiled."""
    compiles = {"off": [False], "on": [True], "both": [False, True]}[args.compile]
    models = []
    for precision in args.precisions:
        # A copy per precision: Module.to converts in place, and would turn the earlier rows' model too.
        network = copy.deepcopy(eager).to(device, DTYPES.get(precision, torch.float32), memory_format=memory_format)
        for compiled in compiles:
            # dynamic=False: one specialised graph per shape, as a server with fixed sizes would use.
            model = torch.compile(network, dynamic=False) if compiled else network
            models.append(("torch", precision, "on" if compiled else "off",
                           in_cpu_bf16(model, precision) if precision in CPU_BF16 else model))
    return models


def in_cpu_bf16(model, precision: str):
    """`model` called with bf16 computed inside its fp32 convolutions, in `precision`'s way (CPU_BF16)."""
    def run(images, style_weights):
        if precision == "autocast-bf16":
            context = torch.autocast("cpu", torch.bfloat16)
        else:
            context = mkldnn_fp32_precision("bf16")
        with context:
            return model(images, style_weights).float()

    return run


@contextlib.contextmanager
def mkldnn_fp32_precision(precision: str):
    previous = torch.backends.mkldnn.fp32_precision
    torch.backends.mkldnn.fp32_precision = precision
    try:
        yield
    finally:
        torch.backends.mkldnn.fp32_precision = previous


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    memory_format = torch.channels_last if args.channels_last else torch.contiguous_format
    torch.manual_seed(0)
    eager = StyleTransferNetwork(args.num_styles, args.alpha).eval()
    # Ascending pixel counts: on CPU the process's peak RSS so far is then the peak of the current config.
    shapes = sorted(((s, b) for s in args.sizes for b in args.batch_sizes), key=lambda sb: sb[0] ** 2 * sb[1])
    models = []  # (backend, precision, compile, model)
    runtimes = onnx_models(eager, args, device)
    if args.peer:
        peer = TransformerNet().eval().to(device, memory_format=memory_format)
        models.append(("fast_neural_style", "fp32", "off", lambda images, _weights: peer(images * 255)))
    if args.backend in ("torch", "both"):
        models += torch_models(eager, args, device, memory_format)
    models += runtimes
    results = []
    # Every model at one size before the next size: on a shared machine, the rows to compare are minutes apart
    # at most. Reported in model order.
    for size, batch in shapes:
        for backend, precision, compiled, model in models:
            dtype = DTYPES.get(precision, torch.float32) if backend == "torch" else torch.float32
            images = torch.rand(batch, 3, size, size, device=device, dtype=dtype)
            images = images.contiguous(memory_format=memory_format)
            style_weights = torch.zeros(batch, args.num_styles, device=device)
            style_weights[:, 0] = 1

            @torch.inference_mode()
            def run(model=model, images=images, style_weights=style_weights):
                model(images, style_weights)

            if device.type == "cuda":
                torch.cuda.reset_peak_memory_stats(device)
            seconds, iterations = time_per_pass(run, device, args.warmup, args.min_time, args.min_iters)
            macs = conv_macs(eager, size, args.num_styles)
            row = {
                "device": device.type, "backend": backend, "precision": precision, "compile": compiled,
                "size": size, "batch": batch, "iterations": iterations,
                "ms_per_image": 1000 * seconds / batch, "images_per_s": batch / seconds,
                "gmac_per_image": macs / 1e9, "gmac_per_s": macs * batch / seconds / 1e9,
                "peak_memory_mb": peak_memory_mb(device),
            }
            results.append(row)
            print(format_table([row], COLUMNS).splitlines()[-1], flush=True)
    order = {(m[0], m[1], m[2]): index for index, m in enumerate(models)}
    results.sort(key=lambda row: order[row["backend"], row["precision"], row["compile"]])  # stable: sizes ascend
    settings = {k: v for k, v in vars(args).items() if k != "json"}
    report = {"benchmark": "stylize", "machine": machine(), "settings": settings, "results": results}
    memory_note = ("peak MB: torch.cuda.max_memory_allocated per configuration (not ONNX Runtime's own memory)"
                   if device.type == "cuda" else
                   "peak MB: the process's peak RSS so far (configurations run in ascending pixel count)")
    print(f"\n{report['machine']['cpu']}, {report['machine']['torch_threads']} threads, "
          f"{report['machine']['gpu'] or 'no GPU'}, torch {report['machine']['torch']}, "
          f"commit {report['machine']['commit']}; {memory_note}")
    print(format_table(results, COLUMNS))
    write_json(args.json, report)
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
