"""Gatys-style optimisation of one image against the training loss:
`python optimize.py --input photo.jpg --style-image painting.jpg --output out.png [--gif out.gif]`."""

import argparse
import sys
from pathlib import Path

import torch
from torch.utils.tensorboard import SummaryWriter
from torchvision.transforms.v2 import functional as TF

from nst_ff.cli.arguments import Parser, device, int_from, layer_list, layer_weights, non_negative, run_command
from nst_ff.errors import UsageError
from nst_ff.io.config import default_style_size, loss_config
from nst_ff.io.images import image_format, read_image, resize_shorter, save_gif, save_image
from nst_ff.io.paths import check_distinct, check_output, check_writable
from nst_ff.loss.perceptual import PerceptualLoss
from nst_ff.measure.optimization import INITS, OPTIMIZERS, initial_image, optimize_image
from nst_ff.model.checkpoint import NST_FF_KEY, read_checkpoint, training_record
from nst_ff.model.schema import MAX_STYLE_SIZE


def parse_args(argv):
    parser = Parser(prog="optimize.py", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--input", required=True, help="content photo")
    parser.add_argument("--style-image", required=True, help="painting whose style to transfer (any image)")
    parser.add_argument("--output", required=True, help="stylized image to write (.png, .jpg, ...)")
    parser.add_argument("--optimizer", choices=OPTIMIZERS, default="lbfgs")
    parser.add_argument("--overwrite", action="store_true", help="replace --output (and --gif) if they exist")
    parser.add_argument("--steps", type=int_from(1, 100000), default=300,
                        help="optimiser steps; an L-BFGS step may evaluate the loss several times (default 300)")
    parser.add_argument("--lr", type=non_negative, help="step size (default: 1.0 for lbfgs, 0.02 for adam)")
    parser.add_argument("--init", choices=INITS, default="content", help="starting image (default content)")
    # Bounds: VGG's deepest style layer needs 16 px; a 2048 px optimisation already needs gigabytes.
    parser.add_argument("--size", type=int_from(16, 2048), default=256, help="shorter side of the photo (default 256)")
    parser.add_argument("--style-size", type=int_from(16, MAX_STYLE_SIZE), help="shorter side of the style image "
                        "(default: training's, conf/data/folders.yaml)")
    parser.add_argument("--ckpt", help="optimise the loss this checkpoint was trained with (and its style size); "
                        "the options below still override it")
    parser.add_argument("--content-weight", type=non_negative, help="default: conf/loss/perceptual.yaml")
    parser.add_argument("--style-weight", type=non_negative, help="default: conf/loss/perceptual.yaml")
    parser.add_argument("--tv-weight", type=non_negative, help="default: conf/loss/perceptual.yaml")
    parser.add_argument("--content-layers", type=layer_list, help="e.g. relu3_3 (default: the YAML's)")
    parser.add_argument("--style-layers", type=layer_weights,
                        help="LAYER:WEIGHT,... e.g. relu1_2:0.5,relu2_2:4 (a layer alone weighs 1; "
                        "default: the YAML's)")
    parser.add_argument("--vgg-weights", help="imagenet, a state-dict file or random "
                        "(default: $NST_FF_VGG_WEIGHTS, else imagenet)")
    parser.add_argument("--device", type=device, default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--seed", type=int, default=0, help="seed of the noise init")
    parser.add_argument("--log", metavar="LOGDIR", help="TensorBoard folder for loss curves and images")
    parser.add_argument("--log-every", type=int_from(1, 100000), default=10, help="steps between images (log and GIF)")
    parser.add_argument("--gif", metavar="PATH", help="write an animated GIF of the optimisation")
    return parser.parse_args(argv)


def prepare(args) -> tuple[torch.Tensor, torch.Tensor, PerceptualLoss]:
    """The photo [1, 3, H, W], the painting [3, h, w] and the loss, with every output checked writable first."""
    image_format(args.output)
    if args.gif and image_format(args.gif) != "GIF":
        raise UsageError(f"--gif {args.gif}: the animation must be a .gif file")
    check_distinct([Path(path) for path in filter(None, [args.output, args.gif])])
    for path, option in ((args.output, "--output"), (args.gif, "--gif")):
        if path:
            check_output(path, args.overwrite, [args.input, args.style_image, args.ckpt], option)
    if args.log:
        check_writable(args.log)
    trained = training_record(read_checkpoint(args.ckpt)[NST_FF_KEY]) if args.ckpt else {}  # its loss, not its net
    content = resize_shorter(read_image(args.input), args.size)[None].to(args.device)
    style = resize_shorter(read_image(args.style_image), args.style_size or trained.get("style_size")
                           or default_style_size())
    options = {"content_weight": args.content_weight, "style_weight": args.style_weight, "tv_weight": args.tv_weight,
               "content_layers": args.content_layers, "style_layers": args.style_layers,
               "vgg_weights": args.vgg_weights}
    config = loss_config(**{**trained.get("loss", {}), **{k: v for k, v in options.items() if v is not None}})
    return content, style, PerceptualLoss(**config).to(args.device)


def progress(args, writer: SummaryWriter | None, frames: list):
    """The on_step callback: loss curves and images to TensorBoard, GIF frames, a line every --log-every."""
    def on_step(step, image, terms):
        if writer is not None:
            for name, value in terms.items():
                writer.add_scalar(f"loss/{name}", value, step)
        if step % args.log_every == 0 or step == args.steps:
            if writer is not None:
                writer.add_image("image", image[0].clamp(0, 1), step)
            if args.gif:
                frames.append(TF.to_pil_image(image[0].clamp(0, 1).cpu()))
        if step % args.log_every == 0:
            print(f"step {step:5d}  " + "  ".join(f"{k} {terms[k]:.4f}" for k in ("total", "content", "style", "tv")))

    return on_step


def run(args) -> int:
    content, style, loss = prepare(args)
    loss.set_style_targets([style], [Path(args.style_image).stem])  # a scale the training loss gave that style
    style_weights = torch.ones(1, 1, device=args.device)  # the one style target
    writer = SummaryWriter(args.log) if args.log else None
    frames = []
    init = initial_image(args.init, content, style, args.seed)
    image, terms = optimize_image(loss, content, style_weights, init, args.steps, args.optimizer, args.lr,
                                  progress(args, writer, frames))
    print("final       " + "  ".join(f"{k} {terms[k]:.4f}" for k in ("total", "content", "style", "tv")))
    if writer is not None:
        writer.close()
    save_image(image[0], args.output)
    print(f"wrote {args.output}")
    if args.gif:
        save_gif(frames, args.gif)
        print(f"wrote {args.gif}")
    return 0


def main(argv=None) -> int:
    return run_command("optimize.py", parse_args, run, argv)


if __name__ == "__main__":
    sys.exit(main())
