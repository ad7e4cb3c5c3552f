"""The photos of a stylize run: where they come from (a file, a folder, stdin), where each output goes (checked
before any work: existing files, formats, writability), and reading them ahead in loader processes."""

import sys
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.utils.data import Dataset
from torchvision.transforms.v2 import functional as TF

from nst_ff.errors import UsageError
from nst_ff.infer.styles import StyleChoice
from nst_ff.io.images import (
    IMAGE_EXTENSIONS,
    MAX_PIXELS,
    STDIO,
    ImageReadError,
    image_format,
    list_images,
    read_image,
)
from nst_ff.io.paths import check_distinct, check_writable, inside, outside_output, same_file

OUTPUT_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG"}
# An --output ending like this names a file (refused unless PNG or JPEG); anything else is a folder.
FILE_SUFFIXES = (*OUTPUT_FORMATS, *IMAGE_EXTENSIONS, ".gif")


def resize_photo(image: torch.Tensor, size: int | None, max_size: int | None, label: str = "photo") -> torch.Tensor:
    """--size sets the shorter side; --max-size then caps the longer side (downscaling only). The result is
    refused (ImageReadError naming `label`) before resizing when it would exceed MAX_PIXELS."""
    height, width = image.shape[-2:]
    if size:  # as torchvision's resize to [size]: the longer side rounded down
        height, width = (size, int(size * width / height)) if height <= width else (int(size * height / width), size)
    if max_size and max(height, width) > max_size:
        scale = max_size / max(height, width)
        height, width = max(1, round(height * scale)), max(1, round(width * scale))
    if height * width > MAX_PIXELS:
        raise ImageReadError(f"{label}: {width}x{height} pixels after --size is over the limit of {MAX_PIXELS} "
                             "pixels; give a smaller --size or a --max-size")
    return image if (height, width) == tuple(image.shape[-2:]) else TF.resize(image, [height, width], antialias=True)


def read_photo(source: Path | bytes) -> torch.Tensor:
    """[3, H, W] in [0, 1], upright RGB, from a path or the bytes read from stdin."""
    if isinstance(source, Path):
        return read_image(source)
    # read_image wants a path; a temporary file keeps all its checks (EXIF, modes, decompression bombs).
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "stdin"
        path.write_bytes(source)
        try:
            return read_image(path)
        except ImageReadError as error:
            raise ImageReadError(str(error).replace(str(path), "<stdin>")) from None


class Photos(Dataset):
    """(index, photo [3, H, W] or None, error message or None) per source, resized as asked; decoding runs
    in DataLoader workers so it overlaps with the network."""

    def __init__(self, sources: list[Path | bytes], size: int | None, max_size: int | None):
        self.sources, self.size, self.max_size = sources, size, max_size

    def __len__(self) -> int:
        return len(self.sources)

    def __getitem__(self, index: int):
        try:
            source = self.sources[index]
            label = str(source) if isinstance(source, Path) else "<stdin>"
            return index, resize_photo(read_photo(source), self.size, self.max_size, label), None
        except ImageReadError as error:
            return index, None, str(error)


def as_list(batch: list) -> list:
    """DataLoader collate that keeps photos of different sizes apart."""
    return batch


def check_output_suffix(path: Path) -> str:
    try:
        return image_format(path, OUTPUT_FORMATS)
    except ValueError as error:
        raise UsageError(str(error)) from None


@dataclass
class Photo:
    """One input and where its images go."""

    source: Path | bytes  # a file, or the bytes read from stdin
    name: str  # in output file names and TensorBoard tags: "photo", "holidays/beach"
    shown: str  # in messages: the path as given
    destinations: list  # one per style choice: a Path, or "-" for stdout
    sheet: Path | None = None


def list_inputs(text: str, output: str | None = None) -> list[Photo]:
    """The photos of `--input`: a file, a folder (recursively) or '-' for stdin; destinations still empty.
    Images under the output folder are left out, so outputs written inside the input are never re-read."""
    if text == STDIO:
        return [Photo(sys.stdin.buffer.read(), "stdin", "<stdin>", [])]
    path = Path(text)
    if path.is_file():
        return [Photo(path, path.stem, str(path), [])]
    if not path.is_dir():
        raise UsageError(f"input not found: {path}")
    paths = list_images(path)
    if output not in (None, STDIO):
        paths = outside_output(paths, path, output, "images")
    if not paths:
        raise UsageError(f"no images in folder {path} (looked for {' '.join(IMAGE_EXTENSIONS)})")
    stems = [p.relative_to(path).with_suffix("").as_posix() for p in paths]
    counts = Counter(stems)
    # photo.jpg and photo.png side by side keep their extensions apart: photo_jpg_..., photo_png_...
    return [
        Photo(p, stem if counts[stem] == 1 else p.relative_to(path).as_posix().replace(".", "_"), str(p), [])
        for stem, p in zip(stems, paths, strict=True)
    ]


def plan_outputs(photos: list[Photo], choices: list[StyleChoice], output: str, folder_format: str | None,
                 sheet_suffix: str | None, overwrite: bool, protected: list[Path]) -> None:
    """Fills in every destination, refusing impossible, colliding or existing ones, and any that is an input
    photo or a file in `protected` (the checkpoint), before anything is written. `output` is one image file,
    '-' (stdout) or a folder; in a folder, names are <photo>_<style slug>, made safe by paths.inside, of type
    `folder_format` (default png)."""
    count = len(photos) * (len(choices) + (sheet_suffix is not None))
    if output == STDIO or (Path(output).suffix.lower() in FILE_SUFFIXES and not Path(output).is_dir()):
        if folder_format:
            raise UsageError(f"--format {folder_format} is the type of the images written to a folder, and "
                             f"--output {output} is one file: its name sets the type; leave out --format")
        if output != STDIO:
            check_output_suffix(Path(output))
        if count != 1:
            raise UsageError(f"--output {output} takes one image but this run writes {count}; give a folder instead")
        photos[0].destinations = [output if output == STDIO else Path(output)]
    else:
        folder, ext = Path(output), f".{folder_format or 'png'}"
        for photo in photos:
            photo.destinations = [inside(folder, f"{photo.name}_{choice.slug}{ext}") for choice in choices]
            photo.sheet = inside(folder, f"{photo.name}_{sheet_suffix}{ext}") if sheet_suffix else None
    files = [path for photo in photos for path in photo.destinations + [photo.sheet] if path not in (None, STDIO)]
    check_files(files, [p.source for p in photos if isinstance(p.source, Path)], protected, overwrite)


def check_files(files: list[Path], photos: list[Path], protected: list[Path], overwrite: bool) -> None:
    """Distinct outputs, none of them an input photo or a protected file (even with --overwrite), none existing
    unless --overwrite, in writable folders."""
    check_distinct(files)
    inputs = {path.resolve() for path in [*protected, *photos]}
    for path in files:
        if path.resolve() in inputs or any(same_file(path, source) for source in protected):
            raise UsageError(f"{path} is an input of this run: write the outputs elsewhere (--output)")
    if not overwrite:
        for path in files:
            if path.exists():
                raise UsageError(f"{path} exists; add --overwrite to replace it")
    for folder in dict.fromkeys(path.parent for path in files):
        check_writable(folder)
