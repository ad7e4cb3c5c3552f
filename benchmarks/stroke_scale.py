"""Brush-stroke scale (`stylize.py --stroke-scale`): for each photo at SIZE px and each style, the output's style
error at the scale the painting was seen (the output shrunk to the painting's 256 px) and at full size, and its
content error at full size, for each stroke scale; and a sheet of one photo at each scale.

    NST_FF_VGG_WEIGHTS=../shared/assets/vgg/vgg16_features.pth python benchmarks/stroke_scale.py \\
        --ckpt checkpoints/ready12.pt --content-dir demo/content --style-dir ../shared/assets/styles \\
        --size 1024 --scales 1,2,4 --sheet docs/stroke_scale.jpg
"""

import argparse
import os
import sys
from pathlib import Path

import torch

sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parent.parent)]
from common import format_table, machine, write_json  # noqa: E402

from nst_ff.cli.arguments import positive_int  # noqa: E402
from nst_ff.infer.stylizer import stylize  # noqa: E402
from nst_ff.io.images import labelled_sheet, read_image, resize_shorter, save_image  # noqa: E402
from nst_ff.loss.perceptual import relative_error  # noqa: E402
from nst_ff.measure.evaluation import find_paintings, load_photos  # noqa: E402
from nst_ff.measure.quality import PAINTING_SIZE, Yardstick  # noqa: E402
from nst_ff.model.checkpoint import load_checkpoint  # noqa: E402

COLUMNS = [
    ("scale", "stroke scale", "g"), ("identified_small", "identified at 256", ".0%"),
    ("gain_small", "style gain at 256", ".3f"), ("gain_full", "style gain at full size", ".3f"),
    ("content", "content error", ".3f"),
]


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ckpt", required=True)
    parser.add_argument("--content-dir", required=True)
    parser.add_argument("--style-dir", required=True)
    parser.add_argument("--size", type=positive_int, default=1024, help="photos resized and centre-cropped")
    parser.add_argument("--limit", type=positive_int, default=4)
    parser.add_argument("--scales", default="1,2,4")
    parser.add_argument("--sheet", help="one photo in a few styles at each scale (.jpg/.png)")
    parser.add_argument("--sheet-styles", default="starry_night,the_scream,mosaic")
    parser.add_argument("--json", default="benchmarks/results/stroke_scale.json")
    parser.add_argument("--tile", type=int, default=512, help="tile the full-size pass (bounded memory)")
    return parser.parse_args(argv)


def score(network, yardstick, photos, names, scale, tile) -> dict:
    """Mean over photos and styles of identification and gain at the painting's scale, gain and content at
    full size."""
    totals = {"identified_small": 0.0, "gain_small": 0.0, "gain_full": 0.0, "content": 0.0}
    for photo in photos:
        small_photo = resize_shorter(photo, PAINTING_SIZE)
        photo_small_style, _ = yardstick.errors(small_photo[None])
        photo_full_style, photo_features = yardstick.errors(photo[None])
        weights = torch.eye(len(names))
        with torch.inference_mode():
            outputs = stylize(network, photo[None], weights, tile, scale)[0].clamp(0, 1)  # [S, 3, H, W]
        for index, output in enumerate(outputs):
            small_style, _ = yardstick.errors(resize_shorter(output, PAINTING_SIZE)[None])
            full_style, features = yardstick.errors(output[None])
            totals["identified_small"] += float(small_style[0].argmin() == index)
            totals["gain_small"] += 1 - (small_style[0, index] / photo_small_style[0, index]).item()
            totals["gain_full"] += 1 - (full_style[0, index] / photo_full_style[0, index]).item()
            totals["content"] += relative_error(features, photo_features).item()
    count = len(photos) * len(names)
    return {"scale": scale, **{key: value / count for key, value in totals.items()}}


def sheet(network, names, photo, styles, scales, tile) -> torch.Tensor:
    weights = torch.stack([torch.eye(len(names))[names.index(name)] for name in styles])
    tiles, labels = [], []
    for scale in scales:
        with torch.inference_mode():
            tiles.append(stylize(network, photo[None], weights, tile, scale)[0].clamp(0, 1))
        labels += [f"{name}, stroke scale {scale:g}" for name in styles]
    return labelled_sheet(torch.cat(tiles), labels, columns=len(styles))


def main(argv=None) -> int:
    args = parse_args(argv)
    torch.manual_seed(0)
    network, names, _ = load_checkpoint(args.ckpt)
    network.eval()
    found, missing = find_paintings(names, args.style_dir)
    if missing:
        sys.exit(f"no painting for {', '.join(missing)} in {args.style_dir}")
    yardstick = Yardstick([resize_shorter(read_image(path), PAINTING_SIZE) for path in found.values()],
                          os.environ.get("NST_FF_VGG_WEIGHTS", "imagenet"))
    photos, _ = load_photos(args.content_dir, args.size, args.limit)
    scales = [float(scale) for scale in args.scales.split(",")]
    rows = [score(network, yardstick, list(photos.values()), names, scale, args.tile) for scale in scales]
    print(format_table(rows, COLUMNS))
    write_json(args.json, {"machine": machine(), "args": vars(args), "rows": rows})
    if args.sheet:
        first = next(iter(photos.values()))
        save_image(sheet(network, names, first, args.sheet_styles.split(","), scales, args.tile), args.sheet)
        print(f"wrote {args.sheet}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
