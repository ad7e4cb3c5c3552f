"""What stylize.py runs: style choices and mixes, photo loading, colour handling, sheets, output files, and
the Stylizer that batches photos through the network while files are read and written alongside.

Every user mistake raises UsageError with one line that names the problem (and the valid choices), so the
entry point can print it and exit with code 2 before anything is written.
"""

import math
import os
import sys
import tempfile
import time
from collections import Counter, deque
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

import torch
from PIL import Image, ImageDraw, ImageFont
from torch.utils.data import Dataset
from torchvision.transforms.v2 import functional as TF
from torchvision.utils import make_grid

from nst_ff import jsonfile
from nst_ff.cli import UsageError, check_writable
from nst_ff.images import (
    IMAGE_EXTENSIONS,
    ImageReadError,
    image_format,
    list_images,
    read_image,
    save_image,
    to_pil,
)
from nst_ff.tiling import AUTO_TILE_PIXELS, DEFAULT_TILE, tiled_forward

OUTPUT_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG"}
# An --output ending like this names a file (refused unless PNG or JPEG); anything else is a folder.
FILE_SUFFIXES = (*OUTPUT_FORMATS, *IMAGE_EXTENSIONS, ".gif", ".tif", ".tiff")
STDIO = "-"
SHEET_COLUMNS = 8  # wider sheets wrap onto further rows
PENDING_WRITES = 8  # finished images waiting for the writer threads before compute waits for them
# ITU-R BT.601 RGB <-> YCbCr (JPEG's full-range variant); only luminance Y is taken from the stylized image.
RGB_TO_YCBCR = torch.tensor([[0.299, 0.587, 0.114], [-0.168736, -0.331264, 0.5], [0.5, -0.418688, -0.081312]])
YCBCR_TO_RGB = torch.linalg.inv(RGB_TO_YCBCR)



@dataclass(frozen=True)
class StyleChoice:
    """One output per photo: `weights` [N] is a one-hot row or a convex mix of the checkpoint's styles."""

    label: str  # for sheets and logs: "starry_night" or "0.7 starry_night + 0.3 the_scream"
    slug: str  # for file names and TensorBoard tags: "starry_night" or "starry_night@0.7+the_scream@0.3"
    weights: torch.Tensor


def available_styles(style_names: list[str]) -> str:
    return "available styles: " + ", ".join(f"{index} {name}" for index, name in enumerate(style_names))


def resolve_style(token: str, style_names: list[str]) -> int:
    """A style name, or its index when no style has that name."""
    token = token.strip()
    if token in style_names:
        return style_names.index(token)
    if token.lstrip("+-").isdecimal():
        index = int(token)
        if 0 <= index < len(style_names):
            return index
        raise UsageError(
            f"style index {token} is out of range 0-{len(style_names) - 1}; {available_styles(style_names)}"
        )
    raise UsageError(f"unknown style {token!r}; {available_styles(style_names)}")


def _split(text: str, option: str) -> list[str]:
    items = [item.strip() for item in text.split(",")]
    if not text.strip() or any(not item for item in items):
        raise UsageError(f"{option} {text!r}: expected a comma-separated list with no empty items")
    return items


def mix_choice(weights: torch.Tensor, style_names: list[str]) -> StyleChoice:
    used = [(style_names[i], f"{w:.3g}") for i, w in enumerate(weights.tolist()) if w > 0]
    if len(used) == 1:
        return StyleChoice(used[0][0], used[0][0], weights)
    return StyleChoice(
        " + ".join(f"{w} {name}" for name, w in used), "+".join(f"{name}@{w}" for name, w in used), weights
    )


def named_weights(weights: torch.Tensor, style_names: list[str]) -> dict[str, float]:
    return {name: round(w, 6) for name, w in zip(style_names, weights.tolist(), strict=True) if w > 0}


def parse_styles(text: str, style_names: list[str]) -> list[StyleChoice]:
    """`--style starry_night,3`: one choice per distinct style, in the order given."""
    indices = dict.fromkeys(resolve_style(token, style_names) for token in _split(text, "--style"))
    return [mix_choice(torch.eye(len(style_names))[i], style_names) for i in indices]


def parse_mix(text: str, style_names: list[str]) -> StyleChoice:
    """`--style-mix a:0.7,b:0.3` (names or indices) or a bare `a,b` for equal weights; normalised to sum 1."""
    items = _split(text, "--style-mix")
    weighted = [":" in item for item in items]
    if any(weighted) and not all(weighted):
        raise UsageError(f"--style-mix {text!r}: give a weight to every style (a:0.7,b:0.3) or to none (a,b)")
    pairs = []
    for item in items:
        name, _, weight_text = item.rpartition(":") if ":" in item else (item, "", "1")
        try:
            weight = float(weight_text)
        except ValueError:
            raise UsageError(f"--style-mix {text!r}: weight {weight_text!r} of {name!r} is not a number") from None
        if not math.isfinite(weight) or weight < 0:
            raise UsageError(f"--style-mix {text!r}: weights must be finite and non-negative, got {weight_text}")
        pairs.append((resolve_style(name, style_names), weight))
    largest = max(weight for _, weight in pairs)
    if largest <= 0:
        raise UsageError(f"--style-mix {text!r}: the weights sum to zero")
    weights = torch.zeros(len(style_names), dtype=torch.float64)
    for index, weight in pairs:  # scaled by the largest first: weights near the float limit cannot sum to inf
        weights[index] += weight / largest
    return mix_choice((weights / weights.sum()).float(), style_names)


def parse_interpolation(text: str, steps: int, style_names: list[str]) -> tuple[list[StyleChoice], str]:
    """`--interpolate a,b --steps K`: K mixes going from pure a to pure b, and their name ("a-to-b")."""
    items = _split(text, "--interpolate")
    if len(items) != 2:
        raise UsageError(f"--interpolate {text!r}: expected exactly two styles, as in a,b")
    if steps < 2:
        raise UsageError(f"--steps {steps}: an interpolation needs at least 2 steps")
    a, b = (resolve_style(item, style_names) for item in items)
    eye = torch.eye(len(style_names))
    path = f"{style_names[a]}-to-{style_names[b]}"
    choices = []
    for step in range(steps):
        t = step / (steps - 1)
        mix = mix_choice((1 - t) * eye[a] + t * eye[b], style_names)
        choices.append(StyleChoice(mix.label, f"{path}_{step:02d}", mix.weights))
    return choices, path


def all_styles(style_names: list[str]) -> list[StyleChoice]:
    return [mix_choice(row, style_names) for row in torch.eye(len(style_names))]


def resize_photo(image: torch.Tensor, size: int | None, max_size: int | None) -> torch.Tensor:
    """--size sets the shorter side; --max-size then caps the longer side (downscaling only)."""
    if size:
        image = TF.resize(image, [size], antialias=True)
    height, width = image.shape[-2:]
    if max_size and max(height, width) > max_size:
        scale = max_size / max(height, width)
        image = TF.resize(image, [max(1, round(height * scale)), max(1, round(width * scale))], antialias=True)
    return image


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
            return index, resize_photo(read_photo(self.sources[index]), self.size, self.max_size), None
        except ImageReadError as error:
            return index, None, str(error)


def as_list(batch: list) -> list:
    """DataLoader collate that keeps photos of different sizes apart."""
    return batch


class NonFiniteOutputError(ValueError):
    """The network painted NaN or infinity: its weights are broken (a diverged training run)."""


def stylize(network, photos: torch.Tensor, style_weights: torch.Tensor, tile: int | None = None) -> torch.Tensor:
    """Photos [B, 3, H, W] in every style row of `style_weights` [S, N] -> [B, S, 3, H, W]: in one pass, or
    with `tile`, one image at a time in tiles of that many pixels (bounded memory, same result)."""
    if tile:
        return torch.stack([
            torch.cat([tiled_forward(network, photo[None], row[None], tile) for row in style_weights])
            for photo in photos
        ])
    num_photos, num_rows = photos.shape[0], style_weights.shape[0]
    batch = photos.repeat_interleave(num_rows, dim=0)  # [B*S, 3, H, W], photo-major
    rows = style_weights.repeat(num_photos, 1)  # [B*S, N]
    return network(batch, rows).unflatten(0, (num_photos, num_rows))


def preserve_color(stylized: torch.Tensor, photo: torch.Tensor) -> torch.Tensor:
    """Luminance-only transfer: the stylized image's Y with the photo's Cb and Cr (channel dim -3)."""
    to_ycbcr, to_rgb = RGB_TO_YCBCR.to(photo), YCBCR_TO_RGB.to(photo)
    luma = torch.einsum("ij,...jhw->...ihw", to_ycbcr[:1], stylized)  # [..., 1, H, W]
    chroma = torch.einsum("ij,...jhw->...ihw", to_ycbcr[1:], photo)  # [..., 2, H, W]
    chroma = chroma.expand(*luma.shape[:-3], 2, *luma.shape[-2:])
    return torch.einsum("ij,...jhw->...ihw", to_rgb, torch.cat([luma, chroma], dim=-3)).clamp(0, 1)


def blend(stylized: torch.Tensor, photo: torch.Tensor, strength: float) -> torch.Tensor:
    """strength * stylized + (1 - strength) * photo; exact at 0 and 1."""
    if strength == 1:
        return stylized
    if strength == 0:
        return photo.expand_as(stylized)
    return torch.lerp(photo, stylized, strength)


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
    if output not in (None, STDIO) and Path(output).is_dir():
        outputs = Path(output).resolve()
        if outputs == path.resolve():
            raise UsageError(f"--output {output} is the input folder: its images would be read as photos next time")
        paths = [p for p in paths if not p.resolve().is_relative_to(outputs)]
    if not paths:
        raise UsageError(f"no images in folder {path} (looked for {' '.join(IMAGE_EXTENSIONS)})")
    stems = [p.relative_to(path).with_suffix("").as_posix() for p in paths]
    counts = Counter(stems)
    # photo.jpg and photo.png side by side keep their extensions apart: photo_jpg_..., photo_png_...
    return [
        Photo(p, stem if counts[stem] == 1 else p.relative_to(path).as_posix().replace(".", "_"), str(p), [])
        for stem, p in zip(stems, paths, strict=True)
    ]


def plan_outputs(photos: list[Photo], choices: list[StyleChoice], output: str, folder_format: str,
                 sheet_suffix: str | None, overwrite: bool) -> None:
    """Fills in every destination, refusing impossible or existing ones before anything is written.
    `output` is one image file, '-' (stdout) or a folder; in a folder, names are <photo>_<style slug>."""
    count = len(photos) * (len(choices) + (sheet_suffix is not None))
    if output == STDIO or (Path(output).suffix.lower() in FILE_SUFFIXES and not Path(output).is_dir()):
        if output != STDIO:
            check_output_suffix(Path(output))
        if count != 1:
            raise UsageError(f"--output {output} takes one image but this run writes {count}; give a folder instead")
        photos[0].destinations = [output if output == STDIO else Path(output)]
    else:
        folder, ext = Path(output), f".{folder_format}"
        for photo in photos:
            photo.destinations = [folder / f"{photo.name}_{choice.slug}{ext}" for choice in choices]
            photo.sheet = folder / f"{photo.name}_{sheet_suffix}{ext}" if sheet_suffix else None
    files = [path for photo in photos for path in photo.destinations + [photo.sheet] if path not in (None, STDIO)]
    if not overwrite:
        for path in files:
            if path.exists():
                raise UsageError(f"{path} exists; add --overwrite to replace it")
    for folder in dict.fromkeys(path.parent for path in files):
        check_writable(folder)


class Stylizer:
    """Stylizes batches of photos in every chosen style, writing files on threads while the network
    computes the next batch; prints one line (or JSON record) per photo with its compute time."""

    def __init__(self, network, style_names: list[str], choices: list[StyleChoice], device: torch.device,
                 dtype: torch.dtype, strength: float = 1.0, keep_color: bool = False,
                 sheet_columns: int = SHEET_COLUMNS, dump=None, json_records: bool = False, log=sys.stdout,
                 compile: bool = False, tile: int | None = None):
        self.style_names, self.choices, self.device, self.dtype = style_names, choices, device, dtype
        self.strength, self.keep_color, self.sheet_columns = strength, keep_color, sheet_columns
        self.json_records, self.log = json_records, log
        # channels-last (NHWC) speeds up cuDNN convolutions, in half precision above all.
        self.memory_format = torch.channels_last if device.type == "cuda" else torch.contiguous_format
        self.network = network.to(device, dtype, memory_format=self.memory_format)
        if compile:  # fuses padding, norm and activations around the convolutions; recompiles per image size
            self.network.compile(dynamic=False)
        self.style_weights = torch.stack([choice.weights for choice in choices]).to(device)  # [S, N]
        self.dump = dump  # an ActivationDump, or None
        self.tile = tile  # None: tiles of DEFAULT_TILE above AUTO_TILE_PIXELS; 0: never tile

    def tile_for(self, height: int, width: int) -> int | None:
        if self.tile is not None or self.dump:  # activation dumps record whole layers: never tiled
            return self.tile or None
        return DEFAULT_TILE if height * width > AUTO_TILE_PIXELS else None

    @torch.inference_mode()
    def run(self, photos: list[Photo], batches) -> tuple[int, list[str]]:
        """batches: lists of (photo index, image [3, H, W] or None, error or None). Returns (done, errors)."""
        started, done, errors = time.perf_counter(), 0, []
        pending = deque()
        with ThreadPoolExecutor(max_workers=2) as pool:
            def write(image: torch.Tensor, destination) -> None:
                pending.append(pool.submit(save_image, image, destination, OUTPUT_FORMATS))
                while len(pending) > PENDING_WRITES:  # bounded: compute waits for a slow disk
                    pending.popleft().result()

            for items in batches:
                by_size: dict[tuple, list] = {}
                for index, image, error in items:
                    if error is None:
                        by_size.setdefault(tuple(image.shape), []).append((photos[index], image))
                    else:
                        errors.append(error)
                        self.report({"input": photos[index].shown, "error": error}, f"skipping {error}", sys.stderr)
                for group in by_size.values():
                    self.stylize_group(group, write)
                    done += len(group)
            while pending:
                pending.popleft().result()
        seconds = time.perf_counter() - started
        if not self.json_records:
            print(f"{done} photo(s) in {seconds:.2f} s ({done / seconds:.2f} photos/s)", file=self.log)
        return done, errors

    def stylize_group(self, group: list, write) -> None:
        """Photos of one size in every chosen style, then their files, sheets and activation dumps."""
        start = time.perf_counter()
        originals = torch.stack([image for _, image in group]).to(self.device)  # [B, 3, H, W] fp32
        network_input = originals.to(self.dtype).contiguous(memory_format=self.memory_format)
        with self.dump.recording() if self.dump else nullcontext({}) as activations:
            tile = self.tile_for(*network_input.shape[-2:])
            images = stylize(self.network, network_input, self.style_weights, tile).float()  # [B, S, 3, H, W]
        if not torch.isfinite(images).all():
            raise NonFiniteOutputError("the network's output is not finite (NaN or infinity): its weights are "
                                       "broken, as after a diverged training run; retrain or use an earlier checkpoint")
        if self.keep_color:
            images = preserve_color(images, originals[:, None])
        images = blend(images, originals[:, None], self.strength).cpu()  # .cpu() waits for a GPU to finish
        seconds = (time.perf_counter() - start) / len(group)
        originals = originals.cpu()
        for b, (photo, _) in enumerate(group):
            for image, destination in zip(images[b], photo.destinations, strict=True):
                write(image, destination)
            if photo.sheet is not None:
                tiles = torch.cat([originals[b, None], images[b]])
                labels = ["photo"] + [choice.label for choice in self.choices]
                write(labelled_sheet(tiles, labels, self.sheet_columns), photo.sheet)
            if self.dump:
                rows = slice(b * len(self.choices), (b + 1) * len(self.choices))  # stylize() is photo-major
                self.dump.add(photo.name, originals[b], self.choices, images[b],
                              {layer: maps[rows] for layer, maps in activations.items()})
            self.report_photo(photo, originals.shape[-1], originals.shape[-2], seconds)

    def report_photo(self, photo: Photo, width: int, height: int, seconds: float) -> None:
        record = {
            "input": photo.shown, "width": width, "height": height, "seconds": round(seconds, 6),
            "device": self.device.type, "dtype": str(self.dtype).removeprefix("torch."),
            "outputs": [
                {"style": choice.label, "path": str(path),
                 "weights": named_weights(choice.weights, self.style_names)}
                for choice, path in zip(self.choices, photo.destinations, strict=True)
            ],
            "sheet": str(photo.sheet) if photo.sheet else None,
        }
        written = photo.destinations + ([photo.sheet] if photo.sheet else [])
        where = written[0] if len(written) == 1 else f"{Path(written[0]).parent}{os.sep}"
        self.report(record, f"{photo.shown} {width}x{height}: {len(written)} image(s) in {seconds * 1000:.1f} ms "
                            f"-> {where}", self.log)

    def report(self, record: dict, line: str, stream) -> None:
        if self.json_records:
            print(jsonfile.dumps(record), file=self.log, flush=True)
        else:
            print(line, file=stream, flush=True)
