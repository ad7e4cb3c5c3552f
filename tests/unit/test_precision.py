"""trainer.precision=auto: bf16-mixed only where the hardware computes in bf16."""

import pytest

from nst_ff.train import precision
from nst_ff.train.precision import resolve_precision


@pytest.mark.parametrize("given", ["32-true", "bf16-mixed", "16-mixed", 32])
def test_a_named_precision_is_kept(given):
    assert resolve_precision(given, "cpu") == given


@pytest.mark.parametrize("native", [True, False])
def test_auto_on_the_cpu_follows_its_bf16_units(native, monkeypatch):
    monkeypatch.setattr(precision, "cpu_has_bf16", lambda: native)
    monkeypatch.setattr(precision.torch.cuda, "is_available", lambda: False)
    expected = "bf16-mixed" if native else "32-true"
    assert resolve_precision("auto", "cpu") == expected
    assert resolve_precision("auto", "auto") == expected


@pytest.mark.parametrize("native", [True, False])
def test_auto_on_a_gpu_follows_the_gpu(native, monkeypatch):
    monkeypatch.setattr(precision, "cpu_has_bf16", lambda: not native)  # the GPU decides, not the CPU
    monkeypatch.setattr(precision.torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(precision.torch.cuda, "is_bf16_supported", lambda: native)
    assert resolve_precision("auto", "gpu") == ("bf16-mixed" if native else "32-true")
    assert resolve_precision("auto", "cpu") == ("32-true" if native else "bf16-mixed")  # accelerator=cpu: the CPU's


def test_cpu_probe_answers_a_bool():
    assert isinstance(precision.cpu_has_bf16(), bool)
