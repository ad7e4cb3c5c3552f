import shutil

import pytest
import torch
from test_train import read_events, step_of, train_in_process

from conftest import make_image, train_overrides
from nst_ff.cli.stylize_main import main as stylize
from nst_ff.model.checkpoint import THUMBNAIL_SIZE, load_checkpoint
from nst_ff.model.transformer import StyleTransferNetwork, one_hot
from nst_ff.train.finetune import freeze_all_but_new_styles
from nst_ff.train.settings import SettingsError


@pytest.fixture
def base(tmp_path, image_dirs):
    """A network trained for 2 steps on alpha, beta, gamma, and a folder of two new styles."""
    content, styles = image_dirs
    base = train_in_process(train_overrides(tmp_path / "base", content, styles, steps=2) +
                            ["loss.style_scales={beta: 2}"])
    new_styles = tmp_path / "new_styles"
    for i, name in enumerate(["epsilon", "delta"]):
        make_image(new_styles / f"{name}.png", size=(44, 36), seed=200 + i)
    return base, content, new_styles


def finetune_overrides(tmp_path, content, new_styles, base, steps=3):
    return train_overrides(tmp_path / "tuned", content, new_styles, steps=steps) + [f"finetune_from={base}"]


def outputs(network, style):
    photo = torch.rand(1, 3, 24, 20, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        return network(photo, one_hot(torch.tensor([style]), network.num_styles))


def test_fine_tuning_adds_styles_and_leaves_the_old_ones_bit_identical(tmp_path, base):
    base, content, new_styles = base
    tuned = train_in_process(finetune_overrides(tmp_path, content, new_styles, base) + ["loss.style_scales={delta: 3}"])
    old, old_names, old_info = load_checkpoint(base)
    new, names, info = load_checkpoint(tuned)
    assert info["loss"]["style_scales"] == {"beta": 2, "delta": 3}  # the frozen styles' scales are kept
    assert names == ["alpha", "beta", "gamma", "delta", "epsilon"]  # old ones, then the new in file-name order
    assert new.num_styles == 5 and step_of(tuned) == 3
    for style in range(3):
        assert torch.equal(outputs(old, style), outputs(new, style))
    new_tables = {id(t) for t in new.style_tables()}
    for (name, after), before in zip(new.named_parameters(), old.parameters(), strict=True):
        if id(after) in new_tables:
            assert torch.equal(after[:3], before), name
            assert not torch.allclose(after[3:], before.mean(0).expand(2, -1)), name  # trained from the mean
        else:
            assert torch.equal(after, before), name
    # every style's thumbnail: the base's three, then the new two
    assert len(info["thumbnails"]) == 5 and all(t.dtype == torch.uint8 for t in info["thumbnails"])
    assert all(torch.equal(a, b) for a, b in zip(info["thumbnails"][:3], old_info["thumbnails"], strict=True))
    assert max(info["thumbnails"][3].shape[1:]) <= THUMBNAIL_SIZE
    # the style grid shows the new styles only: header + 2 photos, each followed by 2 styles, 32 px cells
    (grid, *_) = read_events(tmp_path / "tuned" / "runs" / "test").Images("style_grid")
    assert (grid.width, grid.height) == (3 * 34 + 2, 3 * 34 + 2)

    # an ordinary checkpoint: it stylizes in an old and a new style, and resumes
    photo = make_image(tmp_path / "photo.png", size=(30, 26))
    assert stylize(["--ckpt", str(tuned), "--input", str(photo), "--style", "beta,delta",
                    "--output", str(tmp_path / "out")]) == 0
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["photo_beta.png", "photo_delta.png"]
    assert stylize(["--ckpt", str(tuned), "--export", str(tmp_path / "small.pt")]) == 0
    exported = load_checkpoint(tmp_path / "small.pt")[2]
    assert all(torch.equal(a, b) for a, b in zip(exported["thumbnails"], info["thumbnails"], strict=True))
    train_in_process(finetune_overrides(tmp_path, content, new_styles, base, steps=4) + ["ckpt_path=last"])
    assert step_of(tuned) == 4
    resumed, _ = load_checkpoint(tuned)[:2]
    for style in range(3):
        assert torch.equal(outputs(old, style), outputs(resumed, style))


def test_only_the_new_rows_learn_whatever_the_mix():
    network = StyleTransferNetwork(num_styles=4, alpha=0.25)
    freeze_all_but_new_styles(network, frozen_styles=3)
    photo = torch.rand(2, 3, 16, 16)
    network(photo, torch.full((2, 4), 0.25)).mean().backward()  # a mix that touches every style's rows
    tables = {id(t) for t in network.style_tables()}
    for name, parameter in network.named_parameters():
        if id(parameter) in tables:
            assert torch.equal(parameter.grad[:3], torch.zeros_like(parameter.grad[:3])), name
            assert parameter.grad[3].abs().sum() > 0, name
        else:
            assert parameter.grad is None and not parameter.requires_grad, name


def test_a_style_the_checkpoint_has_is_refused_before_training(tmp_path, base, image_dirs):
    base, content, new_styles = base
    shutil.copy(image_dirs[1] / "beta.jpg", new_styles / "beta.jpg")
    with pytest.raises(SettingsError, match=r"finetune_from=.*already has the style\(s\) beta"):
        train_in_process(finetune_overrides(tmp_path, content, new_styles, base))
    assert not (tmp_path / "tuned" / "ckpt").exists()


def test_another_network_is_refused_before_training(tmp_path, base):
    base, content, new_styles = base
    with pytest.raises(SettingsError, match=r"its network \{'alpha': 1.0\} differs from this run's \{'alpha': 0.5\}"):
        train_in_process(finetune_overrides(tmp_path, content, new_styles, base) + ["model.alpha=0.5"])
    assert not (tmp_path / "tuned" / "ckpt").exists()




def test_init_from_trains_every_weight_on_from_an_exported_model(tmp_path, base, image_dirs):
    base, content, _ = base
    exported = tmp_path / "base.pt"
    assert stylize(["--ckpt", str(base), "--export", str(exported)]) == 0  # weights only: nothing to resume
    start, names, _ = load_checkpoint(exported)
    overrides = train_overrides(tmp_path / "on", content, image_dirs[1], steps=2) + [f"init_from={exported}"]
    first = train_in_process(overrides + ["trainer.max_steps=1"])
    assert step_of(first) == 1  # a fresh run: step 0, new optimiser and schedule
    after, after_names, _ = load_checkpoint(first)
    assert after_names == names
    changed = [torch.allclose(a, b, atol=0.05) and not torch.equal(a, b)
               for a, b in zip(after.parameters(), start.parameters(), strict=True)]
    assert all(changed)  # every weight learnt one small step from the exported ones, the style rows too
    exported.unlink()  # the same command resumes the run, not the export, which it no longer reads
    train_in_process(overrides + ["ckpt_path=last"])
    assert step_of(first) == 2


@pytest.mark.parametrize(("other_styles", "extra", "message"), [
    (True, [], r"init_from=.*: its styles \['alpha', 'beta', 'gamma'\] differ from this run's "
               r"\['delta', 'epsilon'\] \(to add styles to it, use finetune_from\)"),
    (False, ["model.alpha=0.5"], r"init_from=.*: its network \{'alpha': 1.0\} differs from this run's "
                                 r"\{'alpha': 0.5\}"),
    (False, ["finetune_from={base}"], r"finetune_from and init_from: give one"),
])
def test_init_from_another_network_or_other_styles_is_refused_before_training(tmp_path, base, image_dirs,
                                                                             other_styles, extra, message):
    base, content, new_styles = base
    styles = new_styles if other_styles else image_dirs[1]
    overrides = train_overrides(tmp_path / "on", content, styles, steps=2) + [f"init_from={base}"]
    with pytest.raises(SettingsError, match=message):
        train_in_process(overrides + [item.format(base=base) for item in extra])
    assert not (tmp_path / "on" / "ckpt").exists()
