import math
import os
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_dir
from PIL import Image
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from nst_ff.io.config import pin_environment

ROOT = Path(__file__).resolve().parents[1]
# NST_FF_VGG_WEIGHTS as typed names a file in the directory pytest started in, for every subprocess whatever its cwd.
pin_environment()
# A .ckpt/.pt stays in PyTorch (the tests compare its outputs exactly); test_openvino_default.py turns the cached
# OpenVINO export on with a cache of its own.
os.environ["NST_FF_EXPORT_CACHE"] = "off"


def styled_network(num_styles=3, alpha=1.0, seed=0):
    """A network whose styles differ visibly: random CIN tables instead of the identity initialisation."""
    from nst_ff.model.transformer import StyleTransferNetwork

    torch.manual_seed(seed)
    network = StyleTransferNetwork(num_styles, alpha)
    for name, parameter in network.named_parameters():
        if name.endswith("gamma"):
            torch.nn.init.normal_(parameter, 1.0, 0.5)
        elif name.endswith("beta"):
            torch.nn.init.normal_(parameter, 0.0, 0.5)
    return network.eval()


def make_image(path: Path, size=(48, 40), seed=0, mode="RGB") -> Path:
    """A smooth random colour image (noise plus gradients), so VGG features and Grams are non-trivial."""
    rng = np.random.default_rng(seed)
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    base = rng.uniform(0, 1, 3)[None, None] * np.stack([xx, yy, 1 - xx], -1)
    pixels = np.clip(base + 0.3 * rng.uniform(-1, 1, (h, w, 3)), 0, 1)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray((pixels * 255).astype(np.uint8)).convert(mode).save(path)
    return path


@pytest.fixture
def image_dirs(tmp_path) -> tuple[Path, Path]:
    """A content folder (nested, mixed formats) with 6 photos and a style folder with 3 styles."""
    content, styles = tmp_path / "content", tmp_path / "styles"
    for i in range(6):
        make_image(content / ("sub" if i % 2 else "") / f"photo{i}.{['jpg', 'png', 'webp'][i % 3]}", seed=i)
    for i, name in enumerate(["alpha", "beta", "gamma"]):
        make_image(styles / f"{name}.jpg", size=(40, 56), seed=100 + i)
    return content, styles


def train_overrides(tmp_path: Path, content: Path, styles: Path, steps: int = 3) -> list[str]:
    """Hydra overrides for a tiny, fast, offline run writing only under tmp_path."""
    return [
        f"data.content_dir={content}",
        f"data.style_dir={styles}",
        "data.image_size=32",
        "data.style_size=32",
        "data.batch_size=2",
        "data.num_workers=0",
        "data.grid_images=2",
        "loss.vgg.weights=random",
        "quality.vgg_weights=random",
        f"trainer.max_steps={steps}",
        "trainer.log_every_n_steps=1",
        "trainer.enable_progress_bar=false",
        "run_name=test",
        f"checkpoint.dir={tmp_path / 'ckpt'}",
        "checkpoint.every_n_steps=1",
        f"logging.dir={tmp_path / 'runs'}",
        "logging.image_every_n_steps=2",
    ]


def run_train(overrides: list[str], cwd: Path, timeout=300, hydra_dir: Path | None = None,
              **kwargs) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, str(ROOT / "train.py"), *overrides, f"hydra.run.dir={hydra_dir or cwd / 'hydra'}"],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, **kwargs,
    )


def read_events(logdir):
    events = EventAccumulator(str(logdir), size_guidance={"images": 0, "scalars": 0})
    events.Reload()
    return events


def train_in_process(overrides: list[str]):
    from nst_ff.train.training import train  # Lightning loads only for the tests that train
    with initialize_config_dir(str(ROOT / "conf"), version_base="1.3"):
        return train(compose("train", overrides=overrides))


def step_of(path) -> int:
    return torch.load(path, weights_only=True)["global_step"]


def pytest_collection_modifyitems(items):
    """Each test is marked by its folder: unit (in this process, random VGG, no training run) or e2e (training runs,
    commands as a user types them, subprocesses, the wheel, the browser, real VGG weights)."""
    for item in items:
        if item.path.parent.name in ("unit", "e2e"):
            item.add_marker(item.path.parent.name)
    # OpenVINO's runtime, once loaded, crashes this long process later (a segfault in a --compile test after
    # it; each passes alone and in pairs): the tests that load it run last.
    items.sort(key=lambda item: "openvino" in item.nodeid.lower())


SAMPLE_RATE = 16000


def scene(width: int, height: int, shift: float = 0.0) -> np.ndarray:
    """A smooth colourful picture [H, W, 3] uint8, moved `shift` pixels to the left (a pan)."""
    yy, xx = np.mgrid[0:height, 0:width].astype(float)
    xx = xx + shift
    pixels = np.stack([np.sin(xx / 7) + np.cos(yy / 5), np.sin((xx + yy) / 9), np.cos(xx / 4 - yy / 11)], -1)
    return ((pixels - pixels.min()) / np.ptp(pixels) * 255).astype(np.uint8)


def make_clip(path: Path, frames: int = 12, size=(64, 48), rate=24, audio=True, rotation=0, pan=0.0,
              pts=None) -> Path:
    """A clip of `frames` frames panning `pan` px per frame, with a 440 Hz sine tone; `pts` for a variable rate."""
    import av  # the video extra: only the video tests make clips

    width, height = size
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=rate)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.codec_context.time_base = Fraction(1, 1000 * rate)
        if rotation:
            stream.set_display_rotation(rotation)
        tone = container.add_stream("aac", rate=SAMPLE_RATE) if audio else None
        if tone:
            tone.layout = "mono"
        for i in range(frames):
            frame = av.VideoFrame.from_ndarray(scene(width, height, i * pan), format="rgb24")
            frame.pts = pts[i] if pts else i * 1000
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
        if tone:
            seconds = frames / rate
            samples = np.sin(np.arange(int(seconds * SAMPLE_RATE)) * 2 * math.pi * 440 / SAMPLE_RATE)
            sound = av.AudioFrame.from_ndarray(samples.astype(np.float32)[None], format="fltp", layout="mono")
            sound.sample_rate, sound.pts = SAMPLE_RATE, 0
            container.mux(tone.encode(sound))
            container.mux(tone.encode())
    return path
