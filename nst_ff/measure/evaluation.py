"""How close a feed-forward network gets to per-image optimisation: the loss of its output, of the
optimised image (started from the photo) and of the photo itself, per style and photo, and their ratios."""

import os
from collections.abc import Callable, Mapping
from pathlib import Path

import torch
from torch.utils.tensorboard import SummaryWriter
from torchvision.transforms.v2 import functional as TF
from torchvision.utils import make_grid

from nst_ff.io.images import ImageReadError, list_images, read_image, resize_shorter
from nst_ff.loss.perceptual import PerceptualLoss
from nst_ff.measure.optimization import optimize_image
from nst_ff.measure.quality import METRICS, format_quality

TERMS = ("content", "style", "total")
CANDIDATES = ("network", "optimum", "photo")
RATIO_TERMS = ("total", "style")  # the photo's content loss is 0 and the optimum's near 0: no ratio for it


def load_photos(content_dir: str | os.PathLike, size: int, limit: int | None) -> tuple[dict, list[str]]:
    """The first `limit` readable photos under `content_dir` (sorted), resized and centre-cropped to
    [3, size, size] as training's grid photos are, by name; and one line per unreadable file."""
    photos, skipped = {}, []
    for path in list_images(content_dir):
        if limit is not None and len(photos) == limit:
            break
        try:
            image = read_image(path)
        except ImageReadError as error:
            skipped.append(str(error))
            continue
        photos[str(path.relative_to(content_dir))] = TF.center_crop(resize_shorter(image, size), [size])
    return photos, skipped


def find_paintings(style_names: list[str], style_dir: str | os.PathLike) -> tuple[dict[str, Path], list[str]]:
    """Each style's painting in `style_dir` by file stem, in the checkpoint's order, and the names with none."""
    by_stem = {path.stem: path for path in list_images(style_dir, recursive=False)}
    found = {name: by_stem[name] for name in style_names if name in by_stem}
    return found, [name for name in style_names if name not in found]


def _ratio(numerator: float, denominator: float) -> float | None:
    return numerator / denominator if denominator > 0 else None  # JSON has no nan or inf


def _summary(per_photo: list[dict]) -> dict:
    """Mean of each term per candidate, and network/optimum ratios of the means."""
    mean = {
        candidate: {term: sum(p[candidate][term] for p in per_photo) / len(per_photo) for term in TERMS}
        for candidate in CANDIDATES
    }
    ratio = {term: _ratio(mean["network"][term], mean["optimum"][term]) for term in RATIO_TERMS}
    return {"mean": mean, "ratio": ratio}


def _terms(loss: PerceptualLoss, image: torch.Tensor, photo: torch.Tensor, style_weights: torch.Tensor) -> dict:
    with torch.no_grad():
        terms = loss(image, photo, style_weights)
    return {term: terms[term].item() for term in TERMS}


def evaluate(
    network: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    network_styles: list[str],
    paintings: Mapping[str, torch.Tensor],
    photos: Mapping[str, torch.Tensor],
    loss: PerceptualLoss,
    opt_steps: int,
    optimizer: str = "lbfgs",
    on_pair: Callable[[str, str, dict], None] | None = None,
) -> tuple[dict, dict[str, torch.Tensor]]:
    """Score `network` against per-image optimisation for each style in `paintings` ({name: [3, H, W]},
    names among `network_styles`) and each photo ({name: [3, S, S]}).

    Returns the report ({"styles": {name: {"photos", "mean", "ratio"}}, "overall": {"mean", "ratio"}})
    and, per style, the images [3 * P, 3, S, S] in rows photo | network | optimum.
    """
    device = loss.vgg.mean.device
    loss.set_style_targets(list(paintings.values()), list(paintings))
    report, rows, everything = {"styles": {}}, {}, []
    for index, style in enumerate(paintings):
        loss_weights = torch.zeros(1, len(paintings), device=device)  # [1, N_found]: this painting's Grams
        loss_weights[0, index] = 1
        network_weights = torch.zeros(1, len(network_styles), device=device)  # [1, N]: this style's CIN row
        network_weights[0, network_styles.index(style)] = 1
        per_photo, images = {}, []
        for name, photo in photos.items():
            per_photo[name], triple = _score_photo(network, network_weights, loss, loss_weights, photo[None].to(device),
                                                   opt_steps, optimizer)
            images += triple
            if on_pair is not None:
                on_pair(style, name, per_photo[name])
        report["styles"][style] = {"photos": per_photo, **_summary(list(per_photo.values()))}
        rows[style] = torch.stack(images)
        everything += per_photo.values()
    report["overall"] = _summary(everything)
    return report, rows


def _score_photo(network, network_weights: torch.Tensor, loss: PerceptualLoss, loss_weights: torch.Tensor,
                 photo: torch.Tensor, opt_steps: int, optimizer: str) -> tuple[dict, list[torch.Tensor]]:
    """The loss terms of the network's output, of the optimum and of the photo [1, 3, S, S] itself; and the
    three images [3, S, S] on the CPU."""
    with torch.no_grad():
        stylized = network(photo, network_weights).float().clamp(0, 1)
    optimum, _ = optimize_image(loss, photo, loss_weights, photo, opt_steps, optimizer)
    scores = {"network": _terms(loss, stylized, photo, loss_weights),
              "optimum": _terms(loss, optimum, photo, loss_weights),
              "photo": _terms(loss, photo, photo, loss_weights)}
    return scores, [photo[0].cpu(), stylized[0].cpu(), optimum[0].cpu()]


def format_table(report: dict) -> str:
    """One line per style and an overall line: mean losses and network/optimum ratios."""
    header = (f"{'style':<22} {'network':>9} {'optimum':>9} {'photo':>9} {'net style':>9} {'opt style':>9}"
              f" {'ratio total':>11} {'ratio style':>11}")
    lines = [header, "-" * len(header)]

    def line(name: str, summary: dict) -> str:
        mean, ratio = summary["mean"], summary["ratio"]
        ratios = " ".join(f"{'-' if r is None else f'{r:.3f}':>11}" for r in (ratio["total"], ratio["style"]))
        return (f"{name:<22} {mean['network']['total']:9.4f} {mean['optimum']['total']:9.4f}"
                f" {mean['photo']['total']:9.4f} {mean['network']['style']:9.4f} {mean['optimum']['style']:9.4f}"
                f" {ratios}")

    lines += [line(style, summary) for style, summary in report["styles"].items()]
    lines += ["-" * len(header), line("overall", report["overall"])]
    return "\n".join(lines)


def write_tensorboard(log_dir: str | os.PathLike, report: dict, rows: Mapping[str, torch.Tensor]) -> None:
    """The quality table and scalars; with per-image optimisation, per style an image of rows
    photo | network | optimum, the ratios as scalars, and the table as text."""
    # Four leading spaces make TensorBoard's markdown show a table in a fixed-width font.
    with SummaryWriter(log_dir) as writer:
        quality = report["quality"]
        for style, scores in quality["styles"].items():
            for metric in METRICS:
                writer.add_scalar(f"quality/{metric}/{style}", scores[metric])
        writer.add_text("quality", "\n".join("    " + line for line in format_quality(quality).splitlines()))
        if "styles" not in report:
            return
        for style, images in rows.items():
            writer.add_image(f"photo_network_optimum/{style}", make_grid(images, nrow=3, padding=2, pad_value=1.0))
            for term, value in report["styles"][style]["ratio"].items():
                if value is not None:
                    writer.add_scalar(f"ratio_{term}/{style}", value)
        writer.add_text("evaluation", "\n".join("    " + line for line in format_table(report).splitlines()))
