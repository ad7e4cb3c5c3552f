"""LightningModule wiring network, perceptual loss, optimiser and TensorBoard logging."""

import lightning as L
import torch
from torchvision.transforms.v2 import functional as TF
from torchvision.utils import make_grid

from nst_ff.checkpoint import NST_FF_KEY, describe
from nst_ff.loss import PerceptualLoss
from nst_ff.transformer import StyleTransferNetwork, one_hot


class NonFiniteLossError(RuntimeError):
    pass


class StyleTransferModule(L.LightningModule):
    def __init__(
        self,
        network: StyleTransferNetwork,
        loss: PerceptualLoss,
        style_names: list[str],
        style_images: list[torch.Tensor],
        grid_contents: torch.Tensor,
        lr: float = 1e-3,
        image_every_n_steps: int = 500,
        channels_last: bool = False,
        compile: bool = False,
    ):
        super().__init__()
        self.network = network
        self.loss = loss
        self.style_names = list(style_names)
        self.lr = lr
        self.image_every_n_steps = image_every_n_steps
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        self.loss.set_style_targets(style_images)
        # Header row of the grid: each style image cropped square at the content size.
        size = grid_contents.shape[-1]
        self.grid_styles = torch.stack(
            [TF.center_crop(TF.resize(style, [size], antialias=True), [size]) for style in style_images]
        )
        self.grid_contents = grid_contents
        if channels_last:
            self.network.to(memory_format=torch.channels_last)
        if compile:
            self.network.compile()

    def training_step(self, images: torch.Tensor, batch_idx: int) -> torch.Tensor:
        images = images.contiguous(memory_format=self.memory_format)  # [B, 3, S, S]
        # Magenta draws each example's style independently and uniformly.
        style_index = torch.randint(self.network.num_styles, (images.shape[0],), device=images.device)
        style_weights = one_hot(style_index, self.network.num_styles)  # [B, N]
        terms = self.loss(self.network(images, style_weights), images, style_weights)
        # Any rank's NaN poisons every rank's weights at the all-reduce: stop them all together,
        # before the optimiser step, so the last checkpoint keeps good weights.
        if self.trainer.strategy.reduce_boolean_decision(not torch.isfinite(terms["total"]).item(), all=False):
            raise NonFiniteLossError(
                f"non-finite loss at step {self.global_step} ({ {k: v.item() for k, v in terms.items()} }); "
                "training stopped, the last checkpoint is untouched (lower optim.lr or check the data)"
            )
        self.log_dict({f"loss/{name}": value for name, value in terms.items()}, prog_bar=False)
        self.log("loss", terms["total"], prog_bar=True, logger=False)
        return terms["total"]

    def on_train_batch_end(self, outputs, batch, batch_idx: int) -> None:
        step = self.global_step
        if self.image_every_n_steps and (step == 1 or step % self.image_every_n_steps == 0):
            self.log_style_grid()

    @torch.no_grad()
    def style_grid(self) -> torch.Tensor:
        """Magenta's evaluation grid [3, H, W]: a header row of style images, then each content
        photo followed by it stylized in every style."""
        device = self.device
        contents = self.grid_contents.to(device)  # [K, 3, S, S]
        n = self.network.num_styles
        was_training = self.network.training
        self.network.eval()
        rows = [torch.cat([torch.ones_like(contents[:1]), self.grid_styles.to(device)])]
        for content in contents:
            batch = content[None].expand(n, -1, -1, -1)
            stylized = self.network(batch, torch.eye(n, device=device)).float()
            rows.append(torch.cat([content[None], stylized]))
        self.network.train(was_training)
        return make_grid(torch.cat(rows), nrow=n + 1, padding=2, pad_value=1.0).clamp(0, 1)

    def log_style_grid(self) -> None:
        if self.logger is not None and self.trainer.is_global_zero:
            self.logger.experiment.add_image("style_grid", self.style_grid(), self.global_step)

    def configure_optimizers(self):
        return torch.optim.Adam(self.network.parameters(), lr=self.lr)

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        # The VGG and the Gram targets are rebuilt from config and data; never store them.
        checkpoint["state_dict"] = {k: v for k, v in checkpoint["state_dict"].items() if not k.startswith("loss.")}
        checkpoint[NST_FF_KEY] = {**describe(self.network, self.style_names), "loss": self.loss.settings()}

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        saved = checkpoint[NST_FF_KEY]["style_names"]
        if saved != self.style_names:
            raise ValueError(f"checkpoint styles {saved} differ from this run's styles {self.style_names}")
        checkpoint["state_dict"].update({k: v for k, v in self.state_dict().items() if k.startswith("loss.")})
