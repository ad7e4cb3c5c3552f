"""A frozen torchvision VGG addressed by layer name (`relu3_3`), normalising [0, 1] RGB inside."""

import os
from collections.abc import Iterable

import torch
import torchvision
from torch import nn
from torchvision.models import vgg as vgg_models

from nst_ff.errors import NstError, UsageError
from nst_ff.io.tensors import UnreadableFile, load_tensors

CONFIGS = {"vgg16": "D", "vgg19": "E"}  # torchvision's layer tables for each architecture
# torchvision's ImageNet statistics: both torchvision's weights and ../shared/assets/vgg expect them.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class VGGWeightsError(NstError, RuntimeError):
    pass


def layer_names(features: nn.Sequential) -> list[str]:
    """Names of every layer of a torchvision VGG `features`: conv1_1, relu1_1, ..., pool1, conv2_1, ..."""
    names, block, index = [], 1, 1
    for layer in features:
        if isinstance(layer, nn.Conv2d):
            names.append(f"conv{block}_{index}")
        elif isinstance(layer, nn.ReLU):
            names.append(f"relu{block}_{index}")
            index += 1
        else:
            names.append(f"pool{block}")
            block, index = block + 1, 1
    return names


def layer_channels(arch: str) -> dict[str, int]:
    """{layer name: output channels} of a VGG's features, read from torchvision's layer table (nothing built)."""
    channels, block, index = {}, 1, 1
    for entry in vgg_models.cfgs[CONFIGS[arch]]:
        if entry == "M":
            channels[f"pool{block}"] = channels[f"relu{block}_{index - 1}"]
            block, index = block + 1, 1
        else:
            channels[f"conv{block}_{index}"] = channels[f"relu{block}_{index}"] = entry
            index += 1
    return channels


def _features(arch: str) -> nn.Sequential:
    # Only the convolutional part: building torchvision's whole VGG would also allocate and initialise
    # its 120M-parameter classifier, seconds and half a gigabyte for nothing.
    return vgg_models.make_layers(vgg_models.cfgs[CONFIGS[arch]])


def _load_weights(arch: str, weights: str) -> nn.Sequential:
    features = _features(arch)
    if weights == "random":
        return features
    if weights == "imagenet":
        try:
            state = torchvision.models.get_weight(f"{arch.upper()}_Weights.IMAGENET1K_V1").get_state_dict()
        except (OSError, RuntimeError) as error:  # URLError is an OSError; no network, proxy, disk full...
            raise VGGWeightsError(
                f"could not download torchvision's ImageNet {arch} weights ({error}); "
                f"set loss.vgg.weights (or NST_FF_VGG_WEIGHTS) to a local state dict file, "
                f"or to 'random' for tests"
            ) from None
    elif not os.path.isfile(weights):
        raise VGGWeightsError(f"VGG weights file not found: {weights} (expected a path, 'imagenet' or 'random')")
    else:
        try:
            state = load_tensors(weights)
        except UnreadableFile as error:
            raise VGGWeightsError(f"could not read VGG weights from {weights}: {error}") from None
        if not isinstance(state, dict):
            raise VGGWeightsError(f"{weights} holds a {type(state).__name__}, not a state dict of {arch} weights")
    # A whole torchvision VGG state dict carries `features.` and `classifier.` keys; keep the former.
    if any(key.startswith("features.") for key in state):
        state = {key.removeprefix("features."): value for key, value in state.items() if key.startswith("features.")}
    try:
        features.load_state_dict(state)
    except RuntimeError as error:
        # torch lists every missing or unexpected key, one paragraph each: the first of them is enough to act on
        lines = [line.strip() for line in str(error).splitlines()[1:] if line.strip()]
        detail = lines[0] if lines else str(error)
        detail = detail if len(detail) <= 160 else detail[:160] + " ..."
        raise VGGWeightsError(f"{weights} does not hold {arch} feature weights ({detail})") from None
    return features


class VGGFeatures(nn.Module):
    """Returns {name: activation} for the requested layers; the network is cut after the deepest one."""

    def __init__(self, layers: Iterable[str], arch: str = "vgg16", weights: str = "imagenet"):
        super().__init__()
        if arch not in CONFIGS:
            raise UsageError(f"unknown VGG architecture {arch!r}; choose one of {', '.join(CONFIGS)}")
        features = _load_weights(arch, str(weights))
        names = layer_names(features)
        self.layers = list(dict.fromkeys(layers))
        unknown = [name for name in self.layers if name not in names]
        if unknown:
            raise UsageError(f"unknown {arch} layer(s) {', '.join(unknown)}; available: {', '.join(names)}")
        depth = max(names.index(name) for name in self.layers) + 1
        for layer in features:
            if isinstance(layer, nn.ReLU):
                layer.inplace = False  # an in-place ReLU would overwrite the conv output we may return
        self.features = features[:depth]
        self.names = names[:depth]
        self.requires_grad_(False)
        self.eval()
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def train(self, mode: bool = True):
        return super().train(False)  # frozen: always in eval mode, whatever the parent asks

    def forward(self, images: torch.Tensor, layers: Iterable[str] | None = None) -> dict[str, torch.Tensor]:
        """{name: [B, C, h, w]} for `layers` (default: all requested at construction); stops after the
        deepest one, so content features at relu3_3 skip the relu4_* convolutions."""
        wanted = set(self.layers if layers is None else layers)
        x = (images - self.mean) / self.std
        out = {}
        for name, layer in zip(self.names, self.features, strict=True):
            x = layer(x)
            if name in wanted:
                out[name] = x
                if len(out) == len(wanted):
                    break
        return out
