"""Score a checkpoint: its quality on the fixed yardstick (identification, style gain, content error), and
its loss against per-image optimisation of the loss it was trained on:
`python evaluate.py --ckpt checkpoints/ready12.pt --content-dir photos/ --style-dir styles/ [--size 256]
[--limit N] [--opt-steps S]` (`--opt-steps 0`: the quality report alone, in seconds).
Prints tables; writes a JSON file and a TensorBoard run."""

import argparse
import math
import sys
from pathlib import Path

import torch

from nst_ff.cli.arguments import Parser, device, int_from, non_negative, run_command
from nst_ff.errors import UsageError
from nst_ff.infer.stroke import check_stroke_scale, stroke_scaled
from nst_ff.infer.stylizer import NonFiniteOutputError, dim_dark
from nst_ff.io import jsonfile
from nst_ff.io.config import default_style_size, loss_config
from nst_ff.io.images import read_image, resize_shorter
from nst_ff.io.paths import check_output, check_writable
from nst_ff.loss.perceptual import PerceptualLoss
from nst_ff.measure.evaluation import evaluate, find_paintings, format_table, load_photos, write_tensorboard
from nst_ff.measure.optimization import OPTIMIZERS
from nst_ff.measure.quality import PAINTING_SIZE, Yardstick, format_quality, measure
from nst_ff.model.checkpoint import load_checkpoint
from nst_ff.model.schema import MAX_STYLE_SIZE


def parse_args(argv):
    parser = Parser(prog="evaluate.py", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ckpt", required=True, help="training checkpoint or exported network")
    parser.add_argument("--content-dir", required=True, nargs="+", metavar="DIR",
                        help="one or more folders of photos (each searched recursively, sorted)")
    parser.add_argument("--style-dir", required=True, help="the paintings, named by style (file stem)")
    parser.add_argument("--styles", help="comma-separated subset of the checkpoint's styles (default: all)")
    # Bounds: VGG's deepest style layer needs 16 px; above them memory or time runs out on any machine.
    parser.add_argument("--size", type=int_from(16, 2048), default=256,
                        help="photos resized and centre-cropped (256)")
    parser.add_argument("--style-size", type=int_from(16, MAX_STYLE_SIZE), help="shorter side of the paintings "
                        "(default: the checkpoint's training value, else conf/data/folders.yaml)")
    parser.add_argument("--stroke-scale", type=float, default=1.0, metavar="S",
                        help="score the outputs stylize.py paints with --stroke-scale S (default 1)")
    parser.add_argument("--limit", type=int_from(1, 10000), default=4, help="photos to use (default 4)")
    parser.add_argument("--opt-steps", type=int_from(0, 100000), default=200,
                        help="optimiser steps per photo (200); 0: the quality report alone")
    parser.add_argument("--optimizer", choices=OPTIMIZERS, default="lbfgs")
    parser.add_argument("--content-weight", type=non_negative,
                        help="default: the checkpoint's training loss, else conf/loss/perceptual.yaml")
    parser.add_argument("--style-weight", type=non_negative,
                        help="default: the checkpoint's training loss, else conf/loss/perceptual.yaml")
    parser.add_argument("--tv-weight", type=non_negative,
                        help="default: the checkpoint's training loss, else conf/loss/perceptual.yaml")
    parser.add_argument("--vgg-weights", help="default: $NST_FF_VGG_WEIGHTS, else imagenet (as training)")
    parser.add_argument("--log", default="runs/evaluate", help="TensorBoard folder (default runs/evaluate)")
    parser.add_argument("--json", help="report file (default: LOG/evaluation.json)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing report file")
    parser.add_argument("--device", type=device, default="cuda" if torch.cuda.is_available() else "cpu")
    return parser.parse_args(argv)


def choose_paintings(args, style_names: list[str]) -> tuple[dict, list[str]]:
    """{style: painting [3, H, W] at full size} of the styles to score, and the styles without a painting."""
    wanted = [name.strip() for name in args.styles.split(",") if name.strip()] if args.styles else style_names
    unknown = [name for name in wanted if name not in style_names]
    if unknown:
        raise UsageError(f"unknown style(s) {', '.join(unknown)}; the checkpoint has: {', '.join(style_names)}")
    if not Path(args.style_dir).is_dir():
        raise UsageError(f"--style-dir {args.style_dir}: not a folder")
    found, missing = find_paintings(wanted, args.style_dir)
    if missing:
        print(f"evaluate.py: {len(missing)} of the {len(wanted)} styles have no painting (NAME.*) in {args.style_dir}, "
              f"skipped: {', '.join(missing)}", file=sys.stderr)
    if not found:
        raise UsageError(f"none of the checkpoint's styles has a painting in {args.style_dir}")
    return {name: read_image(path) for name, path in found.items()}, missing


def choose_photos(args) -> dict:
    """The first --limit photos of the --content-dir folders, in the order given, by name."""
    for folder in args.content_dir:
        if not Path(folder).is_dir():
            raise UsageError(f"--content-dir {folder}: not a folder")
    photos = {}
    for folder in args.content_dir:
        found, skipped = load_photos(folder, args.size, args.limit - len(photos))
        for line in skipped:
            print(f"evaluate.py: skipping content image {line}", file=sys.stderr)
        several = len(args.content_dir) > 1  # names relative to their folder, prefixed by it when there are more
        photos.update({str(Path(folder) / name) if several else name: image for name, image in found.items()})
        if len(photos) == args.limit:
            break
    if not photos:
        raise UsageError(f"--content-dir {' '.join(args.content_dir)}: no usable images")
    return photos


def as_stylize_paints(network, scale: float):
    """The network as stylize.py runs it (--stroke-scale `scale`, dark photos dimmed): (photos [K, 3, H, W], style
    weights [K, N]) -> outputs [K, 3, H, W], each photo in its own row."""
    def paint(photos: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        painted = stroke_scaled(lambda images: network(images, weights)[:, None], photos, scale)
        return dim_dark(painted, photos)[:, 0]
    return paint


def prepare(args) -> dict:
    """Everything the evaluation needs, checked before any of it runs; writes nothing."""
    network, style_names, description = load_checkpoint(args.ckpt, map_location=args.device)
    photos = choose_photos(args)
    originals, missing = choose_paintings(args, style_names)
    style_size = args.style_size or description.get("style_size") or default_style_size()
    # The loss the network was trained with, where its checkpoint records it; then the options.
    options = {"content_weight": args.content_weight, "style_weight": args.style_weight, "tv_weight": args.tv_weight}
    config = loss_config(**{**description.get("loss", {}), **{k: v for k, v in options.items() if v is not None}},
                         vgg_weights=args.vgg_weights)
    network = network.to(args.device)
    return {
        "network": as_stylize_paints(network, args.stroke_scale), "style_names": style_names, "missing": missing,
        "photos": photos,
        "paintings": {name: resize_shorter(image, style_size) for name, image in originals.items()},
        "style_size": style_size, "config": config,
        "loss": PerceptualLoss(**config).to(args.device) if args.opt_steps else None,
        "yardstick": Yardstick([resize_shorter(image, PAINTING_SIZE) for image in originals.values()],
                               config["vgg"]["weights"]).to(args.device),
    }


def run(args) -> int:
    check_stroke_scale(args.stroke_scale)
    json_path = Path(args.json or Path(args.log) / "evaluation.json")
    check_output(json_path, args.overwrite, [args.ckpt], "--json")
    check_writable(args.log)
    run = prepare(args)
    photos, paintings = run["photos"], run["paintings"]
    quality = measure(run["network"], run["yardstick"], torch.stack(list(photos.values())), list(paintings),
                      run["style_names"], list(photos))
    if not all(math.isfinite(value) for value in quality["overall"].values()):
        raise NonFiniteOutputError("the network's output is not finite (NaN or infinity): its weights are broken; "
                                   "use an earlier checkpoint")
    print(format_quality(quality))
    # Scores depend on the VGG weights: they are the user's (--vgg-weights, $NST_FF_VGG_WEIGHTS), never the file's.
    print(f"scored with VGG weights: {run['config']['vgg']['weights']}", file=sys.stderr)
    report = {"checkpoint": str(args.ckpt), "vgg_weights": run["config"]["vgg"]["weights"], "size": args.size,
              "stroke_scale": args.stroke_scale,
              "photos": list(photos), "missing_styles": run["missing"], "quality": quality}
    rows = {}
    if args.opt_steps:
        report.update(compare_with_optimum(args, run["network"], run["style_names"], paintings, photos, run["loss"]))
        report.update(loss=run["config"], style_size=run["style_size"])
        rows = report.pop("rows")
        report["optimum_quality"] = optimum_quality(rows, run, photos)
    jsonfile.write(json_path, report)
    write_tensorboard(args.log, report, rows)
    print(f"wrote {json_path} and TensorBoard to {args.log}", file=sys.stderr)
    return 0


def main(argv=None) -> int:
    return run_command("evaluate.py", parse_args, run, argv)


def optimum_quality(rows: dict, run: dict, photos: dict[str, torch.Tensor]) -> dict:
    """The per-image optimum's images on the same yardstick as the network's: what the training loss itself asks
    for, so that a shortfall shows as the network's (far from the optimum) or the loss's (the optimum falls short
    too). `rows`: per style, photo | network | optimum per photo; `photos`: {name: [3, S, S]}."""
    optimum = {style: images[2::3] for style, images in rows.items()}

    def paint(batch: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:  # one style per call, as measure asks
        return optimum[run["style_names"][int(weights[0].argmax())]].to(batch.device)

    quality = measure(paint, run["yardstick"], torch.stack(list(photos.values())), list(optimum), run["style_names"],
                      list(photos))
    print("the per-image optimum's images, on the same yardstick:")
    print(format_quality(quality))
    return quality


def compare_with_optimum(args, network, style_names, paintings, photos, loss) -> dict:
    """The per-image optimisation part of the report; prints its table."""
    print(f"{len(paintings)} style(s) x {len(photos)} photo(s) at {args.size} px, {args.opt_steps} "
          f"{args.optimizer} steps each", file=sys.stderr)

    def on_pair(style, photo, scores):
        print(f"  {style} / {photo}: network {scores['network']['total']:.4f}, "
              f"optimum {scores['optimum']['total']:.4f}, photo {scores['photo']['total']:.4f}", file=sys.stderr)

    report, rows = evaluate(network, style_names, paintings, photos, loss, args.opt_steps, args.optimizer, on_pair)
    print(format_table(report))
    return {"opt_steps": args.opt_steps, "optimizer": args.optimizer, **report, "rows": rows}


if __name__ == "__main__":
    sys.exit(main())
