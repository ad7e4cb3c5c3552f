"""Magenta's style transfer network with conditional instance normalisation (Dumoulin et al. 2017)."""

import torch
import torch.nn.functional as F
from torch import nn


class ConditionalInstanceNorm2d(nn.Module):
    """Instance norm whose scale and shift come from per-style tables, blended by style weights."""

    def __init__(self, num_channels: int, num_styles: int, eps: float = 1e-5):
        super().__init__()
        self.eps = eps
        self.gamma = nn.Parameter(torch.ones(num_styles, num_channels))
        self.beta = nn.Parameter(torch.zeros(num_styles, num_channels))

    def forward(self, x: torch.Tensor, style_weights: torch.Tensor) -> torch.Tensor:
        # x [B, C, H, W], style_weights [B, N]; a convex row mixes styles by blending gamma and beta,
        # as Magenta's image_stylization does, rather than blending outputs.
        b, c, h, w = x.shape
        gamma = style_weights @ self.gamma  # [B, C]
        beta = style_weights @ self.beta
        # Seen as one example with B*C channels, each example's own gamma and beta become per-channel
        # affine parameters: normalisation and affine run as one fused kernel instead of three passes.
        out = F.instance_norm(x.reshape(1, b * c, h, w), weight=gamma.reshape(-1), bias=beta.reshape(-1), eps=self.eps)
        return out.view(b, c, h, w)


class ConvCIN(nn.Module):
    """Reflection pad, unpadded conv without bias (CIN's beta is the bias), CIN, activation."""

    def __init__(self, in_ch, out_ch, kernel_size, stride, num_styles, activation=nn.ReLU, upsample=False):
        super().__init__()
        # Nearest-neighbour upsampling then a conv, never a transposed conv: no checkerboard artifacts.
        self.upsample = upsample
        # Reflection, never zero, padding: zero padding paints a frame around every output.
        self.pad = nn.ReflectionPad2d(kernel_size // 2)
        self.conv = nn.Conv2d(in_ch, out_ch, kernel_size, stride, bias=False)
        self.norm = ConditionalInstanceNorm2d(out_ch, num_styles)
        self.activation = activation() if activation else nn.Identity()

    def forward(self, x, style_weights):
        if self.upsample:
            x = F.interpolate(x, scale_factor=2, mode="nearest")
        return self.activation(self.norm(self.conv(self.pad(x)), style_weights))


class ResidualBlock(nn.Module):
    """conv-CIN-ReLU-conv-CIN plus identity; no ReLU after the add (Magenta's residual_block)."""

    def __init__(self, channels, num_styles):
        super().__init__()
        self.conv1 = ConvCIN(channels, channels, 3, 1, num_styles)
        self.conv2 = ConvCIN(channels, channels, 3, 1, num_styles, activation=None)

    def forward(self, x, style_weights):
        return x + self.conv2(self.conv1(x, style_weights), style_weights)


class StyleTransferNetwork(nn.Module):
    """Maps photos [B, 3, H, W] in [0, 1] and style weights [B, N] to stylized images of the same size."""

    def __init__(self, num_styles: int, alpha: float = 1.0):
        super().__init__()
        self.num_styles = num_styles
        self.alpha = alpha
        # Channel widths of the paper; alpha is Magenta's width multiplier for slimmer networks.
        c1, c2, c3 = (max(1, int(alpha * c)) for c in (32, 64, 128))
        self.contract = nn.ModuleList([
            ConvCIN(3, c1, 9, 1, num_styles),
            ConvCIN(c1, c2, 3, 2, num_styles),
            ConvCIN(c2, c3, 3, 2, num_styles),
        ])
        self.residual = nn.ModuleList([ResidualBlock(c3, num_styles) for _ in range(5)])
        self.expand = nn.ModuleList([
            ConvCIN(c3, c2, 3, 1, num_styles, upsample=True),
            ConvCIN(c2, c1, 3, 1, num_styles, upsample=True),
            ConvCIN(c1, 3, 9, 1, num_styles, activation=nn.Sigmoid),  # output in [0, 1]
        ])
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                # Magenta: weights_initializer=tf.random_normal_initializer(0.0, 0.01)
                nn.init.normal_(module.weight, 0.0, 0.01)

    def constructor_args(self) -> dict:
        return {"num_styles": self.num_styles, "alpha": self.alpha}

    def style_tables(self) -> list[nn.Parameter]:
        """Every conditional instance norm's gamma and beta tables, [N, C] each: all that is per style."""
        norms = [m for m in self.modules() if isinstance(m, ConditionalInstanceNorm2d)]
        return [table for norm in norms for table in (norm.gamma, norm.beta)]

    def forward(self, images: torch.Tensor, style_weights: torch.Tensor) -> torch.Tensor:
        if style_weights.shape != (images.shape[0], self.num_styles):
            raise ValueError(
                f"style_weights must have shape [batch, {self.num_styles}], got {list(style_weights.shape)}"
            )
        style_weights = style_weights.to(self.contract[0].norm.gamma.dtype)
        height, width = images.shape[-2:]
        x = pad_for_network(images)
        for layer in self.contract:
            x = layer(x, style_weights)  # [B, c3, H/4, W/4] after the last one
        for block in self.residual:
            x = block(x, style_weights)
        for layer in self.expand:
            x = layer(x, style_weights)  # [B, 3, H, W] after the last one
        return x[..., :height, :width]


def pad_for_network(images: torch.Tensor) -> torch.Tensor:
    """Two stride-2 convs then two x2 upsamplings: pad to a multiple of 4 so the output can be cropped back to
    exactly the input size, and to at least 8 px so every reflection pad has room (2 px left after the
    downsamplings). Replicate padding works on any size, even 1 px."""
    height, width = images.shape[-2:]
    # No Python branch or max(): an ONNX export traces this with symbolic sizes, and a branch would fix the
    # padding of the example size for every size. Padding by 0 returns the same values.
    pad_h = torch.sym_max(8, height + -height % 4) - height
    pad_w = torch.sym_max(8, width + -width % 4) - width
    return F.pad(images, (0, pad_w, 0, pad_h), mode="replicate")


def one_hot(style_index: torch.Tensor, num_styles: int) -> torch.Tensor:
    """Style indices [B] -> style weights [B, N]."""
    return F.one_hot(style_index, num_styles).float()
