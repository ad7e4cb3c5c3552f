"""trainer.precision=auto: bf16-mixed only where the hardware computes in bf16."""

import pytest

from nst_ff.errors import UsageError
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
    asked = []
    monkeypatch.setattr(precision.torch.cuda, "is_bf16_supported",
                        lambda including_emulation=True: asked.append(including_emulation) or native)
    assert resolve_precision("auto", "gpu") == ("bf16-mixed" if native else "32-true")
    assert asked == [False]  # emulated bf16 (T4, V100) is slower than float32
    assert resolve_precision("auto", "cpu") == ("32-true" if native else "bf16-mixed")  # accelerator=cpu: the CPU's


@pytest.mark.parametrize("strategy", ["ddp_fork", "ddp_notebook"])
def test_auto_refuses_to_probe_a_gpu_before_forking(strategy, monkeypatch):
    monkeypatch.setattr(precision.torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(precision.torch.cuda, "is_bf16_supported", lambda **_: pytest.fail("CUDA initialised"))
    with pytest.raises(UsageError, match=f"trainer.strategy={strategy} forbids"):
        resolve_precision("auto", "gpu", strategy)
    assert resolve_precision("bf16-mixed", "gpu", strategy) == "bf16-mixed"


def test_cpu_probe_falls_back_to_float32_without_torch_s_probes(monkeypatch):
    for probe in ("_is_amx_tile_supported", "_is_avx512_bf16_supported"):
        monkeypatch.delattr(precision.torch.cpu, probe, raising=False)
    assert precision.cpu_has_bf16() is False
