"""int8 ONNX against the fp32 export of the same checkpoint, in one run: speed per size (the two timed in turn,
so that a busy machine slows both alike), PSNR of int8 against fp32 on real photos in every style, and the
project's quality measure (identification, style gain; nst_ff/measure/quality.py) of both.

    python benchmarks/bench_int8.py --ckpt checkpoints/ready12/last.ckpt \\
        --style-dir ../shared/assets/styles --json benchmarks/results/int8.json
"""

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parent.parent)]
from common import machine, write_json  # noqa: E402

from nst_ff.infer.onnx_model import OnnxNetwork, export_onnx  # noqa: E402
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


def psnr_per_pair(fp32, int8, photos: torch.Tensor, num_styles: int) -> list[float]:
    """PSNR (dB, images in [0, 1]) of int8's output against fp32's, for every photo in every style."""
    values = []
    for style in range(num_styles):
        weights = torch.zeros(len(photos), num_styles)
        weights[:, style] = 1
        for a, b in zip(fp32(photos, weights).clamp(0, 1), int8(photos, weights).clamp(0, 1), strict=True):
            values.append(10 * np.log10(1 / ((a - b) ** 2).mean().clamp_min(1e-12).item()))
    return values


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ckpt", required=True, help="a trained checkpoint (.ckpt or .pt)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[512, 1024], help="square sides timed")
    parser.add_argument("--iterations", type=int, default=3, help="timed passes per model and size")
    parser.add_argument("--threads", type=int, help="ONNX Runtime intra-op threads (default: its choice)")
    parser.add_argument("--content-dir", default=str(DEMO_PHOTOS), help="photos for PSNR and quality")
    parser.add_argument("--photo-size", type=int, default=384, help="photos cropped to this square side")
    parser.add_argument("--style-dir", help="the paintings, by style name: adds identification and style gain")
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
        models = {name: OnnxNetwork(Path(folder) / f"{name}.onnx", args.threads) for name in ("fp32", "int8")}
    speed = []
    for size in args.sizes:
        ms = time_in_turn(models, size, len(style_names), args.iterations)
        speed.append({"size": size, **{f"{k}_ms": v for k, v in ms.items()}, "speedup": ms["fp32"] / ms["int8"]})
        print(f"{size} px: fp32 {ms['fp32']:.0f} ms, int8 {ms['int8']:.0f} ms, {speed[-1]['speedup']:.2f}x", flush=True)
    photos, _ = load_photos(args.content_dir, args.photo_size, None)
    batch = torch.stack(list(photos.values()))
    psnr = psnr_per_pair(models["fp32"], models["int8"], batch, len(style_names))
    print(f"PSNR int8 vs fp32 over {len(psnr)} photo-style pairs: mean {np.mean(psnr):.2f}, min {min(psnr):.2f} dB")
    report = {"benchmark": "int8", "machine": machine(), "settings": vars(args), "quantize_s": quantize_s,
              "speed": speed, "psnr": {"mean": float(np.mean(psnr)), "min": float(min(psnr)), "pairs": len(psnr)}}
    if args.style_dir:
        found, _ = find_paintings(style_names, args.style_dir)
        yardstick = Yardstick([resize_shorter(read_image(p), PAINTING_SIZE) for p in found.values()],
                              args.vgg_weights)
        report["quality"] = {name: measure(model, yardstick, batch, list(found), style_names)["overall"]
                             for name, model in models.items()}
        for name, overall in report["quality"].items():
            print(f"{name}: identified {overall['identified']:.3f}, style gain {overall['style_gain']:.3f}, "
                  f"content {overall['content']:.3f}")
    write_json(args.json, report)
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
