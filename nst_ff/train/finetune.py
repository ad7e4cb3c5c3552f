"""Training from a trained network. Fine-tuning (finetune_from): new styles added to it by training only their
conditional instance norm rows (Magenta's image_stylization_finetune), so the styles it already has keep their exact
outputs. Training on (init_from): all of its weights, for its own styles, as the start of a fresh run."""

from dataclasses import dataclass

import torch

from nst_ff.model.checkpoint import CheckpointError, load_checkpoint
from nst_ff.model.transformer import StyleTransferNetwork
from nst_ff.train.settings import SettingsError


@dataclass
class Base:
    """The trained network that fine-tuning starts from."""

    path: str
    network: StyleTransferNetwork
    style_names: list[str]
    thumbnails: list[torch.Tensor] | None
    style_scales: dict[str, float]  # of its loss, for the styles it keeps


def read_base(path: str, key: str = "finetune_from") -> Base:
    try:
        network, style_names, info = load_checkpoint(path)
    except CheckpointError as error:
        raise SettingsError(f"{key}={path}: {error}") from None
    return Base(str(path), network, style_names, info.get("thumbnails"), info.get("loss", {}).get("style_scales", {}))


def _check_architecture(base: Base, network: StyleTransferNetwork, key: str) -> None:
    wanted = {k: v for k, v in network.constructor_args().items() if k != "num_styles"}
    trained = {k: v for k, v in base.network.constructor_args().items() if k != "num_styles"}
    if wanted != trained:
        raise SettingsError(f"{key}={base.path}: its network {trained} differs from this run's {wanted} "
                            "(train with the model settings it was trained with)")


def start_from(base: Base, network: StyleTransferNetwork, style_names: list[str]) -> None:
    """Copies all of the base's weights into `network`, built for the run's styles, which must be the base's own:
    a gamma/beta row trained for one painting would start another from the wrong place."""
    if base.style_names != style_names:
        raise SettingsError(f"init_from={base.path}: its styles {base.style_names} differ from this run's "
                            f"{style_names} (to add styles to it, use finetune_from)")
    _check_architecture(base, network, "init_from")
    network.load_state_dict(base.network.state_dict())


def add_styles(base: Base, network: StyleTransferNetwork, new_names: list[str]) -> None:
    """Copies the base's weights into `network` (built for the base's styles then `new_names`) and starts each
    new style's gamma/beta rows at the mean of the trained rows: an average of the styles it already paints,
    which is nearer any new painting than the untrained identity (gamma 1, beta 0) is."""
    taken = sorted(set(base.style_names) & set(new_names))
    if taken:
        raise SettingsError(f"finetune_from={base.path} already has the style(s) {', '.join(taken)}: rename those "
                            "images in data.style_dir or leave them out")
    _check_architecture(base, network, "finetune_from")
    old = len(base.style_names)
    tables = {id(table) for table in network.style_tables()}
    with torch.no_grad():  # the same architecture: parameters in the same order
        for parameter, source in zip(network.parameters(), base.network.parameters(), strict=True):
            if id(parameter) in tables:  # [old + new, C] from [old, C]
                parameter[:old] = source
                parameter[old:] = source.mean(dim=0)
            else:
                parameter.copy_(source)


def freeze_all_but_new_styles(network: StyleTransferNetwork, frozen_styles: int) -> None:
    """Only the rows after the first `frozen_styles` of each gamma/beta table learn: the shared weights get no
    gradient at all, the old rows a zero one (so Adam leaves them bit-identical), whatever mixes a step uses."""
    tables = network.style_tables()
    for parameter in network.parameters():
        parameter.requires_grad_(any(parameter is table for table in tables))
    old_rows = torch.arange(frozen_styles)
    for table in tables:
        table.register_hook(lambda grad: grad.index_fill(0, old_rows.to(grad.device), 0))
