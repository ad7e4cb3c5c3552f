"""Style sampling and the learning-rate schedule."""

from collections import Counter

import pytest
import torch

from nst_ff.train.recipe import StyleSampler, warmup_cosine


def test_balanced_sampling_gives_every_style_equally_often():
    torch.manual_seed(0)
    sampler = StyleSampler(6, "balanced")
    counts = Counter(i for _ in range(30) for i in sampler(4).tolist())  # 120 examples
    assert counts == {style: 20 for style in range(6)}


def test_balanced_sampling_puts_every_style_in_every_batch_when_the_batch_is_large_enough():
    torch.manual_seed(0)
    sampler = StyleSampler(4, "balanced")
    for _ in range(20):
        batch = sampler(6)
        assert set(batch.tolist()) == {0, 1, 2, 3} and batch.shape == (6,)


def test_uniform_sampling_is_magentas_independent_draw():
    torch.manual_seed(0)
    batch = StyleSampler(3, "uniform")(1000)
    assert batch.min() == 0 and batch.max() == 2
    assert abs((batch == 0).float().mean().item() - 1 / 3) < 0.05


def test_unknown_sampling_is_named():
    with pytest.raises(ValueError, match="balanced, uniform"):
        StyleSampler(3, "round-robin")


def test_warmup_then_cosine_decay_at_the_first_middle_and_last_step():
    factor = lambda step: warmup_cosine(step, total_steps=101, warmup_steps=10, final_fraction=0.1)  # noqa: E731
    assert factor(0) == pytest.approx(0.1)  # first step: 1/warmup of the learning rate
    assert factor(9) == pytest.approx(1.0)  # end of the warm-up
    assert factor(10) == pytest.approx(1.0)
    assert factor(55) == pytest.approx(0.55)  # half way through the decay: halfway between 1 and 0.1
    assert factor(100) == pytest.approx(0.1)  # last step
    assert factor(500) == pytest.approx(0.1)  # held after the end


def test_without_warmup_or_decay_the_rate_is_constant():
    assert {warmup_cosine(step, 100, 0, 1.0) for step in range(100)} == {1.0}
