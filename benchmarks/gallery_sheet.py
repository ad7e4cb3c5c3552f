"""A gallery sheet: a header row of the checkpoint's paintings (its thumbnails), then one row per photo: the
photo and its output in every style, each stylized at SIZE px (centre-cropped square) and shown at CELL px.

    python benchmarks/gallery_sheet.py --ckpt checkpoints/ready12.pt --content-dir demo/content demo/photos \\
        --size 512 --output docs/ready12_512.jpg [--stroke-scale 1]
"""

import argparse
import sys
from pathlib import Path

import torch
from torchvision.transforms.v2 import functional as TF
from torchvision.utils import make_grid

sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parent.parent)]
from nst_ff.cli.arguments import positive_int  # noqa: E402
from nst_ff.infer.stylizer import stylize  # noqa: E402
from nst_ff.io.images import list_images, read_image, resize_shorter, save_image  # noqa: E402
from nst_ff.model.checkpoint import load_checkpoint  # noqa: E402


def square(image: torch.Tensor, size: int) -> torch.Tensor:
    return TF.center_crop(resize_shorter(image, size), [size])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ckpt", required=True)
    parser.add_argument("--content-dir", required=True, nargs="+")
    parser.add_argument("--size", type=positive_int, default=512, help="stylized at this size (512)")
    parser.add_argument("--cell", type=positive_int, default=160, help="shown at this size (160)")
    parser.add_argument("--stroke-scale", type=float, default=1.0)
    parser.add_argument("--tile", type=int, default=512)
    parser.add_argument("--output", required=True)
    args = parser.parse_args(argv)

    network, names, description = load_checkpoint(args.ckpt)
    thumbnails = description.get("thumbnails") or []
    blank = torch.ones(3, args.cell, args.cell)
    cells = [blank] + [square(thumbnail.float() / 255, args.cell) for thumbnail in thumbnails]
    cells += [blank] * (len(names) + 1 - len(cells))
    for folder in args.content_dir:
        for path in list_images(folder):
            photo = square(read_image(path), args.size)
            with torch.inference_mode():
                outputs = stylize(network.eval(), photo[None], torch.eye(len(names)), args.tile, args.stroke_scale)
            cells += [resize_shorter(image, args.cell) for image in [photo, *outputs[0].clamp(0, 1)]]
            print(f"{path}: done", file=sys.stderr)
    save_image(make_grid(torch.stack(cells), nrow=len(names) + 1, padding=2, pad_value=1.0), args.output)
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
