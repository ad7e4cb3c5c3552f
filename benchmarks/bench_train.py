"""Training speed: steps/s and images/s of the real training step (Lightning, data loading from a folder
of photos, VGG16 perceptual loss, Adam), and the peak memory.

    NST_FF_VGG_WEIGHTS=../shared/assets/vgg/vgg16_features.pth python benchmarks/bench_train.py
    python benchmarks/bench_train.py --accelerator gpu --batch-size 16 --precision bf16-mixed
    python benchmarks/bench_train.py --quick --content-dir photos/ --style-dir styles/   # seconds (CI)
    python benchmarks/bench_train.py --finetune 2   # a fine-tuning step: only the last 2 styles' CIN rows train
    python benchmarks/bench_train.py --breakdown    # + phases of nst_ff's and fast_neural_style's steps, data rate
"""

import argparse
import resource
import sys
import time
from pathlib import Path

import lightning as L
import torch

sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parent.parent)]
from common import ROOT, format_table, machine, write_json  # noqa: E402
from step_breakdown import PHASES, breakdown, data_rate, nst_ff_step, peer_step  # noqa: E402

from nst_ff.cli.arguments import positive_int  # noqa: E402
from nst_ff.io.config import loss_config  # noqa: E402
from nst_ff.loss.perceptual import PerceptualLoss  # noqa: E402
from nst_ff.model.transformer import StyleTransferNetwork  # noqa: E402
from nst_ff.train.data import ContentImages, StyleTransferDataModule  # noqa: E402
from nst_ff.train.module import Monitor, Styles, StyleTransferModule  # noqa: E402
from nst_ff.train.precision import resolve_precision  # noqa: E402

COLUMNS = [
    ("device", "device", ""), ("precision", "precision", ""), ("batch", "batch", "d"), ("size", "size", "d"),
    ("steps", "steps", "d"), ("s_per_step", "s/step", ".3f"), ("steps_per_s", "steps/s", ".3f"),
    ("images_per_s", "images/s", ".2f"), ("data_ms_per_step", "wait ms", ".1f"), ("peak_memory_mb", "peak MB", ".0f"),
]


class StepTimer(L.Callback):
    """Wall time of every step from one batch end to the next (so data loading counts), and the part of it
    spent before the step starts (waiting for the loader, Lightning's bookkeeping). It also keeps the device the
    steps ran on and, on a GPU, their peak memory: Lightning moves the module back to the CPU when fit ends."""

    def __init__(self, warmup: int):
        self.warmup = warmup
        self.ends: list[float] = []
        self.waits: list[float] = []
        self.device = torch.device("cpu")
        self.peak_bytes = 0

    def _now(self, module) -> float:
        if module.device.type == "cuda":
            torch.cuda.synchronize(module.device)
        return time.perf_counter()

    def on_train_batch_start(self, trainer, module, batch, batch_idx):
        if len(self.ends) > self.warmup:
            self.waits.append(self._now(module) - self.ends[-1])
        if len(self.ends) == self.warmup and module.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(module.device)

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
        self.ends.append(self._now(module))
        self.device = module.device
        if module.device.type == "cuda":
            self.peak_bytes = torch.cuda.max_memory_allocated(module.device)


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    assets = ROOT.parent / "shared" / "assets"
    parser.add_argument("--content-dir", default=str(assets / "content" / "coco128"), help="photos (default: "
                        "../shared/assets/content/coco128)")
    parser.add_argument("--style-dir", default=str(assets / "styles"), help="paintings (default: "
                        "../shared/assets/styles)")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--size", type=int, default=256, help="training crop (default 256)")
    parser.add_argument("--style-size", type=int, default=256)
    parser.add_argument("--steps", type=positive_int, default=5, help="timed steps (default 5)")
    parser.add_argument("--warmup", type=positive_int, default=2, help="untimed steps first, at least one: "
                        "the first timed step starts when the last warm-up step ends (default 2)")
    parser.add_argument("--num-workers", type=int, default=2, help="data loader processes (default 2)")
    parser.add_argument("--accelerator", default="cpu", help="cpu or gpu (default cpu)")
    parser.add_argument("--precision", default="auto", help="Lightning precision: 32-true, bf16-mixed, ..., or auto "
                        "(as training: bf16-mixed where the hardware computes in bf16; the default)")
    parser.add_argument("--compile", action="store_true", help="torch.compile the network")
    parser.add_argument("--channels-last", action="store_true")
    parser.add_argument("--alpha", type=float, default=1.0, help="width multiplier of the network")
    parser.add_argument("--vgg-weights", help="default: $NST_FF_VGG_WEIGHTS, else imagenet (as training)")
    parser.add_argument("--threads", type=int, help="torch.set_num_threads (default: torch's choice)")
    parser.add_argument("--finetune", type=positive_int, metavar="K", help="time fine-tuning (finetune_from): the "
                        "last K styles are the new ones, the rest and the shared weights frozen")
    parser.add_argument("--breakdown", action="store_true", help="also time the phases of nst_ff's step and of "
                        "fast_neural_style's on the same batches, and the data pipeline alone")
    parser.add_argument("--json", default="benchmarks/results/train.json", help="report file")
    parser.add_argument("--quick", action="store_true", help="32 px, batch 2, 2 steps, random VGG: a CI smoke test")
    args = parser.parse_args(argv)
    if args.quick:
        args.size = args.style_size = 32
        args.batch_size, args.steps, args.warmup, args.num_workers, args.vgg_weights = 2, 2, 1, 0, "random"
    return args


def step_phases(args, data) -> dict:
    """ms per phase of nst_ff's and the peer's step on the same batches, and photos/s of one data worker.
    With bf16-mixed, nst_ff in float32 and the peer under the same bf16 autocast too, for a like-for-like ratio
    beside the one against the peer's own (float32) step."""
    vgg_weights = loss_config(vgg_weights=args.vgg_weights)["vgg"]["weights"]
    dataset = ContentImages(data.content_paths, args.size)
    photos = [dataset[i % len(dataset)] for i in range(args.batch_size * (args.warmup + args.steps))]
    batches = list(torch.stack(photos).split(args.batch_size))
    bf16 = args.precision.startswith("bf16")
    steps = {"nst_ff": nst_ff_step(data.style_images, vgg_weights, bf16)}
    if bf16:
        steps["nst_ff fp32"] = nst_ff_step(data.style_images, vgg_weights)
    steps["fast_neural_style"] = peer_step(data.style_images[0], vgg_weights)
    if bf16:
        steps["fast_neural_style bf16"] = peer_step(data.style_images[0], vgg_weights, bf16=True)
    phases = {name: breakdown(step, batches, args.warmup) for name, step in steps.items()}
    print(f"\n{'ms per step':<24}" + "".join(f"{phase:>11}" for phase in (*PHASES, "total")))
    for name, row in phases.items():
        print(f"{name:<24}" + "".join(f"{row[phase]:11.0f}" for phase in (*PHASES, "total")))
    ratios = {"ratio": phases["nst_ff"]["total"] / phases["fast_neural_style"]["total"]}
    if bf16:
        ratios["ratio_fp32"] = phases["nst_ff fp32"]["total"] / phases["fast_neural_style"]["total"]
        ratios["ratio_bf16"] = phases["nst_ff"]["total"] / phases["fast_neural_style bf16"]["total"]
    rate = data_rate(data.content_paths, args.size, max(8, 4 * args.batch_size))
    print(f"nst_ff ({args.precision}) / fast_neural_style's own step: {ratios['ratio']:.2f}x" +
          (f"; both fp32 {ratios['ratio_fp32']:.2f}x, both bf16 {ratios['ratio_bf16']:.2f}x" if bf16 else "") +
          f"; data pipeline: {rate:.1f} photos/s per worker")
    return {**phases, **ratios, "data_photos_per_s_per_worker": rate}


def main(argv=None) -> int:
    args = parse_args(argv)
    args.precision = resolve_precision(args.precision, args.accelerator)
    if args.threads:
        torch.set_num_threads(args.threads)
    L.seed_everything(0, verbose=False)
    data = StyleTransferDataModule(args.content_dir, args.style_dir, args.size, args.style_size, args.batch_size,
                                   args.num_workers, grid_images=1)
    data.prepare()
    frozen = len(data.style_names) - args.finetune if args.finetune else 0
    if frozen < 0:
        raise SystemExit(f"bench_train.py: error: --finetune {args.finetune}: {args.style_dir} has only "
                         f"{len(data.style_names)} styles")
    network = StyleTransferNetwork(len(data.style_names), args.alpha)
    loss = PerceptualLoss(**loss_config(vgg_weights=args.vgg_weights))
    module = StyleTransferModule(network, loss, Styles(data.style_names, data.style_images[frozen:], frozen),
                                 Monitor(data.grid_contents(), image_every_n_steps=0),
                                 channels_last=args.channels_last, compile=args.compile)
    timer = StepTimer(args.warmup)
    trainer = L.Trainer(
        max_steps=args.warmup + args.steps, max_epochs=-1, accelerator=args.accelerator, devices=1,
        precision=args.precision, logger=False, enable_checkpointing=False, enable_progress_bar=False,
        enable_model_summary=False, callbacks=[timer],
    )
    trainer.fit(module, datamodule=data)
    seconds = (timer.ends[-1] - timer.ends[args.warmup - 1]) / args.steps
    on_gpu = timer.device.type == "cuda"
    peak = (timer.peak_bytes if on_gpu else
            resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024) / 2**20  # ru_maxrss is in KiB
    result = {
        "device": timer.device.type, "precision": args.precision, "batch": args.batch_size, "size": args.size,
        "steps": args.steps, "s_per_step": seconds, "steps_per_s": 1 / seconds,
        "images_per_s": args.batch_size / seconds,
        "data_ms_per_step": 1000 * sum(timer.waits) / len(timer.waits) if timer.waits else None,
        "peak_memory_mb": peak, "num_workers": args.num_workers, "compile": args.compile,
        "channels_last": args.channels_last,
        "content_images": len(data.content_paths), "styles": len(data.style_names), "finetune": args.finetune,
        "vgg_weights": loss_config(vgg_weights=args.vgg_weights)["vgg"]["weights"],
    }
    report = {"benchmark": "train", "machine": machine(), "settings": vars(args), "results": [result]}
    if args.breakdown:
        report["breakdown"] = step_phases(args, data)
    memory_note = ("peak MB: torch.cuda.max_memory_allocated during the timed steps" if on_gpu else
                   "peak MB: peak RSS of the training process (data loader workers not included)")
    print(f"\n{report['machine']['cpu']}, {report['machine']['torch_threads']} threads, "
          f"{report['machine']['gpu'] or 'no GPU'}, torch {report['machine']['torch']}, "
          f"commit {report['machine']['commit']}; VGG {result['vgg_weights']}; {memory_note}")
    print(format_table([result], COLUMNS))
    write_json(args.json, report)
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
