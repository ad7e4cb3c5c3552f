"""Image reading and writing: every image becomes upright 8-bit RGB; huge images are refused."""

import os
from pathlib import Path

import torch
from PIL import Image, ImageOps
from torchvision.transforms.v2 import functional as TF

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp", ".bmp")
# Pillow's own decompression-bomb threshold (about 9,459 x 9,459): far above any photo, far below
# what would exhaust memory once decoded and turned into float tensors.
MAX_PIXELS = Image.MAX_IMAGE_PIXELS


class ImageReadError(ValueError):
    """An image that cannot be used; the message names the path and the reason."""


def _to_rgb(image: Image.Image) -> Image.Image:
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        # 16-bit greyscale: scale to 8 bits; a plain convert would clip everything above 255 to white.
        image = image.convert("I").point(lambda value: value * (1 / 256)).convert("L")
    if image.mode == "P":
        image = image.convert("RGBA")  # palette images may carry transparency
    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))  # transparent -> white
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


def open_image(path: str | os.PathLike, max_pixels: int = MAX_PIXELS) -> Image.Image:
    """Upright RGB PIL image. Raises ImageReadError for unreadable, truncated or oversized files."""
    path = Path(path)
    try:
        with Image.open(path) as image:
            width, height = image.size
            if width * height > max_pixels:
                raise ImageReadError(
                    f"{path}: {width}x{height} pixels is over the limit of {max_pixels} (decompression bomb?)"
                )
            image = ImageOps.exif_transpose(image)
            image.load()
            return _to_rgb(image)
    except ImageReadError:
        raise
    except Image.DecompressionBombError as error:
        raise ImageReadError(f"{path}: refused, {error}") from None
    except (OSError, ValueError, SyntaxError, Image.UnidentifiedImageError) as error:
        reason = "empty file" if path.is_file() and path.stat().st_size == 0 else str(error) or type(error).__name__
        raise ImageReadError(f"{path}: cannot read image ({reason})") from None


def read_image(path: str | os.PathLike, max_pixels: int = MAX_PIXELS) -> torch.Tensor:
    """[3, H, W] float32 in [0, 1], upright RGB."""
    return TF.to_dtype(TF.pil_to_tensor(open_image(path, max_pixels)), torch.float32, scale=True)


def list_images(folder: str | os.PathLike, recursive: bool = True) -> list[Path]:
    """Image files under `folder` by extension, sorted; hidden files and folders are left out."""
    folder = Path(folder)
    candidates = folder.rglob("*") if recursive else folder.iterdir()
    return sorted(
        path
        for path in candidates
        if path.suffix.lower() in IMAGE_EXTENSIONS
        and not any(part.startswith(".") for part in path.relative_to(folder).parts)
        and path.is_file()
    )


def resize_shorter(image: torch.Tensor, size: int) -> torch.Tensor:
    """Resize [.., H, W] so its shorter side is `size`, keeping the aspect ratio (antialiased)."""
    return TF.resize(image, [size], antialias=True)
