"""LightningModule wiring network, perceptual loss, optimiser, schedule and TensorBoard logging."""

from dataclasses import dataclass

import lightning as L
import torch
import torch.nn.functional as F
from torchvision.transforms.v2 import functional as TF
from torchvision.utils import make_grid

from nst_ff.errors import NstError
from nst_ff.loss.perceptual import PerceptualLoss
from nst_ff.measure.quality import METRICS, Yardstick, measure
from nst_ff.model.checkpoint import NST_FF_KEY, describe
from nst_ff.model.transformer import StyleTransferNetwork, one_hot
from nst_ff.train.finetune import freeze_all_but_new_styles
from nst_ff.train.recipe import Recipe, StyleSampler, warmup_cosine
from nst_ff.train.settings import SettingsError
from nst_ff.train.stability import stability_loss


class NonFiniteLossError(NstError, RuntimeError):
    pass


@dataclass
class Styles:
    """The run's styles: every name in network order, the images of the styles being trained (after the
    `frozen` ones of a fine-tuning base), every style's thumbnail, and the size the Gram targets were taken at."""

    names: list[str]
    images: list[torch.Tensor]
    frozen: int = 0
    thumbnails: list[torch.Tensor] | None = None  # stored in checkpoints for galleries
    size: int | None = None  # recorded for evaluation


@dataclass
class Monitor:
    """What the run shows in TensorBoard: the photos of the style grid, how often, their quality on the fixed
    yardstick, and the run's settings (the HPARAMS view)."""

    grid_contents: torch.Tensor  # [K, 3, S, S]
    image_every_n_steps: int = 500
    yardstick: Yardstick | None = None
    run_config: dict | None = None


class StyleTransferModule(L.LightningModule):
    def __init__(self, network: StyleTransferNetwork, loss: PerceptualLoss, styles: Styles, monitor: Monitor,
                 recipe: Recipe | None = None, channels_last: bool = False, compile: bool = False,
                 stability: dict | None = None):
        super().__init__()
        self.network = network
        self.loss = loss
        self.style_names = list(styles.names)
        # Fine-tuning: the first `frozen` styles and every shared weight stay as they are; only the styles after
        # them train, and `styles.images` are theirs alone.
        self.frozen_styles = styles.frozen
        self.trained_styles = network.num_styles - styles.frozen
        self.thumbnails, self.style_size = styles.thumbnails, styles.size
        self.yardstick, self.run_config = monitor.yardstick, monitor.run_config
        self.image_every_n_steps = monitor.image_every_n_steps
        self.recipe = recipe or Recipe()
        self.sample_styles = StyleSampler(self.trained_styles, self.recipe.style_sampling)
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        # {weight, shift, zoom, noise} of nst_ff.train.stability; weight 0 (the default): off
        self.stability = dict(stability or {"weight": 0.0})
        self.loss.set_style_targets(styles.images, self.style_names[styles.frozen:])
        self.grid_styles = grid_header(styles.images, monitor.grid_contents.shape[-1])
        self.grid_contents = monitor.grid_contents
        self.grid_step, self.quality = None, {}  # the step of the last grid, and its overall quality
        if styles.frozen:
            freeze_all_but_new_styles(network, styles.frozen)
        if channels_last:
            self.network.to(memory_format=torch.channels_last)
        if compile:
            self.network.compile()

    def training_step(self, images: torch.Tensor, batch_idx: int) -> torch.Tensor:
        images = images.contiguous(memory_format=self.memory_format)  # [B, 3, S, S]
        style_index = self.sample_styles(images.shape[0]).to(images.device)  # [B], among the trained styles
        style_weights = one_hot(style_index, self.trained_styles)  # [B, trained], as the loss's targets
        network_weights = F.pad(style_weights, (self.frozen_styles, 0))  # [B, N]: after the frozen styles
        stylized = self.network(images, network_weights)
        terms = self.loss(stylized, images, style_weights)
        if self.stability["weight"] > 0:
            options = {key: value for key, value in self.stability.items() if key != "weight"}
            terms["stability"] = stability_loss(self.network, images, network_weights, stylized, **options)
            terms["total"] = terms["total"] + self.stability["weight"] * terms["stability"]
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
    def stylize_grid_photos(self) -> torch.Tensor:
        """The grid photos in every trained style (all of them, or a fine-tuning's new ones): [T, K, 3, S, S]."""
        contents = self.grid_contents.to(self.device)  # [K, 3, S, S]
        n = self.network.num_styles
        was_training = self.network.training
        self.network.eval()
        stylized = torch.stack([
            self.network(contents, one_hot(torch.full((len(contents),), s, device=self.device), n)).float()
            for s in range(self.frozen_styles, n)
        ])
        self.network.train(was_training)
        return stylized.clamp(0, 1)

    def style_grid(self, stylized: torch.Tensor) -> torch.Tensor:
        """Magenta's evaluation grid [3, H, W] of `stylized` [N, K, 3, S, S]: a header row of style images,
        then each photo followed by it stylized in every style."""
        contents = self.grid_contents.to(stylized.device)
        rows = [torch.cat([torch.ones_like(contents[:1]), self.grid_styles.to(stylized.device)])]
        rows += [torch.cat([content[None], stylized[:, k]]) for k, content in enumerate(contents)]
        return make_grid(torch.cat(rows), nrow=len(stylized) + 1, padding=2, pad_value=1.0)

    def on_train_end(self) -> None:
        if self.image_every_n_steps and self.grid_step != self.global_step:
            self.log_style_grid()  # the run's final network, whatever step it stopped at
        if self.logger is not None and self.run_config is not None:  # before Lightning closes the logger
            self.logger.log_hyperparams(self.run_config, metrics=self.final_metrics(), step=self.global_step)

    def final_metrics(self) -> dict[str, float]:
        """The last logged total loss and grid quality, for TensorBoard's hyper-parameter view."""
        logged = self.trainer.callback_metrics
        metrics = {"final/loss": logged["loss/total"].item()} if "loss/total" in logged else {}
        return metrics | {f"final/{metric}": value for metric, value in self.quality.items()}

    def log_style_grid(self) -> None:
        if self.logger is None or not self.trainer.is_global_zero:
            return
        self.grid_step = self.global_step
        stylized = self.stylize_grid_photos()
        writer = self.logger.experiment
        writer.add_image("style_grid", self.style_grid(stylized), self.global_step)
        if self.yardstick is not None:
            report = measure(lambda photos, weights: stylized[weights[0].argmax()], self.yardstick,
                             self.grid_contents, self.style_names[self.frozen_styles:])
            self.quality = {metric: report["overall"][metric] for metric in METRICS}
            for metric, value in self.quality.items():
                writer.add_scalar(f"quality/{metric}", value, self.global_step)

    def configure_optimizers(self):
        tables = self.network.style_tables()
        shared = [p for p in self.network.parameters() if all(p is not t for t in tables)]
        rates = self.recipe.rates()
        groups = [{"params": shared, "lr": rates["shared"], "name": "shared"}] if not self.frozen_styles else []
        # Each style's rows learn from its own examples only.
        optimizer = torch.optim.Adam(groups + [{"params": tables, "lr": rates["cin"], "name": "cin"}])
        schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, self.lr_factor)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}

    def lr_factor(self, step: int) -> float:
        total = self.trainer.max_steps if self.trainer.max_steps > 0 else 0
        return warmup_cosine(step, total_steps=total, warmup_steps=self.recipe.warmup_steps,
                             final_fraction=self.recipe.final_lr_fraction if total else 1.0)

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        # The VGGs of the loss and the yardstick and their Gram targets are rebuilt from config and data.
        checkpoint["state_dict"] = {k: v for k, v in checkpoint["state_dict"].items() if k.startswith("network.")}
        record = {"loss": self.loss.settings(), "style_size": self.style_size}
        checkpoint[NST_FF_KEY] = describe(self.network, self.style_names,
                                          record | ({"thumbnails": self.thumbnails} if self.thumbnails else {}))

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        saved = checkpoint[NST_FF_KEY]["style_names"]
        if saved != self.style_names:
            raise SettingsError(f"checkpoint styles {saved} differ from this run's styles {self.style_names}")
        checkpoint["state_dict"].update({k: v for k, v in self.state_dict().items() if not k.startswith("network.")})
        # The rates and schedule of this run's config, not the saved ones: a resumed run may lower optim.lr.
        # (The schedule's shape is this run's already: LambdaLR does not save its function.)
        base = self.recipe.rates()
        factor = self.lr_factor(checkpoint["global_step"])
        for group in checkpoint["optimizer_states"][0]["param_groups"]:
            group["initial_lr"], group["lr"] = base[group["name"]], base[group["name"]] * factor
        schedule = checkpoint["lr_schedulers"][0]
        schedule["base_lrs"] = [base[g["name"]] for g in checkpoint["optimizer_states"][0]["param_groups"]]
        schedule["_last_lr"] = [base * factor for base in schedule["base_lrs"]]


def grid_header(style_images: list[torch.Tensor], size: int) -> torch.Tensor:
    """The style grid's header row: each style image cropped square at the content size [N, 3, size, size]."""
    return torch.stack([TF.center_crop(TF.resize(style, [size], antialias=True), [size]) for style in style_images])
