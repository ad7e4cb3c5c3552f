"""int8 ONNX against the fp32 export of the same checkpoint, in one run: speed per size (the models timed in
turn, so that a busy machine slows all alike), PSNR of each against fp32 on real photos in every style, and the
project's quality measure (identification, style gain; nst_ff/measure/quality.py) of each.

    python benchmarks/bench_int8.py --ckpt checkpoints/ready12/last.ckpt \\
        --style-dir ../shared/assets/styles --json benchmarks/results/int8.json
    ... --openvino      # also both exports on OpenVINO, in fp32 and in bf16 (stylize.py --backend openvino)
    ... --torch-bf16    # also the PyTorch network in bf16 on the CPU: bf16 weights, autocast, oneDNN's bf16 convs
"""

import argparse
import copy
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parent.parent)]
from bench_stylize import in_cpu_bf16  # noqa: E402
from common import machine, write_json  # noqa: E402

from nst_ff.infer.onnx_model import OnnxNetwork, export_onnx  # noqa: E402
from nst_ff.infer.openvino_model import OpenVinoNetwork  # noqa: E402
from nst_ff.infer.quantize import DEMO_PHOTOS, export_int8  # noqa: E402
from nst_ff.io.images import read_image, resize_shorter  # noqa: E402
from nst_ff.measure.evaluation import find_paintings, load_photos  # noqa: E402
from nst_ff.measure.quality import PAINTING_SIZE, Yardstick, measure  # noqa: E402
from nst_ff.model.checkpoint import load_checkpoint, training_record  # noqa: E402


def time_in_turn(models: dict, size: int, num_styles: int, iterations: int) -> dict:
    """Median ms of each model on one size x size image, the models taking turns within every iteration."""
    images = torch.rand(1, 3, size, size)
    weights = torch.zeros(1, num_styles)
    weights[0, 0] = 1
    times = {name: [] for name in models}
    for model in models.values():  # warm-up
        model(images, weights)
    for _ in range(iterations):
        for name, model in models.items():
            begin = time.perf_counter()
            model(images, weights)
            times[name].append(time.perf_counter() - begin)
    return {name: 1000 * statistics.median(values) for name, values in times.items()}


def outputs(model, photos: torch.Tensor, num_styles: int) -> list[torch.Tensor]:
    """The model's output for every photo in each style in turn: [num_styles] x [K, 3, H, W] in [0, 1]."""
    with torch.inference_mode():
        return [model(photos, torch.eye(num_styles)[[style] * len(photos)]).float().clamp(0, 1)
                for style in range(num_styles)]


def psnr_per_pair(reference: list[torch.Tensor], other: list[torch.Tensor]) -> list[float]:
    """PSNR (dB, images in [0, 1]) of each output against the reference's, for every photo in every style."""
    return [10 * np.log10(1 / ((a - b) ** 2).mean().clamp_min(1e-12).item())
            for style_a, style_b in zip(reference, other, strict=True) for a, b in zip(style_a, style_b, strict=True)]


def torch_models(network) -> dict:
    """The PyTorch network on the CPU: fp32, bf16 weights (stylize.py --precision bf16), and fp32 weights with
    bf16 convolutions (autocast, oneDNN's down-conversion)."""
    network = network.eval()
    bf16 = copy.deepcopy(network).to(torch.bfloat16)
    return {"torch fp32": network, "torch bf16": lambda images, w: bf16(images.bfloat16(), w).float(),
            **{f"torch {name}": in_cpu_bf16(network, name) for name in ("autocast-bf16", "mkldnn-bf16")}}


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ckpt", required=True, help="a trained checkpoint (.ckpt or .pt)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[512, 1024], help="square sides timed")
    parser.add_argument("--iterations", type=int, default=3, help="timed passes per model and size")
    parser.add_argument("--threads", type=int, help="ONNX Runtime intra-op threads (default: its choice)")
    parser.add_argument("--content-dir", default=str(DEMO_PHOTOS), help="photos for PSNR and quality")
    parser.add_argument("--photo-size", type=int, default=384, help="photos cropped to this square side")
    parser.add_argument("--style-dir", help="the paintings, by style name: adds identification and style gain")
    parser.add_argument("--openvino", action="store_true", help="also both exports on OpenVINO, fp32 and bf16")
    parser.add_argument("--torch-bf16", action="store_true", help="also PyTorch fp32 and its bf16 variants")
    parser.add_argument("--vgg-weights", default="imagenet", help="the yardstick's VGG16 (default imagenet)")
    parser.add_argument("--json", default="benchmarks/results/int8.json", help="report file")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    network, style_names, description = load_checkpoint(args.ckpt)
    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        export_int8(Path(folder) / "int8.onnx", network, style_names, training_record(description))
        quantize_s = time.perf_counter() - start
        export_onnx(Path(folder) / "fp32.onnx", network, style_names)
        # "fp32" and "int8": ONNX Runtime's, the names of the first tables; OpenVINO's rows say their runtime.
        models = {name: OnnxNetwork(Path(folder) / f"{name}.onnx", args.threads) for name in ("fp32", "int8")}
        if args.openvino:
            models |= {f"openvino {name}{'' if compute == 'fp32' else ' bf16'}":
                       OpenVinoNetwork(Path(folder) / f"{name}.onnx", compute, args.threads)
                       for name in ("fp32", "int8") for compute in ("fp32", "bf16")}
    models |= torch_models(network) if args.torch_bf16 else {}
    speed = []
    for size in args.sizes:
        ms = time_in_turn(models, size, len(style_names), args.iterations)
        speed.append({"size": size, **{f"{k}_ms": v for k, v in ms.items()}, "speedup": ms["fp32"] / ms["int8"],
                      "speedup_vs_fp32": {k: ms["fp32"] / v for k, v in ms.items()}})
        print(f"{size} px: " + ", ".join(f"{k} {v:.0f} ms ({ms['fp32'] / v:.2f}x)" for k, v in ms.items()), flush=True)
    photos, _ = load_photos(args.content_dir, args.photo_size, None)
    batch = torch.stack(list(photos.values()))
    reference = outputs(models["fp32"], batch, len(style_names))
    psnr = {name: psnr_per_pair(reference, outputs(model, batch, len(style_names)))
            for name, model in models.items() if name != "fp32"}
    for name, values in psnr.items():
        print(f"PSNR {name} vs fp32 over {len(values)} photo-style pairs: mean {np.mean(values):.2f}, "
              f"min {min(values):.2f} dB")
    report = {"benchmark": "int8", "machine": machine(), "settings": vars(args), "quantize_s": quantize_s,
              "speed": speed, "psnr": {"mean": float(np.mean(psnr["int8"])), "min": float(min(psnr["int8"])),
                                       "pairs": len(psnr["int8"])},
              "psnr_vs_fp32": {name: {"mean": float(np.mean(v)), "min": float(min(v))} for name, v in psnr.items()}}
    if args.style_dir:
        found, _ = find_paintings(style_names, args.style_dir)
        yardstick = Yardstick([resize_shorter(read_image(p), PAINTING_SIZE) for p in found.values()],
                              args.vgg_weights)
        # ONNX Runtime's and OpenVINO's rows (OpenVINO's fp32 equals ONNX Runtime's: PSNR above); PyTorch's bf16
        # rows by PSNR only, to keep the run short.
        measured = [name for name in models if name in ("fp32", "int8") or name.startswith("openvino ")
                    and name != "openvino fp32"]
        report["quality"] = {name: measure(models[name], yardstick, batch, list(found), style_names)["overall"]
                             for name in measured}
        for name, overall in report["quality"].items():
            print(f"{name}: identified {overall['identified']:.3f}, style gain {overall['style_gain']:.3f}, "
                  f"content {overall['content']:.3f}")
    write_json(args.json, report)
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
