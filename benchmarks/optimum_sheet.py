"""What the default loss asks for: the per-image optimum (optimize.py's L-BFGS from the photo) of every photo
in every painting, as one sheet (paintings on top, then each photo and its optima), with the quality of the
optima on the fixed yardstick (nst_ff/quality.py).

    NST_FF_VGG_WEIGHTS=../shared/assets/vgg/vgg16_features.pth python benchmarks/optimum_sheet.py \\
        --content-dir demo/content --style-dir demo/styles --limit 3 --output docs/optimum_sheet.png
"""

import argparse
import sys
import time
from pathlib import Path

import torch
from torchvision.transforms.v2 import functional as TF
from torchvision.utils import make_grid

sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parent.parent)]
from common import machine  # noqa: E402

from nst_ff.cli.arguments import positive_int  # noqa: E402
from nst_ff.io import jsonfile  # noqa: E402
from nst_ff.io.config import default_style_size, loss_config  # noqa: E402
from nst_ff.io.images import (  # noqa: E402
    list_images,
    read_image,
    resize_shorter,
    save_image,  # noqa: E402
)
from nst_ff.loss.perceptual import PerceptualLoss  # noqa: E402
from nst_ff.measure.evaluation import load_photos  # noqa: E402
from nst_ff.measure.optimization import optimize_image  # noqa: E402
from nst_ff.measure.quality import PAINTING_SIZE, Yardstick, format_quality, measure  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--content-dir", required=True)
    parser.add_argument("--style-dir", required=True)
    parser.add_argument("--limit", type=positive_int, default=3, help="photos (default 3)")
    parser.add_argument("--size", type=positive_int, default=256, help="photos resized and centre-cropped (256)")
    parser.add_argument("--steps", type=positive_int, default=50, help="L-BFGS steps per image (50)")
    parser.add_argument("--output", required=True, help="the sheet (.png)")
    parser.add_argument("--json", help="the optima's quality report (default: OUTPUT with .json)")
    args = parser.parse_args(argv)

    photos, _ = load_photos(args.content_dir, args.size, args.limit)
    paths = list_images(args.style_dir, recursive=False)
    names = [path.stem for path in paths]
    originals = [read_image(path) for path in paths]
    config = loss_config()
    loss = PerceptualLoss(**config)
    loss.set_style_targets([resize_shorter(image, default_style_size()) for image in originals], names)
    photo_batch = torch.stack(list(photos.values()))  # [K, 3, S, S]
    start = time.perf_counter()
    optima = []  # per painting: [K, 3, S, S]
    for index, name in enumerate(names):
        weights = torch.zeros(1, len(names))
        weights[0, index] = 1
        optima.append(torch.cat([optimize_image(loss, photo[None], weights, photo[None], args.steps)[0]
                                 for photo in photo_batch]))
        print(f"{name}: {time.perf_counter() - start:.0f} s", file=sys.stderr)

    yardstick = Yardstick([resize_shorter(image, PAINTING_SIZE) for image in originals], config["vgg"]["weights"])
    quality = measure(lambda x, w: optima[int(w[0].argmax())], yardstick, photo_batch, names)
    print(format_quality(quality))

    header = [torch.ones(3, args.size, args.size)] + [
        TF.center_crop(resize_shorter(image, args.size), [args.size]) for image in originals
    ]
    rows = [image for k, photo in enumerate(photo_batch) for image in [photo, *(o[k] for o in optima)]]
    save_image(make_grid(header + rows, nrow=len(names) + 1, padding=4, pad_value=1.0), args.output)
    report = {"command": " ".join(sys.argv), "machine": machine(), "loss": config, "steps": args.steps,
              "size": args.size, "photos": list(photos), "seconds": time.perf_counter() - start, "quality": quality}
    json_path = Path(args.json or Path(args.output).with_suffix(".json"))
    jsonfile.write(json_path, report)
    print(f"wrote {args.output} and {json_path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
