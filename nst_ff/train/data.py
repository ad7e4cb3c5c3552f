"""Content photos (a COCO-style folder) and style paintings (one image per style) for training."""

import logging
import os
import signal
from pathlib import Path

import lightning as L
import torch
import torch.nn.functional as F
from lightning.fabric.utilities.seed import pl_worker_init_function
from PIL import Image
from torch.utils.data import DataLoader, Dataset, RandomSampler
from torchvision.transforms import v2

from nst_ff.errors import NstError
from nst_ff.io.images import IMAGE_EXTENSIONS, ImageReadError, list_images, read_image, resize_shorter
from nst_ff.io.paths import names_problem

log = logging.getLogger(__name__)


class DataError(NstError, ValueError):
    """A content or style folder that training cannot start from; the message names the path."""


def scan_images(folder: str | os.PathLike, recursive: bool = True) -> tuple[list[Path], list[str]]:
    """Image paths whose header Pillow can read, and one line per file it cannot."""
    if not Path(folder).is_dir():
        raise DataError(f"content folder {folder}: not a folder")
    usable, skipped = [], []
    for path in list_images(folder, recursive):
        try:
            with Image.open(path):
                usable.append(path)
        except Exception as error:  # zero-byte, non-image, permission denied...
            skipped.append(f"{path} ({'empty file' if path.stat().st_size == 0 else type(error).__name__})")
    return usable, skipped


def load_styles(style_dir: str | os.PathLike, style_size: int) -> tuple[list[str], list[torch.Tensor]]:
    """Style names (file stems, sorted) and images [3, H, W] with the shorter side at `style_size`."""
    paths = list_images(style_dir, recursive=False) if Path(style_dir).is_dir() else None
    if paths is None:
        raise DataError(f"style folder {style_dir}: not a folder")
    if not paths:
        raise DataError(f"style folder {style_dir}: no images (looked for {' '.join(IMAGE_EXTENSIONS)})")
    names = [path.stem for path in paths]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise DataError(f"style folder {style_dir}: several files for style(s) {', '.join(duplicates)}")
    problem = names_problem(names)  # the names go into checkpoints, then into file names
    if problem:
        raise DataError(f"style folder {style_dir}: {problem}; rename the file")
    try:
        images = [resize_shorter(read_image(path), style_size) for path in paths]
    except ImageReadError as error:
        raise DataError(f"style image {error}") from None
    return names, images


class ContentImages(Dataset):
    """Photos resized on the shorter side then cropped to a square; files that fail to decode are
    replaced by the next photo and reported once (per worker) with their path.

    With `scale_jitter` s > 1 the shorter side is drawn from [image_size, s * image_size] before the crop, so the
    network also sees objects larger than the crop, as it does when it paints a photo at twice its training size;
    `grayscale` is the probability of a greyscale photo (old photos, night shots)."""

    def __init__(self, paths: list[Path], image_size: int, random_crop: bool = True, scale_jitter: float = 1.0,
                 grayscale: float = 0.0):
        self.paths = paths
        if random_crop:
            largest = max(image_size, round(image_size * scale_jitter))
            steps = [v2.RandomResize(image_size, largest + 1, antialias=True), v2.RandomCrop(image_size)]
            steps += [v2.RandomGrayscale(grayscale)] if grayscale > 0 else []
        else:
            steps = [v2.Resize(image_size, antialias=True), v2.CenterCrop(image_size)]
        self.transform = v2.Compose(steps)
        self.reported: set[Path] = set()

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> torch.Tensor:
        for offset in range(len(self.paths)):
            path = self.paths[(index + offset) % len(self.paths)]
            try:
                return self.transform(read_image(path))  # [3, S, S]
            except ImageReadError as error:
                if path not in self.reported:
                    self.reported.add(path)
                    log.warning("skipping content image %s", error)
        raise DataError("no content image could be decoded")


def resize_some_batches(batch: torch.Tensor, step: int, half: float, double: float, seed: int = 0) -> torch.Tensor:
    """Photos [B, 3, S, S], loaded at twice the training size when `double` > 0: keeps a share `double` of the
    batches at that size, shrinks a share `half` to half the training size and the rest to the training size, so
    that the network also learns the scale of a photo painted at half or twice its training size (a 128- or 512-px
    photo of a network trained at 256 px, whose objects are half or twice as large). A batch at twice the size is a
    photo resized to twice the size and cropped, not an upsampled training crop.

    The size is drawn from (seed, step) alone: every rank of a multi-GPU run draws the same one, so that no step
    waits for a rank that drew a larger batch, and a resumed run draws the sizes it would have drawn."""
    if not (half or double):
        return batch
    draw = torch.rand((), generator=torch.Generator().manual_seed(seed * 1_000_003 + step)).item()
    size = 2.0 if draw < double else 0.5 if draw < double + half else 1.0  # x the training size
    factor = size / (2 if double else 1)  # of the loaded crops
    if factor == 1:
        return batch
    return F.interpolate(batch, scale_factor=factor, mode="bilinear", antialias=True).clamp(0, 1)


class StyleTransferDataModule(L.LightningDataModule):
    """Content loaders plus the style images; `prepare` checks both folders before training starts."""

    def __init__(
        self,
        content_dir: str,
        style_dir: str,
        image_size: int = 256,
        style_size: int = 256,
        batch_size: int = 16,
        num_workers: int = 4,
        grid_images: int = 3,
        scale_jitter: float = 1.0,
        grayscale: float = 0.0,
        half_size: float = 0.0,
        double_size: float = 0.0,
    ):
        super().__init__()
        self.content_dir = content_dir
        self.style_dir = style_dir
        self.image_size = image_size
        self.style_size = style_size
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.grid_images = grid_images
        self.scale_jitter = scale_jitter
        self.grayscale = grayscale
        self.half_size = half_size
        self.double_size = double_size
        self.content_paths: list[Path] = []
        self.style_names: list[str] = []
        self.style_images: list[torch.Tensor] = []

    def prepare(self) -> None:
        """Scan the content folder and load the styles; raises DataError naming the bad path."""
        paths, skipped = scan_images(self.content_dir)
        if skipped:
            log.warning(
                "skipped %d unreadable file(s) of %d under %s: %s",
                len(skipped), len(paths) + len(skipped), self.content_dir, "; ".join(skipped),
            )
        if not paths:
            found = "no usable images" if skipped else f"no images (looked for {' '.join(IMAGE_EXTENSIONS)})"
            raise DataError(f"content folder {self.content_dir}: {found}")
        self.content_paths = paths
        self.style_names, self.style_images = load_styles(self.style_dir, self.style_size)

    def grid_contents(self) -> torch.Tensor:
        """A few fixed, centre-cropped photos [K, 3, S, S] to stylize in every style for TensorBoard."""
        images = ContentImages(self.content_paths[: self.grid_images], self.image_size, random_crop=False)
        return torch.stack([images[i] for i in range(len(images))])

    def train_dataloader(self) -> DataLoader:
        crop = self.image_size * (2 if self.double_size else 1)  # resize_some_batches brings most batches down
        photos = ContentImages(self.content_paths, crop, scale_jitter=self.scale_jitter, grayscale=self.grayscale)
        # One epoch spans the whole run, shuffled passes over the photos back to back, so that progress
        # is counted in optimisation steps of trainer.max_steps rather than in passes over a few photos.
        trainer = self.trainer
        steps = trainer.max_steps if trainer is not None and trainer.max_steps > 0 else 0
        samples = steps * trainer.accumulate_grad_batches * trainer.world_size * self.batch_size if steps else None
        return DataLoader(
            photos,
            batch_size=self.batch_size,
            sampler=RandomSampler(photos, num_samples=samples),
            drop_last=len(self.content_paths) >= self.batch_size,
            num_workers=self.num_workers,
            pin_memory=torch.cuda.is_available(),
            persistent_workers=self.num_workers > 0,
            worker_init_fn=_worker_init,
        )

    def on_after_batch_transfer(self, batch: torch.Tensor, dataloader_idx: int) -> torch.Tensor:
        # on the device the batch is trained on, after the transfer: a GPU shrinks it, not the loader's CPU
        if self.trainer is None or not self.trainer.training:
            return batch
        seed = int(os.environ.get("PL_GLOBAL_SEED", 0))  # set by seed_everything, the same on every rank
        return resize_some_batches(batch, self.trainer.global_step, self.half_size, self.double_size, seed)


def _worker_init(worker_id: int) -> None:
    # Ctrl-C reaches the loader processes too, and so does a SIGTERM sent to the whole job (SLURM's scancel or
    # time limit, pkill): the main process alone decides how training stops, and ends its workers itself
    # (a worker left behind exits by itself once the main process is gone).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    pl_worker_init_function(worker_id)  # what Lightning installs when a loader has no init function
