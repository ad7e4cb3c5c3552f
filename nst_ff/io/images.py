"""Image reading and writing, and the one atomic file write every writer uses: every image read becomes
upright RGB; huge images are refused; every file appears whole or not at all."""

import io
import os
import sys
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

import torch
from PIL import Image, ImageDraw, ImageFont, ImageOps
from torchvision.transforms.v2 import functional as TF
from torchvision.utils import make_grid

from nst_ff.errors import NstError, UsageError

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff")
# The largest picture painted (Pillow's warning threshold, about 9,459 x 9,459): its float tensors at full size
# stay within a few GB. A photo read may be twice as large (a 100-150 MP medium-format or stitched one, to be
# painted with --size): Pillow's own decompression-bomb refusal stands there.
MAX_PIXELS = Image.MAX_IMAGE_PIXELS
MAX_READ_PIXELS = 2 * Image.MAX_IMAGE_PIXELS


class ImageReadError(NstError, ValueError):
    """An image that cannot be used; the message names the path and the reason."""


def _greyscale_to_8_bits(image: Image.Image, bits: int) -> Image.Image:
    """16- and 32-bit integer and 32-bit float greyscale -> 8 bits over the type's full range (a plain convert
    clips integers above 255 to white and turns floats in [0, 1] black). Floats outside [0, 1] have no range to
    scale by: ValueError."""
    low, high = image.getextrema()
    if image.mode == "F":
        if not (0 <= low and high <= 1):  # also NaN
            raise ValueError(f"32-bit float pixels from {low:g} to {high:g}, outside [0, 1]: save it as 8 or 16 bits")
        return image.point(lambda value: value * 255).convert("L")
    if low < 0:
        raise ValueError(f"signed {bits}-bit pixels down to {low}: save it as 8 or 16 bits")
    scale = 1 / 2 ** (23 if bits == 32 or high > 65535 else 8)  # int32's largest value is 2^31 - 1
    return image.convert("I").point(lambda value: value * scale).convert("L")


def _to_rgb(image: Image.Image, bits: int) -> Image.Image:
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        image = _greyscale_to_8_bits(image, bits)
    if image.mode == "P":
        image = image.convert("RGBA")  # palette images may carry transparency
    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))  # transparent -> white
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


def open_image(path: str | os.PathLike, max_pixels: int = MAX_READ_PIXELS) -> Image.Image:
    """Upright RGB PIL image. Raises ImageReadError for unreadable, truncated or oversized files."""
    path = Path(path)
    return _open(path, str(path), max_pixels, lambda: path.is_file() and path.stat().st_size == 0)


def _open(source, label: str, max_pixels: int, is_empty: Callable[[], bool]) -> Image.Image:
    try:
        with warnings.catch_warnings():  # Pillow warns above MAX_PIXELS: the size is checked here, in one line
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(source)
        with image:
            width, height = image.size
            if width * height > max_pixels:
                raise ImageReadError(
                    f"{label}: {width}x{height} pixels is over the limit of {max_pixels} (decompression bomb?)"
                )
            # Bits per sample, from a TIFF's tags (gone once transposed): mode "I" holds 16- and 32-bit integers.
            bits = getattr(image, "tag_v2", {}).get(258, (16,))[0]
            image = ImageOps.exif_transpose(image)
            image.load()
            return _to_rgb(image, bits)
    except ImageReadError:
        raise
    except Image.DecompressionBombError as error:
        raise ImageReadError(f"{label}: refused, {error}") from None
    except (OSError, ValueError, SyntaxError, Image.UnidentifiedImageError) as error:
        reason = "empty file" if is_empty() else str(error) or type(error).__name__
        raise ImageReadError(f"{label}: cannot read image ({reason})") from None


def read_image(path: str | os.PathLike, max_pixels: int = MAX_READ_PIXELS) -> torch.Tensor:
    """[3, H, W] float32 in [0, 1], upright RGB."""
    return TF.to_dtype(TF.pil_to_tensor(open_image(path, max_pixels)), torch.float32, scale=True)


def decode_image(data: bytes, name: str, max_pixels: int = MAX_READ_PIXELS) -> torch.Tensor:
    """As read_image, for the bytes of a file (an upload) that never touches the disk; `name` labels errors."""
    image = _open(io.BytesIO(data), name, max_pixels, lambda: not data)
    return TF.to_dtype(TF.pil_to_tensor(image), torch.float32, scale=True)


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


UMASK = os.umask(0)
os.umask(UMASK)  # reading the umask means setting it; put it back at once
# Image files that are written by format: the suffix chooses.
WRITE_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".gif": "GIF", ".webp": "WEBP", ".bmp": "BMP"}
STDIO = "-"  # stdin or stdout where a path is expected
SHEET_COLUMNS = 8  # wider sheets wrap onto further rows


def write_atomically(path: str | os.PathLike, write: Callable[[BinaryIO], None], fsync: bool = False) -> None:
    """write(file) into a temporary file beside `path`, then rename: a kill or a full disk at any moment leaves
    the old file or the new one, never half of one. `fsync` also survives a power cut (checkpoints)."""
    path = Path(path)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        with os.fdopen(handle, "wb") as f:
            write(f)
            f.flush()
            if fsync:
                os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~UMASK)  # mkstemp makes files private; give the usual mode
        os.replace(tmp, path)
    except OSError as error:  # name the user's file, not the temporary one
        raise OSError(f"cannot write {path}: {error.strerror or error}") from None
    finally:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)


def to_uint8(image: torch.Tensor) -> torch.Tensor:
    """[0, 1] -> [0, 255], rounded (so a photo read from 8 bits comes back unchanged), on the CPU."""
    return image.detach().float().clamp(0, 1).mul(255).round().to("cpu", torch.uint8)


def to_pil(image: torch.Tensor) -> Image.Image:
    """[3, H, W] in [0, 1] -> 8-bit RGB."""
    return Image.fromarray(to_uint8(image).permute(1, 2, 0).numpy())


def image_format(path: str | os.PathLike, allowed=WRITE_FORMATS) -> str:
    """The Pillow format that `path`'s suffix asks for; ValueError naming the path and the choices."""
    fmt = allowed.get(Path(path).suffix.lower())
    if fmt is None:
        raise UsageError(f"{path}: cannot write this image format; use one of {', '.join(allowed)}")
    return fmt


def save_image(image: torch.Tensor, destination: str | os.PathLike, allowed=WRITE_FORMATS) -> None:
    """[3, H, W] in [0, 1] to an 8-bit RGB file of the suffix's format (JPEG at quality 95), or PNG on stdout
    for '-'."""
    if destination == STDIO:
        buffer = io.BytesIO()
        to_pil(image).save(buffer, format="PNG")
        sys.stdout.buffer.write(buffer.getvalue())
        sys.stdout.buffer.flush()
        return
    fmt = image_format(destination, allowed)
    picture = to_pil(image)
    write_atomically(destination, lambda f: picture.save(f, format=fmt, **({"quality": 95} if fmt == "JPEG" else {})))


def save_gif(frames: list[Image.Image], path: str | os.PathLike, frame_ms: int = 100) -> None:
    write_atomically(path, lambda f: write_gif(frames, f, frame_ms))


def write_gif(frames: list[Image.Image], file: BinaryIO, frame_ms: int = 100) -> None:
    """An animated GIF that plays once per loop, forever, holding the last frame a second longer."""
    durations = [frame_ms] * (len(frames) - 1) + [frame_ms + 1000]
    frames[0].save(file, format="GIF", save_all=True, append_images=frames[1:], duration=durations, loop=0)


def labelled_sheet(images: torch.Tensor, labels: list[str], columns: int = SHEET_COLUMNS) -> torch.Tensor:
    """Images [K, 3, H, W], each with its label in a white band below, on a grid -> [3, H', W']."""
    height, width = images.shape[-2:]
    largest = max(10, min(32, width // 14))
    band = round(largest * 1.6)
    tiles = []
    for image, label in zip(images, labels, strict=True):
        canvas = Image.new("RGB", (width, height + band), "white")
        canvas.paste(to_pil(image), (0, 0))
        draw = ImageDraw.Draw(canvas)
        size = largest
        while size > 6 and draw.textlength(label, font=ImageFont.load_default(size=size)) > width - 4:
            size -= 1  # a long mix label shrinks to fit its tile
        font = ImageFont.load_default(size=size)
        draw.text((width // 2, height + band // 2), label, fill="black", font=font, anchor="mm")
        tiles.append(TF.pil_to_tensor(canvas))
    tiles = TF.to_dtype(torch.stack(tiles), torch.float32, scale=True)  # [K, 3, H + band, W]
    return make_grid(tiles, nrow=min(columns, len(tiles)), padding=4, pad_value=1.0)
