import os
import signal
import subprocess
import sys
import time

import pytest
import torch
from hydra import compose, initialize_config_dir
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams.plugin_data_pb2 import HParamsPluginData

from conftest import ROOT, run_train, train_overrides
from nst_ff.io.config import loss_config
from nst_ff.loss.perceptual import PerceptualLoss
from nst_ff.model.checkpoint import load_network, weights_problem
from nst_ff.train.module import NonFiniteLossError
from nst_ff.train.training import train


def read_events(logdir):
    events = EventAccumulator(str(logdir), size_guidance={"images": 0, "scalars": 0})
    events.Reload()
    return events


def train_in_process(overrides: list[str]):
    with initialize_config_dir(str(ROOT / "conf"), version_base="1.3"):
        return train(compose("train", overrides=overrides))


def step_of(path) -> int:
    return torch.load(path, weights_only=True)["global_step"]


def test_the_end_of_a_run_is_saved_between_periodic_checkpoints(tmp_path, image_dirs):
    content, styles = image_dirs
    overrides = train_overrides(tmp_path, content, styles, steps=7) + ["checkpoint.every_n_steps=5"]
    last = train_in_process(overrides)
    assert step_of(last) == 7
    assert sorted(p.name for p in last.parent.iterdir()) == ["last.ckpt", "step=5.ckpt"]


def start_train(tmp_path, overrides) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, str(ROOT / "train.py"), *overrides, f"hydra.run.dir={tmp_path / 'hydra'}"],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM, signal.SIGUSR1])
def test_a_stop_signal_saves_the_last_completed_step_and_ckpt_path_last_continues(tmp_path, image_dirs, signum):
    content, styles = image_dirs
    overrides = train_overrides(tmp_path, content, styles, steps=10_000) + ["checkpoint.every_n_steps=3"]
    process = start_train(tmp_path, overrides)
    try:
        deadline = time.time() + 180
        while not (tmp_path / "ckpt" / "step=3.ckpt").exists() and time.time() < deadline:
            time.sleep(0.05)
        time.sleep(1.0)  # a step or two past the periodic checkpoint
        process.send_signal(signum)
        err, _ = process.communicate(timeout=120)  # stdout and stderr together
    finally:
        process.kill()
    assert "Traceback" not in err, err[-3000:]
    # 128 + the signal, as a shell expects of an interrupted program; SIGUSR1 (a SLURM requeue) ends as planned
    assert process.returncode == {signal.SIGINT: 130, signal.SIGTERM: 143, signal.SIGUSR1: 0}[signum]
    assert "resume with run_name=test ckpt_path=last" in err
    last = tmp_path / "ckpt" / "last.ckpt"
    logged = read_events(tmp_path / "runs" / "test").Scalars("loss/total")  # one per completed step, from step 0
    assert step_of(last) == len(logged) >= 3
    assert not list((tmp_path / "ckpt").glob(".*.tmp*"))
    # a requeued job runs the same command with ckpt_path=last and continues where it stopped
    stopped = step_of(last)
    result = run_train(train_overrides(tmp_path, content, styles, steps=stopped + 2) + ["ckpt_path=last"], tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert step_of(last) == stopped + 2


def test_running_a_named_run_again_leaves_it_untouched(tmp_path, image_dirs):
    content, styles = image_dirs
    train_in_process(train_overrides(tmp_path, content, styles, steps=2))
    before = {p: p.read_bytes() for p in [*(tmp_path / "ckpt").iterdir(), *(tmp_path / "runs" / "test").iterdir()]
              if p.is_file()}
    result = run_train(train_overrides(tmp_path, content, styles, steps=2), tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("train.py: error: run test already has checkpoints in ")
    after = {p: p.read_bytes() for p in [*(tmp_path / "ckpt").iterdir(), *(tmp_path / "runs" / "test").iterdir()]
             if p.is_file()}
    assert after == before


def test_a_resumed_run_trains_at_the_learning_rate_of_its_command(tmp_path, image_dirs):
    content, styles = image_dirs
    constant = ["optim.warmup_steps=0", "optim.final_lr_fraction=1", "optim.cin_lr=null"]
    last = train_in_process(train_overrides(tmp_path, content, styles, steps=2) + constant + ["optim.lr=1e-3"])
    train_in_process(train_overrides(tmp_path, content, styles, steps=4) + constant +
                     ["optim.lr=1e-4", f"ckpt_path={last}"])
    groups = torch.load(last, weights_only=True)["optimizer_states"][0]["param_groups"]
    assert [group["lr"] for group in groups] == pytest.approx([1e-4, 1e-4])
    rates = {e.step: e.value for e in read_events(tmp_path / "runs" / "test").Scalars("lr-Adam/shared")}
    assert rates[1] == pytest.approx(1e-3) and rates[2] == pytest.approx(1e-4) and rates[3] == pytest.approx(1e-4)


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


def test_a_killed_run_leaves_a_loadable_checkpoint_and_resumes(tmp_path, image_dirs):
    content, styles = image_dirs
    overrides = train_overrides(tmp_path, content, styles, steps=10_000)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "train.py"), *overrides, f"hydra.run.dir={tmp_path / 'hydra'}"],
        cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    last = tmp_path / "ckpt" / "last.ckpt"
    try:
        deadline = time.time() + 180
        while not (tmp_path / "ckpt" / "step=4.ckpt").exists() and time.time() < deadline:
            time.sleep(0.05)
        process.send_signal(signal.SIGKILL)  # at an arbitrary moment, possibly mid-write
    finally:
        process.kill()
        process.wait()
    step = torch.load(last, weights_only=True)["global_step"]
    assert step >= 3  # step=4.ckpt exists; last.ckpt is that or the one before
    train_in_process(train_overrides(tmp_path, content, styles, steps=step + 1) + [f"ckpt_path={last}"])
    assert torch.load(last, weights_only=True)["global_step"] == step + 1


def test_diverging_weights_stop_training_and_no_checkpoint_holds_them(tmp_path, image_dirs):
    content, styles = image_dirs
    # An absurd learning rate: the loss is still finite at step 1, the weights are already ~1e30.
    result = run_train(train_overrides(tmp_path, content, styles, steps=50) + ["optim.lr=1e30"], tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "train.py: error: the weights diverged at step 1 (" in result.stderr
    assert "no checkpoint of them was written" in result.stderr
    for path in (tmp_path / "ckpt").glob("*.ckpt"):
        assert weights_problem(torch.load(path, weights_only=True)["state_dict"]) is None, path


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


@pytest.mark.parametrize("bad", ["content", "styles"])
def test_bad_folders_stop_before_training_with_a_message(tmp_path, image_dirs, bad):
    content, styles = image_dirs
    empty = tmp_path / "empty"
    empty.mkdir()
    overrides = train_overrides(tmp_path, empty if bad == "content" else content, empty if bad == "styles" else styles)
    result = run_train(overrides, tmp_path)
    assert result.returncode == 2
    assert str(empty) in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "ckpt").exists()


@pytest.mark.slow
def test_ddp_on_two_cpu_processes(tmp_path, image_dirs):
    content, styles = image_dirs
    overrides = train_overrides(tmp_path, content, styles, steps=2) + [
        "trainer.strategy=ddp", "trainer.devices=2", "trainer.accelerator=cpu", "checkpoint.every_n_steps=2",
    ]
    result = run_train(overrides, tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert sorted(p.name for p in (tmp_path / "ckpt").iterdir()) == ["last.ckpt", "step=2.ckpt"]
    assert len(list((tmp_path / "runs" / "test").glob("events.out.tfevents.*"))) == 1  # rank 0 logs alone
    assert torch.load(tmp_path / "ckpt" / "last.ckpt", weights_only=True)["global_step"] == 2


@pytest.mark.slow
@pytest.mark.real_vgg
@pytest.mark.skipif(not os.environ.get("NST_FF_VGG_WEIGHTS"), reason="NST_FF_VGG_WEIGHTS not set")
def test_the_demo_recipe_at_a_reduced_size_paints_every_style_distinctly(tmp_path):
    styles = tmp_path / "styles"
    styles.mkdir()
    for name in ["great_wave", "starry_night", "the_scream"]:
        (styles / f"{name}.jpg").write_bytes((ROOT / "demo" / "styles" / f"{name}.jpg").read_bytes())
    weights, steps = os.environ["NST_FF_VGG_WEIGHTS"], 90
    overrides = train_overrides(tmp_path, ROOT / "demo" / "content", styles, steps=steps) + [
        "experiment=demo", f"loss.vgg.weights={weights}", f"quality.vgg_weights={weights}", "data.image_size=64",
        "data.style_size=256", "data.batch_size=3", "data.grid_images=4", f"logging.image_every_n_steps={steps}",
        f"checkpoint.every_n_steps={steps}",
    ]
    started = time.time()
    result = run_train(overrides, tmp_path, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    events = read_events(tmp_path / "runs" / "test")
    quality = {metric: events.Scalars(f"quality/{metric}")[-1] for metric in ["identified", "style_gain", "content"]}
    scores = ", ".join(f"{metric} {event.value:.3f}" for metric, event in quality.items())
    print(f"{steps} steps in {time.time() - started:.0f} s: {scores}")
    assert quality["identified"].step == steps
    assert quality["identified"].value == 1.0  # 3 styles x 4 demo photos, each nearest its own painting
    assert quality["style_gain"].value > 0.5 and quality["content"].value < 1.0

