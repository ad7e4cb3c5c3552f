"""How well a network paints, on one fixed yardstick whatever loss it was trained with (SPEC.md, Quality).

The yardstick is VGG16 with ImageNet weights: style error = relative Gram errors (nst_ff.loss.perceptual) summed with
equal weights over relu1_2, relu2_2, relu3_3, relu4_3, content error = relative error at relu3_3. A measure
that moved with the loss weights being tuned could not judge them. Three numbers per style and overall:
- identified: the share of photos whose output is nearest (by style error) to its own style's painting;
  chance is 1/N, and a network that paints every style alike scores chance;
- style_gain: 1 - style error of the output / style error of the photo itself, against its own painting
  (0: no stylization, 1: the painting's Grams exactly);
- content: content error of the output against its photo (0 for the photo itself).
"""

from collections.abc import Callable, Mapping, Sequence

import torch
from torch import nn

from nst_ff.loss.perceptual import gram_matrix, relative_error, style_grams
from nst_ff.loss.vgg import VGGFeatures

STYLE_LAYERS = ("relu1_2", "relu2_2", "relu3_3", "relu4_3")
CONTENT_LAYER = "relu3_3"
PAINTING_SIZE = 256  # shorter side of the paintings whose Grams are the targets
METRICS = ("identified", "style_gain", "content")


class Yardstick(nn.Module):
    """Style errors of images against every painting, and content errors against photos."""

    def __init__(self, paintings: Sequence[torch.Tensor], vgg_weights: str = "imagenet"):
        """paintings: one [3, H, W] image per style, in style order, shorter side PAINTING_SIZE."""
        super().__init__()
        self.vgg = VGGFeatures(STYLE_LAYERS, arch="vgg16", weights=vgg_weights)
        for layer, grams in style_grams(self.vgg, paintings, STYLE_LAYERS).items():
            self.register_buffer(f"gram_{layer}", grams, persistent=False)  # [N, C, C]

    @property
    def num_paintings(self) -> int:
        return getattr(self, f"gram_{STYLE_LAYERS[0]}").shape[0]

    @torch.no_grad()
    def errors(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """images [B, 3, H, W] -> style errors against every painting [B, N], content features [B, C, h, w]."""
        features = self.vgg(images.float())
        style = torch.zeros(images.shape[0], self.num_paintings, device=images.device)
        for layer in STYLE_LAYERS:
            grams = gram_matrix(features[layer])  # [B, C, C]
            targets = getattr(self, f"gram_{layer}")  # [N, C, C]
            for n in range(self.num_paintings):
                style[:, n] += relative_error(grams, targets[n].expand_as(grams))
        return style, features[CONTENT_LAYER]


def measure(
    stylize: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    yardstick: Yardstick,
    photos: torch.Tensor,
    style_names: Sequence[str],
    network_styles: Sequence[str] | None = None,
    photo_names: Sequence[str] | None = None,
) -> dict:
    """Score `stylize(photos [K, 3, H, W], style_weights [K, N_net]) -> [K, 3, H, W]` on every photo in every
    style of `style_names`, whose paintings are the yardstick's, in order. `network_styles` (default
    `style_names`) is the network's own style order, when it holds styles without a painting here.

    Returns {"styles": {name: {metric: value, "nearest": [painting name per photo]}},
    "overall": {metric: value}, "chance": 1/N}; every value a plain float. With `photo_names` (one per photo),
    also "photos": {photo name: {metric: mean over the styles}}, which tells the photos a network paints badly.
    """
    if photo_names is not None and (len(photo_names) != len(photos) or len(set(photo_names)) != len(photos)):
        raise ValueError(f"photo_names: {len(photo_names)} names for {len(photos)} photos, or a name twice")
    network_styles = list(style_names if network_styles is None else network_styles)
    device = yardstick.gram_relu1_2.device
    photos = photos.to(device)
    photo_style, photo_features = yardstick.errors(photos)  # [K, N]: how far each photo is from each painting
    report, per_photo = {"styles": {}}, []
    for index, name in enumerate(style_names):
        weights = torch.zeros(len(photos), len(network_styles), device=device)
        weights[:, network_styles.index(name)] = 1
        with torch.no_grad():
            outputs = stylize(photos, weights).float().clamp(0, 1)
        style, features = yardstick.errors(outputs)
        content = relative_error(features, photo_features)  # [K]
        nearest = style.argmin(dim=1)  # [K]
        gain = 1 - style[:, index] / photo_style[:, index].clamp_min(1e-12)
        scores = torch.stack([(nearest == index).float(), gain, content])  # [3, K], in METRICS order
        per_photo.append(scores)
        report["styles"][name] = {**dict(zip(METRICS, scores.mean(dim=1).tolist(), strict=True)),
                                  "nearest": [style_names[i] for i in nearest.tolist()]}
    report["overall"] = {
        metric: sum(scores[metric] for scores in report["styles"].values()) / len(style_names) for metric in METRICS
    }
    report["chance"] = 1 / len(style_names)
    if photo_names is not None:
        means = torch.stack(per_photo).mean(dim=0)  # [3, K]
        report["photos"] = {photo: dict(zip(METRICS, column, strict=True))
                            for photo, column in zip(photo_names, means.T.tolist(), strict=True)}
    return report


def format_quality(report: Mapping) -> str:
    """One line per style and an overall line: identified, style gain, content error; then, where the report
    has them, one line per photo (its means over the styles)."""
    header = f"{'style':<22} {'identified':>10} {'style gain':>10} {'content':>8}  nearest painting per photo"
    lines = [header, "-" * len(header)]
    for name, scores in report["styles"].items():
        lines.append(f"{name:<22} {scores['identified']:10.0%} {scores['style_gain']:10.3f} {scores['content']:8.3f}"
                     f"  {', '.join(scores['nearest'])}")
    overall = report["overall"]
    lines += ["-" * len(header), f"{'overall':<22} {overall['identified']:10.0%} {overall['style_gain']:10.3f}"
              f" {overall['content']:8.3f}  (chance {report['chance']:.0%})"]
    if "photos" in report:
        width = max([22, *map(len, report["photos"])])
        lines += ["", f"{'photo':<{width}} {'identified':>10} {'style gain':>10} {'content':>8}"
                      "  (mean over the styles)"]
        lines += [f"{name:<{width}} {scores['identified']:10.0%} {scores['style_gain']:10.3f} {scores['content']:8.3f}"
                  for name, scores in report["photos"].items()]
    return "\n".join(lines)
