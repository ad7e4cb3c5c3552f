"""VGG perceptual loss (Johnson et al. 2016; Dumoulin et al. 2017), made free of the VGG's activation scale."""

from collections.abc import Iterable, Mapping, Sequence

import torch
from torch import nn

from nst_ff.loss.vgg import VGGFeatures


def gram_matrix(features: torch.Tensor) -> torch.Tensor:
    """[B, C, H, W] -> [B, C, C], G = F F^T / (H W), always in float32 (bf16 Grams lose the style)."""
    b, c, h, w = features.shape
    flat = features.reshape(b, c, h * w).float()
    with torch.autocast(features.device.type, enabled=False):
        return flat @ flat.transpose(1, 2) / (h * w)


def total_variation(images: torch.Tensor) -> torch.Tensor:
    """Mean squared difference of neighbouring pixels, per image: [B]."""
    dy = (images[..., 1:, :] - images[..., :-1, :]).pow(2).mean(dim=(1, 2, 3))
    dx = (images[..., :, 1:] - images[..., :, :-1]).pow(2).mean(dim=(1, 2, 3))
    return dx + dy


@torch.no_grad()
def style_grams(vgg: VGGFeatures, images: Sequence[torch.Tensor], layers: Iterable[str]) -> dict[str, torch.Tensor]:
    """{layer: [N, C, C]}: the Grams of N images ([3, H, W] or [1, 3, H, W], any size each) at `layers`."""
    grams = {layer: [] for layer in layers}
    for image in images:
        image = image.to(vgg.mean.device)
        features = vgg(image if image.dim() == 4 else image[None])
        for layer in grams:
            grams[layer].append(gram_matrix(features[layer])[0])
    return {layer: torch.stack(values) for layer, values in grams.items()}


def relative_error(value: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-example mean squared error divided by the target's mean square: [B].

    Dividing by the target's magnitude makes every term independent of the VGG's activation scale:
    features k times larger scale both numerator and denominator by k^2 (content) or k^4 (Gram),
    so torchvision's weights and the Caffe-scale Oxford weights share the same loss weights.
    """
    dims = tuple(range(1, value.dim()))
    error = (value.float() - target).pow(2).mean(dim=dims)
    return error / target.pow(2).mean(dim=dims).clamp_min(1e-12)


class PerceptualLoss(nn.Module):
    """Content loss at `content_layers`, Gram style loss at `style_layers` ({layer: weight}, or a list of
    layers of weight 1), scaled as a whole by `style_weight` and per style by `style_scales` ({style name: factor},
    1 for the others), and optional total variation.

    Style targets are Grams of the style images, computed once by `set_style_targets`, kept as
    non-persistent buffers (never in checkpoints), and blended per example by style weights [B, N].
    """

    def __init__(
        self,
        vgg: Mapping,
        content_layers: Sequence[str] = ("relu3_3",),
        style_layers: Sequence[str] | Mapping[str, float] = ("relu1_2", "relu2_2", "relu3_3", "relu4_3"),
        content_weight: float = 1.0,
        style_weight: float = 1.0,
        tv_weight: float = 0.0,
        style_scales: Mapping[str, float] | None = None,
    ):
        super().__init__()
        self.content_layers = list(content_layers)
        # {layer: weight}; a plain list of layers weighs each one 1.
        is_mapping = isinstance(style_layers, Mapping)
        self.style_layers = dict(style_layers) if is_mapping else dict.fromkeys(style_layers, 1.0)
        self.content_weight = content_weight
        self.style_weight = style_weight
        self.tv_weight = tv_weight
        self.style_scales = dict(style_scales or {})
        self.vgg_arch = vgg["arch"]
        self.vgg = VGGFeatures(self.content_layers + list(self.style_layers), arch=vgg["arch"], weights=vgg["weights"])

    def settings(self) -> dict:
        """What a checkpoint records, so that it can be scored later with the loss it was trained on."""
        # The constructor's own arguments, so PerceptualLoss(**settings) rebuilds it; the VGG's weights file is
        # the scoring machine's own (the same ImageNet VGG wherever it is stored).
        return {
            "vgg": {"arch": self.vgg_arch},
            "content_layers": self.content_layers,
            "style_layers": dict(self.style_layers),
            "content_weight": self.content_weight,
            "style_weight": self.style_weight,
            "tv_weight": self.tv_weight,
            # only when set, so that a checkpoint without them stays readable by earlier versions
            **({"style_scales": dict(self.style_scales)} if self.style_scales else {}),
        }

    @torch.no_grad()
    def set_style_targets(self, style_images: Sequence[torch.Tensor], names: Sequence[str] | None = None) -> None:
        """style_images: one [3, H, W] or [1, 3, H, W] tensor per style, any size each; `names`, their styles'
        names, are needed when `style_scales` is set."""
        if self.style_scales and names is None:
            raise ValueError("style_scales name styles: set_style_targets needs the styles' names")
        if names is not None and len(names) != len(style_images):
            raise ValueError(f"{len(names)} names for {len(style_images)} style images")
        names = [None] * len(style_images) if names is None else names
        scales = [self.style_scales.get(name, 1.0) for name in names]
        device = self.vgg.mean.device  # the loss may have been moved already (evaluate.py, optimize.py --device)
        self.register_buffer("style_scale", torch.tensor(scales, dtype=torch.float32, device=device), persistent=False)
        for layer, grams in style_grams(self.vgg, style_images, self.style_layers).items():
            self.register_buffer(f"gram_{layer}", grams, persistent=False)  # [N, C, C]

    def style_targets(self, style_weights: torch.Tensor) -> dict[str, torch.Tensor]:
        """Blended target Grams {layer: [B, C, C]} for style weights [B, N]."""
        return {
            layer: torch.einsum("bn,ncd->bcd", style_weights.float(), getattr(self, f"gram_{layer}"))
            for layer in self.style_layers
        }

    def forward(
        self, output: torch.Tensor, content: torch.Tensor, style_weights: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        """Loss terms, each averaged over the batch: total, content, style, style/<layer>, tv."""
        with torch.no_grad():
            content_features = self.vgg(content, self.content_layers)
        output_features = self.vgg(output)
        targets = self.style_targets(style_weights)
        terms = {
            "content": sum(
                relative_error(output_features[layer], content_features[layer].float()).mean()
                for layer in self.content_layers
            )
        }
        scale = style_weights.float() @ self.style_scale  # [B]: a blend's scale is the blend of its styles'
        terms["style"] = 0
        for layer, weight in self.style_layers.items():
            errors = relative_error(gram_matrix(output_features[layer]), targets[layer])  # [B]
            terms[f"style/{layer}"] = errors.mean()  # as the yardstick sees it, whatever the scales
            terms["style"] = terms["style"] + weight * (scale * errors).mean()
        terms["tv"] = total_variation(output.float()).mean()
        terms["total"] = (
            self.content_weight * terms["content"]
            + self.style_weight * terms["style"]
            + self.tv_weight * terms["tv"]
        )
        return terms
