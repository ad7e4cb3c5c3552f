"""Fine-tuning: new styles added to a trained network by training only their conditional instance norm rows
(Magenta's image_stylization_finetune), so the styles it already has keep their exact outputs."""

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


def read_base(path: str) -> Base:
    try:
        network, style_names, info = load_checkpoint(path)
    except CheckpointError as error:
        raise SettingsError(f"finetune_from={path}: {error}") from None
    return Base(str(path), network, style_names, info.get("thumbnails"))


def add_styles(base: Base, network: StyleTransferNetwork, new_names: list[str]) -> None:
    """Copies the base's weights into `network` (built for the base's styles then `new_names`) and starts each
    new style's gamma/beta rows at the mean of the trained rows: an average of the styles it already paints,
    which is nearer any new painting than the untrained identity (gamma 1, beta 0) is."""
    taken = sorted(set(base.style_names) & set(new_names))
    if taken:
        raise SettingsError(f"finetune_from={base.path} already has the style(s) {', '.join(taken)}: rename those "
                            "images in data.style_dir or leave them out")
    wanted = {k: v for k, v in network.constructor_args().items() if k != "num_styles"}
    trained = {k: v for k, v in base.network.constructor_args().items() if k != "num_styles"}
    if wanted != trained:
        raise SettingsError(f"finetune_from={base.path}: its network {trained} differs from this run's {wanted} "
                            "(fine-tune with the model settings it was trained with)")
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
