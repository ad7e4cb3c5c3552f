"""A stability loss for video without optical flow data (Gupta et al. 2017, ReCoNet's output term): a photo and a
copy slightly shifted, zoomed and noised, as the next frame of a video would be, must be stylized alike once the
first output is moved by the same known motion. A per-frame network trained with it flickers less."""

import torch
import torch.nn.functional as F


def random_motion(batch: int, shift: float, zoom: float, generator=None, device=None) -> torch.Tensor:
    """Affine matrices [B, 2, 3] for F.affine_grid: a shift of up to `shift` of the image size in x and y and
    a zoom of up to `zoom` (0.02: 2 %) in or out, each drawn uniformly per example."""
    draw = torch.rand(batch, 3, generator=generator, device=device) * 2 - 1  # [B, 3] in [-1, 1)
    scale = 1 + zoom * draw[:, 0]  # affine_grid samples a scale < 1 as a zoom in
    theta = torch.zeros(batch, 2, 3, device=device)
    theta[:, 0, 0] = theta[:, 1, 1] = scale
    theta[:, :, 2] = 2 * shift * draw[:, 1:]  # grid coordinates span 2 across the image
    return theta


def warp(images: torch.Tensor, theta: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """images [B, C, H, W] moved by `theta` [B, 2, 3] -> (moved images, mask [B, 1, H, W] of pixels whose source
    lies inside the image: elsewhere the moved image is made up)."""
    grid = F.affine_grid(theta.to(images.dtype), list(images.shape), align_corners=False)  # [B, H, W, 2]
    moved = F.grid_sample(images, grid, mode="bilinear", padding_mode="border", align_corners=False)
    inside = (grid.abs() <= 1).all(dim=-1, keepdim=True).permute(0, 3, 1, 2)  # [B, 1, H, W]
    return moved, inside.to(images.dtype)


def stability_loss(network, photos: torch.Tensor, style_weights: torch.Tensor, stylized: torch.Tensor,
                   shift: float = 0.02, zoom: float = 0.02, noise: float = 0.02) -> torch.Tensor:
    """Mean squared difference between the network's output for a moved, noised copy of `photos` and its output
    `stylized` for `photos` moved alike, over the pixels both frames see. noise: std of the Gaussian noise
    added to the copy (compression and sensor noise differ between frames)."""
    theta = random_motion(photos.shape[0], shift, zoom, device=photos.device)
    moved_photos, inside = warp(photos, theta)
    next_frame = (moved_photos + noise * torch.randn_like(moved_photos)).clamp(0, 1)
    moved_output, _ = warp(stylized, theta)
    difference = (network(next_frame, style_weights) - moved_output).pow(2) * inside
    return difference.sum() / (inside.sum() * stylized.shape[1]).clamp_min(1)
