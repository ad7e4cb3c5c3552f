import logging
import warnings
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import make_image
from nst_ff.io.images import ImageReadError, list_images, open_image, read_image
from nst_ff.train.data import ContentImages, DataError, StyleTransferDataModule, load_styles, resize_some_batches


def datamodule(content, styles, **kwargs):
    return StyleTransferDataModule(str(content), str(styles), image_size=32, style_size=32, batch_size=2,
                                   num_workers=0, **kwargs)


def test_content_is_found_recursively_in_every_format(image_dirs):
    content, styles = image_dirs
    (content / "notes.txt").write_text("not an image")
    dm = datamodule(content, styles)
    dm.prepare()
    assert len(dm.content_paths) == 6
    assert {p.suffix for p in dm.content_paths} == {".jpg", ".png", ".webp"}
    assert dm.style_names == ["alpha", "beta", "gamma"]
    assert min(dm.style_images[0].shape[1:]) == 32
    batch = next(iter(dm.train_dataloader()))
    assert batch.shape == (2, 3, 32, 32) and batch.dtype == torch.float32
    assert 0 <= batch.min() and batch.max() <= 1


def test_bad_content_files_are_skipped_counted_and_named(image_dirs, caplog):
    content, styles = image_dirs
    (content / "empty.jpg").write_bytes(b"")
    (content / "text.png").write_text("hello")
    dm = datamodule(content, styles)
    with caplog.at_level(logging.WARNING):
        dm.prepare()
    assert len(dm.content_paths) == 6
    (record,) = [r for r in caplog.records if "skipped" in r.getMessage()]
    message = record.getMessage()
    assert "skipped 2 unreadable file(s) of 8" in message
    assert "empty.jpg (empty file)" in message and "text.png" in message


def test_truncated_image_is_skipped_once_with_its_path(tmp_path, caplog):
    good = make_image(tmp_path / "good.jpg", size=(64, 64))
    data = make_image(tmp_path / "cut.jpg", size=(64, 64), seed=3).read_bytes()
    (tmp_path / "cut.jpg").write_bytes(data[: len(data) // 2])
    dataset = ContentImages([tmp_path / "cut.jpg", good], image_size=32)
    with caplog.at_level(logging.WARNING):
        first, again = dataset[0], dataset[0]
    assert first.shape == again.shape == (3, 32, 32)
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 1 and "cut.jpg" in messages[0]


def test_content_folder_without_usable_images_stops_before_training(tmp_path, image_dirs):
    _, styles = image_dirs
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "broken.jpg").write_bytes(b"\xff\xd8 nothing")
    with pytest.raises(DataError, match=f"content folder {tmp_path / 'empty'}: no usable images"):
        datamodule(tmp_path / "empty", styles).prepare()
    (tmp_path / "heic").mkdir()  # photos in a format it does not read: the message names the ones it does
    (tmp_path / "heic" / "IMG_0001.HEIC").write_bytes(b"\0\0\0\x18ftypheic")
    with pytest.raises(DataError, match=r"heic: no images \(looked for .jpg .jpeg .png .webp .bmp .tif .tiff\)"):
        datamodule(tmp_path / "heic", styles).prepare()
    with pytest.raises(DataError, match="nowhere: not a folder"):
        datamodule(tmp_path / "nowhere", styles).prepare()


def test_style_folder_without_images_or_with_a_bad_image_is_named(tmp_path, image_dirs):
    content, styles = image_dirs
    (tmp_path / "no_styles").mkdir()
    with pytest.raises(DataError, match=f"style folder {tmp_path / 'no_styles'}: no images"):
        datamodule(content, tmp_path / "no_styles").prepare()
    (styles / "delta.png").write_bytes(b"\x89PNG broken")
    with pytest.raises(DataError, match="delta.png"):
        datamodule(content, styles).prepare()


def test_styles_are_sorted_by_file_stem(tmp_path):
    for name in ["zeta", "Alpha", "mid"]:
        make_image(tmp_path / f"{name}.png")
    names, images = load_styles(tmp_path, 24)
    assert names == sorted(["zeta", "Alpha", "mid"], key=lambda n: f"{n}.png") and len(images) == 3


@pytest.mark.parametrize("mode", ["L", "CMYK", "P", "RGBA", "LA", "I;16"])
def test_every_mode_becomes_rgb(tmp_path, mode):
    path = tmp_path / f"image.{'jpg' if mode == 'CMYK' else 'png'}"
    if mode == "I;16":
        Image.fromarray(np.full((8, 8), 40000, dtype=np.uint16)).save(path)
    else:
        make_image(path, size=(8, 8), mode=mode)
    image = read_image(path)
    assert image.shape == (3, 8, 8) and image.dtype == torch.float32
    if mode == "I;16":  # 40000 / 65535 of full scale, not clipped to white
        assert torch.allclose(image, torch.full_like(image, 40000 / 65536), atol=2 / 255)


def test_transparent_pixels_become_white(tmp_path):
    Image.new("RGBA", (4, 4), (10, 20, 30, 0)).save(tmp_path / "clear.png")
    assert torch.equal(read_image(tmp_path / "clear.png"), torch.ones(3, 4, 4))


def test_exif_rotated_photo_is_read_upright(tmp_path):
    image = Image.new("RGB", (6, 4), (255, 0, 0))
    image.paste((0, 0, 255), (0, 0, 3, 4))  # left half blue
    exif = Image.Exif()
    exif[0x0112] = 6  # stored rotated: display after a 90 degree clockwise turn
    image.save(tmp_path / "rotated.jpg", exif=exif, quality=100)
    upright = read_image(tmp_path / "rotated.jpg")
    assert upright.shape == (3, 6, 4)
    assert upright[2, 0, 1] > 0.8 and upright[0, -1, 1] > 0.8  # blue on top, red below


@pytest.mark.parametrize("size", [(14000, 13000), (20000, 10000)])  # just above twice Pillow's limit, and more
def test_decompression_bomb_is_refused_with_a_message(tmp_path, size):
    Image.new("1", size).save(tmp_path / "bomb.png")  # ~180-200M pixels, a few hundred KB on disk
    with pytest.raises(ImageReadError, match=r"bomb\.png: .*decompression bomb"):
        read_image(tmp_path / "bomb.png")


def test_a_photo_above_pillows_warning_threshold_opens_without_a_warning(tmp_path):
    """A 95-megapixel photo (a medium-format camera's) is read, to be painted at a --size of the user's choice."""
    Image.new("1", (10000, 9500)).save(tmp_path / "large.png")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert open_image(tmp_path / "large.png").size == (10000, 9500)


def test_hidden_files_and_other_extensions_are_ignored(tmp_path):
    make_image(tmp_path / "a.JPG")
    make_image(tmp_path / ".hidden" / "b.png")
    make_image(tmp_path / "c.gif")
    make_image(tmp_path / "scans" / "d.tif")  # scanned paintings and photographers' exports
    make_image(tmp_path / "scans" / "e.TIFF")
    assert [p.relative_to(tmp_path).as_posix() for p in list_images(tmp_path)] == ["a.JPG", "scans/d.tif",
                                                                                  "scans/e.TIFF"]


def test_scale_jitter_shows_parts_of_a_photo_larger_and_grayscale_greys(tmp_path):
    halves = np.zeros((64, 64, 3), np.uint8)
    halves[:, 32:] = 255
    Image.fromarray(halves).save(tmp_path / "halves.png")
    plain = ContentImages([tmp_path / "halves.png"], image_size=32)
    assert {round(plain[0].mean().item(), 1) for _ in range(10)} == {0.5}  # the whole photo in every crop
    torch.manual_seed(0)
    jittered = ContentImages([tmp_path / "halves.png"], image_size=32, scale_jitter=2.0, grayscale=1.0)
    crops = [jittered[0] for _ in range(20)]
    assert all(crop.shape == (3, 32, 32) for crop in crops)
    assert max(abs(crop.mean().item() - 0.5) for crop in crops) > 0.2  # zoomed in: mostly one half
    colour = make_image(tmp_path / "colour.jpg", size=(48, 48))
    grey = ContentImages([colour], image_size=32, scale_jitter=1.5, grayscale=1.0)[0]
    assert torch.equal(grey[0], grey[1]) and torch.equal(grey[1], grey[2])


def sizes_over_steps(batch, half, double, seed=0, steps=40):
    return {tuple(resize_some_batches(batch, step, half, double, seed).shape) for step in range(steps)}


def test_half_size_shrinks_a_share_of_the_batches_to_half():
    batch = torch.rand(2, 3, 32, 32)
    assert sizes_over_steps(batch, 0.0, 0.0) == {(2, 3, 32, 32)}
    assert sizes_over_steps(batch, 0.5, 0.0) == {(2, 3, 32, 32), (2, 3, 16, 16)}
    assert sizes_over_steps(batch, 1.0, 0.0) == {(2, 3, 16, 16)}
    shrunk = resize_some_batches(batch, 0, 1.0, 0.0)
    assert 0 <= shrunk.min() and shrunk.max() <= 1


def test_double_size_keeps_a_share_of_the_batches_at_twice_the_size(image_dirs):
    content, styles = image_dirs
    module = datamodule(content, styles, half_size=0.25, double_size=0.5)
    module.prepare()
    loaded = {tuple(batch.shape) for batch in module.train_dataloader()}
    assert loaded == {(2, 3, 64, 64)}  # photos cropped at twice the size, brought down after the transfer
    assert sizes_over_steps(torch.rand(2, 3, 64, 64), 0.25, 0.5) == {(2, 3, 64, 64), (2, 3, 32, 32), (2, 3, 16, 16)}
    assert sizes_over_steps(torch.rand(2, 3, 64, 64), 0.0, 1.0) == {(2, 3, 64, 64)}


def test_every_rank_draws_the_same_batch_size_at_a_step():
    batch = torch.rand(2, 3, 32, 32)

    def sizes(seed, global_seed):
        torch.manual_seed(global_seed)  # each rank's own random state (its loader workers', its model's)
        return [resize_some_batches(batch, step, 0.5, 0.0, seed).shape[-1] for step in range(40)]

    assert sizes(7, 0) == sizes(7, 1)  # the same run on two ranks, and the same run resumed
    assert sizes(7, 0) != sizes(8, 0)  # another seed, another sequence


def test_the_datamodule_resizes_training_batches_only(image_dirs):
    content, styles = image_dirs
    module = datamodule(content, styles, half_size=1.0)
    batch = torch.rand(2, 3, 32, 32)
    assert module.on_after_batch_transfer(batch, 0) is batch  # no trainer: as loaded
    module.trainer = SimpleNamespace(training=True, global_step=3)
    assert module.on_after_batch_transfer(batch, 0).shape == (2, 3, 16, 16)
    module.trainer = SimpleNamespace(training=False, global_step=3)
    assert module.on_after_batch_transfer(batch, 0) is batch
