"""Where a training step's time goes, for nst_ff and for fast_neural_style's own step on the same batch (size,
VGG16 layers, Adam): network forward, loss (VGG forward and Grams), backward, optimiser; and the data pipeline
alone (photos decoded, resized and cropped per second in one process, i.e. per loader worker).
Plain loops, no Lightning: the phases are timed one by one (on the CPU every call is synchronous)."""

import time

import torch
import torchvision
from fast_neural_style_peer import PeerLoss, TransformerNet

from nst_ff.io.config import loss_config
from nst_ff.loss.perceptual import PerceptualLoss
from nst_ff.model.transformer import StyleTransferNetwork, one_hot
from nst_ff.train.data import ContentImages

PHASES = ("network", "loss", "backward", "optimizer")


def nst_ff_step(style_images: list[torch.Tensor], vgg_weights: str, bf16: bool = False):
    """(step function of a batch, returning {phase: seconds}): nst_ff's network and loss, each photo a random style;
    `bf16`: forward and loss under bf16 autocast, as Lightning's bf16-mixed runs them."""
    network = StyleTransferNetwork(len(style_images)).train()
    loss = PerceptualLoss(**loss_config(vgg_weights=vgg_weights))
    loss.set_style_targets(style_images)
    optimizer = torch.optim.Adam(network.parameters(), lr=1e-3)

    def step(images):
        weights = one_hot(torch.randint(len(style_images), (len(images),)), len(style_images))
        return timed_phases(lambda: network(images, weights), lambda out: loss(out, images, weights)["total"],
                            optimizer, bf16)

    return step


def peer_step(style_image: torch.Tensor, vgg_weights: str, bf16: bool = False):
    """The same for fast_neural_style: one style, its 0-255 scale, its loss weights (its own script: float32)."""
    network = TransformerNet().train()
    loss = PeerLoss(vgg16_features(vgg_weights), style_image)
    optimizer = torch.optim.Adam(network.parameters(), lr=1e-3)

    def step(images):
        return timed_phases(lambda: network(images * 255), lambda out: loss(out, images * 255), optimizer, bf16)

    return step


def vgg16_features(weights: str) -> torch.nn.Sequential:
    """torchvision's VGG16 features: random, torchvision's ImageNet weights, or a state-dict file."""
    if weights == "imagenet":
        return torchvision.models.vgg16(weights="IMAGENET1K_V1").features
    features = torchvision.models.vgg16().features
    if weights != "random":
        features.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
    return features


def timed_phases(forward, loss_of, optimizer, bf16: bool = False) -> dict[str, float]:
    times, start = {}, time.perf_counter()
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        out = forward()
        times["network"] = time.perf_counter() - start
        total = loss_of(out)
        times["loss"] = time.perf_counter() - start - times["network"]
    total.backward()
    times["backward"] = time.perf_counter() - start - times["network"] - times["loss"]
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    times["optimizer"] = time.perf_counter() - start - sum(times.values())
    return times


def breakdown(step, batches: list[torch.Tensor], warmup: int) -> dict[str, float]:
    """Mean ms per phase and in all over the batches after the first `warmup`."""
    rows = [step(images) for images in batches][warmup:]
    means = {phase: 1000 * sum(row[phase] for row in rows) / len(rows) for phase in PHASES}
    return {**means, "total": sum(means.values())}


def data_rate(paths, size: int, count: int) -> float:
    """Photos per second that one process decodes, resizes and randomly crops, as a loader worker does."""
    dataset = ContentImages(paths, size)
    start = time.perf_counter()
    for index in range(count):
        dataset[index % len(dataset)]
    return count / (time.perf_counter() - start)
