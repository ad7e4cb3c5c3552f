"""Stylizing: photos through the network in every chosen style (whole, or in tiles for large images), the
photo's colours kept if asked, strength blending, and the Stylizer that runs batches while files are written
on threads alongside, reporting each photo's compute time."""

import os
import sys
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import torch

from nst_ff.errors import NstError
from nst_ff.infer.photos import OUTPUT_FORMATS, Photo
from nst_ff.infer.stroke import stroke_scaled
from nst_ff.infer.styles import StyleChoice, named_weights
from nst_ff.infer.tiling import AUTO_TILE_PIXELS, DEFAULT_TILE, tiled_forward
from nst_ff.io import jsonfile
from nst_ff.io.images import SHEET_COLUMNS, labelled_sheet, save_image

PENDING_WRITES = 8  # finished images waiting for the writer threads before compute waits for them
# ITU-R BT.601 RGB <-> YCbCr (JPEG's full-range variant); only luminance Y is taken from the stylized image.
RGB_TO_YCBCR = torch.tensor([[0.299, 0.587, 0.114], [-0.168736, -0.331264, 0.5], [0.5, -0.418688, -0.081312]])
YCBCR_TO_RGB = torch.linalg.inv(RGB_TO_YCBCR)
# Instance norm makes the network blind to a photo's brightness: a frame at 2 % of its light paints as brightly as
# the frame itself, its 8-bit noise blown up into blocks, and a black frame paints a flat colour that each runtime
# rounds differently, so a video's fade to black vanishes and ends in a jump. Photos darker than this mean
# luminance have their painting dimmed in proportion: fades end in black, and black stays black. Every photo
# measured sits above it (the darkest of 128 COCO photos: 0.098; the Hubble deep field: 0.076); a still as dark,
# a night sky, is painted as dark as it is, bright parts included.
DARK_LUMA = 0.06


class NonFiniteOutputError(NstError, ValueError):
    """The network painted NaN or infinity: its weights are broken (a diverged training run)."""


def stylize(network, photos: torch.Tensor, style_weights: torch.Tensor, tile: int | None = None,
            stroke_scale: float = 1.0) -> torch.Tensor:
    """Photos [B, 3, H, W] in every style row of `style_weights` [S, N] -> [B, S, 3, H, W]: in one pass, or
    with `tile`, one image at a time in tiles of that many pixels (bounded memory, same result); strokes
    `stroke_scale` times the size the network learned (nst_ff.infer.stroke); the painting of a photo darker than
    DARK_LUMA dimmed with it (dim_dark), any other exactly the network's."""
    painted = stroke_scaled(lambda images: _paint(network, images, style_weights, tile), photos, stroke_scale)
    return dim_dark(painted, photos)


def dim_dark(painted: torch.Tensor, photos: torch.Tensor) -> torch.Tensor:
    """painted [B, S, 3, H, W] times min(1, mean luminance / DARK_LUMA) of each photo [B, 3, H, W]."""
    luma = photos.mean((-2, -1), dtype=torch.float32) @ RGB_TO_YCBCR[0].to(photos.device)  # [B]
    gain = (luma / DARK_LUMA).clamp(max=1)
    if bool((gain == 1).all()):  # the usual case: no copy of what may be a dozen styles of a large photo
        return painted
    return painted * gain.view(-1, 1, 1, 1, 1).to(painted.dtype)


def _paint(network, photos: torch.Tensor, style_weights: torch.Tensor, tile: int | None) -> torch.Tensor:
    if tile:
        network = getattr(network, "torch_network", network)  # a cached export tiles with its PyTorch network
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


@dataclass(frozen=True)
class Painting:
    """How each output is painted: blended with the photo (`strength`), in the photo's colours, in tiles of
    `tile` pixels (None: above AUTO_TILE_PIXELS only; 0: never), with strokes `stroke_scale` times larger."""

    strength: float = 1.0
    keep_color: bool = False
    tile: int | None = None
    stroke_scale: float = 1.0


@dataclass
class Report:
    """What a run writes besides the images: labelled sheets of `sheet_columns`, activation dumps (an
    ActivationDump or None), and one line or JSON record per photo on `log`."""

    sheet_columns: int = SHEET_COLUMNS
    dump: object = None
    json_records: bool = False
    log: TextIO = sys.stdout


class Stylizer:
    """Stylizes batches of photos in every chosen style, writing files on threads while the network
    computes the next batch; prints one line (or JSON record) per photo with its compute time."""

    def __init__(self, network, style_names: list[str], choices: list[StyleChoice], device: torch.device,
                 dtype: torch.dtype, painting: Painting = Painting(), report: Report | None = None,
                 compile: bool = False):
        self.style_names, self.choices, self.device, self.dtype = style_names, choices, device, dtype
        report = report or Report()
        self.strength, self.keep_color = painting.strength, painting.keep_color
        self.tile, self.stroke_scale = painting.tile, painting.stroke_scale
        self.sheet_columns, self.dump, self.json_records, self.log = (report.sheet_columns, report.dump,
                                                                       report.json_records, report.log)
        # channels-last (NHWC) speeds up cuDNN convolutions, in half precision above all.
        self.memory_format = torch.channels_last if device.type == "cuda" else torch.contiguous_format
        self.network = network.to(device, dtype, memory_format=self.memory_format)
        if compile:  # fuses padding, norm and activations around the convolutions; recompiles per image size
            self.network.compile(dynamic=False)
        self.style_weights = torch.stack([choice.weights for choice in choices]).to(device)  # [S, N]

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
            images = stylize(self.network, network_input, self.style_weights, tile, self.stroke_scale)
        images = images.float()  # [B, S, 3, H, W]
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
