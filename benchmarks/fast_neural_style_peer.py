"""The peer of SPEC.md's speed targets: PyTorch's fast_neural_style example (Johnson et al. 2016), rebuilt here
from its published architecture (pytorch/examples, fast_neural_style/neural_style/transformer_net.py and
neural_style.py, BSD-3-Clause) for side-by-side timing; no code of it is copied.

Its network: reflection-padded convs with bias, affine InstanceNorm2d (one style per network), ReLU; 9x9 3->32,
3x3/2 32->64, 3x3/2 64->128, five residual blocks (conv-IN-ReLU-conv-IN + x), nearest x2 upsampling then
3x3 128->64 and 64->32, a 9x9 32->3 conv without norm or activation. Its training step: the photo batch x 255
through the network, VGG16 features of output and photo (ImageNet-normalised), content MSE at relu2_2 times
1e5, style MSE of Gram matrices (divided by C*H*W) at relu1_2, relu2_2, relu3_3, relu4_3 times 1e10, Adam 1e-3.
"""

import torch
import torch.nn.functional as F
from torch import nn

VGG_LAYERS = {"relu1_2": 3, "relu2_2": 8, "relu3_3": 15, "relu4_3": 22}  # indices in vgg16().features
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def conv(in_channels: int, out_channels: int, kernel: int, stride: int = 1, upsample: bool = False) -> nn.Sequential:
    layers = [nn.Upsample(scale_factor=2, mode="nearest")] if upsample else []
    return nn.Sequential(*layers, nn.ReflectionPad2d(kernel // 2), nn.Conv2d(in_channels, out_channels, kernel, stride))


def conv_norm_relu(in_channels, out_channels, kernel, stride=1, upsample=False, relu=True) -> nn.Sequential:
    layers = [conv(in_channels, out_channels, kernel, stride, upsample), nn.InstanceNorm2d(out_channels, affine=True)]
    return nn.Sequential(*layers, *([nn.ReLU()] if relu else []))


class Residual(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.body = nn.Sequential(conv_norm_relu(channels, channels, 3),
                                  conv_norm_relu(channels, channels, 3, relu=False))

    def forward(self, x):
        return x + self.body(x)


class TransformerNet(nn.Sequential):
    """fast_neural_style's network: images [B, 3, H, W] (0-255 scale) -> [B, 3, H, W], H and W multiples of 4."""

    def __init__(self):
        super().__init__(
            conv_norm_relu(3, 32, 9), conv_norm_relu(32, 64, 3, 2), conv_norm_relu(64, 128, 3, 2),
            *[Residual(128) for _ in range(5)],
            conv_norm_relu(128, 64, 3, upsample=True), conv_norm_relu(64, 32, 3, upsample=True), conv(32, 3, 9),
        )


class PeerLoss(nn.Module):
    """fast_neural_style's perceptual loss around a VGG16 `features` module (frozen)."""

    def __init__(self, vgg_features: nn.Module, style: torch.Tensor, content_weight=1e5, style_weight=1e10):
        super().__init__()
        self.vgg = vgg_features[: max(VGG_LAYERS.values()) + 1].eval().requires_grad_(False)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))
        self.content_weight, self.style_weight = content_weight, style_weight
        with torch.no_grad():
            for index, features in enumerate(self.features(style[None] * 255)):
                self.register_buffer(f"style_gram{index}", gram(features))  # [1, C, C]

    def features(self, images_255: torch.Tensor) -> list[torch.Tensor]:
        x, out = (images_255 / 255 - self.mean) / self.std, []
        for index, layer in enumerate(self.vgg):
            x = layer(x)
            if index in VGG_LAYERS.values():
                out.append(x)
        return out

    def forward(self, output_255: torch.Tensor, photos_255: torch.Tensor) -> torch.Tensor:
        out_features = self.features(output_255)
        with torch.no_grad():
            content_target = self.features(photos_255)[1]  # relu2_2
        content = self.content_weight * F.mse_loss(out_features[1], content_target)
        style = sum(F.mse_loss(gram(f), getattr(self, f"style_gram{index}").expand(len(f), -1, -1))
                    for index, f in enumerate(out_features))
        return content + self.style_weight * style


def gram(features: torch.Tensor) -> torch.Tensor:
    """[B, C, H, W] -> [B, C, C], divided by C*H*W as fast_neural_style does."""
    b, c, h, w = features.shape
    flat = features.reshape(b, c, h * w)
    return flat @ flat.transpose(1, 2) / (c * h * w)
