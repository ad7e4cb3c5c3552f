"""Training runs in this process (Lightning, random-weight VGG): checkpoints, TensorBoard, resuming, non-finite
losses, loss settings."""

import pytest
import torch
from tensorboard.plugins.hparams.plugin_data_pb2 import HParamsPluginData

from conftest import read_events, step_of, train_in_process, train_overrides
from nst_ff.io.config import loss_config
from nst_ff.loss.perceptual import PerceptualLoss
from nst_ff.model.checkpoint import load_network
from nst_ff.train.module import NonFiniteLossError


def test_the_end_of_a_run_is_saved_between_periodic_checkpoints(tmp_path, image_dirs):
    content, styles = image_dirs
    overrides = train_overrides(tmp_path, content, styles, steps=7) + ["checkpoint.every_n_steps=5"]
    last = train_in_process(overrides)
    assert step_of(last) == 7
    assert sorted(p.name for p in last.parent.iterdir()) == ["last.ckpt", "step=5.ckpt"]


def test_train_writes_checkpoints_and_tensorboard_then_resumes(tmp_path, image_dirs):
    content, styles = image_dirs
    last = train_in_process(train_overrides(tmp_path, content, styles, steps=3))
    assert last == tmp_path / "ckpt" / "last.ckpt"
    assert sorted(p.name for p in last.parent.iterdir()) == ["last.ckpt", "step=1.ckpt", "step=2.ckpt", "step=3.ckpt"]

    checkpoint = torch.load(last, weights_only=True)  # plain containers only: safe to load
    assert checkpoint["global_step"] == 3
    assert checkpoint["nst_ff"]["style_names"] == ["alpha", "beta", "gamma"]
    assert checkpoint["nst_ff"]["model"] == {"num_styles": 3, "alpha": 1.0}
    # evaluate.py scores with the loss trained on, per-layer weights included
    assert checkpoint["nst_ff"]["loss"]["style_layers"] == loss_config()["style_layers"]
    assert all(key.startswith("network.") for key in checkpoint["state_dict"])  # no VGG, no Gram targets
    network, names = load_network(last)
    assert names == ["alpha", "beta", "gamma"] and network.num_styles == 3

    events = read_events(tmp_path / "runs" / "test")
    scalars = events.Tags()["scalars"]
    for tag in ["loss/total", "loss/content", "loss/style", "loss/tv", *(f"loss/style/relu{i}" for i in
                                                                         ["1_2", "2_2", "3_3", "4_3"])]:
        assert tag in scalars, tag
    assert [e.step for e in events.Scalars("loss/total")] == [0, 1, 2]
    # the yardstick, with each style grid: steps 1 and 2 (image_every_n_steps=2), and the final step
    for metric in ["identified", "style_gain", "content"]:
        assert [e.step for e in events.Scalars(f"quality/{metric}")] == [1, 2, 3], metric
    assert all(0 <= e.value <= 1 for e in events.Scalars("quality/identified"))
    (grid, *_) = events.Images("style_grid")
    # header row + 2 photos, each followed by 3 styles: 3 rows x 4 columns of 32 px cells with 2 px padding
    assert (grid.width, grid.height) == (4 * 34 + 2, 3 * 34 + 2)
    assert (tmp_path / "runs" / "test" / "hparams.yaml").read_text().count("content_dir") == 1
    # TensorBoard's HPARAMS view: the configuration, with the final loss and quality as its metrics
    hparams = read_events(tmp_path / "runs" / "test").PluginTagToContent("hparams")
    session = HParamsPluginData.FromString(hparams["_hparams_/session_start_info"]).session_start_info
    assert session.hparams["data/batch_size"].number_value == 2
    assert session.hparams["loss/style_layers/relu1_2"].number_value == 1.0
    experiment = HParamsPluginData.FromString(hparams["_hparams_/experiment"]).experiment
    assert {m.name.tag for m in experiment.metric_infos} == {"final/loss", "final/identified", "final/style_gain",
                                                             "final/content"}
    assert [e.step for e in events.Scalars("final/loss")] == [3]

    train_in_process(train_overrides(tmp_path, content, styles, steps=5) + [f"ckpt_path={last}"])
    resumed = torch.load(last, weights_only=True)
    assert resumed["global_step"] == 5
    assert resumed["optimizer_states"][0]["state"][0]["step"] == 5  # Adam state carried over, not restarted


def test_the_progress_bar_counts_the_steps_of_the_run_and_carries_on_after_a_resume(tmp_path, image_dirs, capsys):
    content, styles = image_dirs
    bar = ["trainer.enable_progress_bar=true"]
    last = train_in_process(train_overrides(tmp_path, content, styles, steps=2) + bar)
    train_in_process(train_overrides(tmp_path, content, styles, steps=4) + bar + [f"ckpt_path={last}"])
    printed = capsys.readouterr().out
    assert "Training: 100%" in printed and "| 2/2 [" in printed
    assert "| 3/4 [" in printed and "| 4/4 [" in printed and "| 1/4 [" not in printed  # the resumed run's bar


def test_a_non_finite_loss_stops_training_and_saves_the_last_completed_step(tmp_path, image_dirs, monkeypatch):
    content, styles = image_dirs
    calls = []

    def loss_turning_nan(self, *args, **kwargs):
        terms = original(self, *args, **kwargs)
        calls.append(1)
        return {name: value * float("nan") for name, value in terms.items()} if len(calls) == 4 else terms

    original = PerceptualLoss.forward
    monkeypatch.setattr(PerceptualLoss, "forward", loss_turning_nan)
    overrides = train_overrides(tmp_path, content, styles, steps=10) + ["checkpoint.every_n_steps=100"]
    with pytest.raises(NonFiniteLossError, match="non-finite loss at step 3"):
        train_in_process(overrides)
    assert torch.load(tmp_path / "ckpt" / "last.ckpt", weights_only=True)["global_step"] == 3


