"""`trainer.precision=auto`: bf16-mixed where the hardware multiplies in bf16, float32 elsewhere."""

import torch

from nst_ff.errors import UsageError

AUTO = "auto"

# Lightning's own names (and the short aliases it accepts), and auto
PRECISIONS = (AUTO, "32-true", "bf16-mixed", "16-mixed", "bf16-true", "16-true", "64-true", "32", "16", "bf16", "64")


def cpu_has_bf16() -> bool:
    """AMX or AVX512-BF16: oneDNN's bf16 convolutions run natively (elsewhere they are emulated, slower than fp32)."""
    probes = ("_is_amx_tile_supported", "_is_avx512_bf16_supported")  # private, hence the fallback
    return any(getattr(torch.cpu, probe, lambda: False)() for probe in probes)


def resolve_precision(precision: str, accelerator: str, strategy: str = "auto") -> str:
    """Lightning's precision for `precision` (auto, or any of Lightning's own, returned as given)."""
    if str(precision) != AUTO:
        return precision
    on_gpu = accelerator in ("auto", "gpu", "cuda") and torch.cuda.is_available()
    if on_gpu and ("fork" in str(strategy) or "notebook" in str(strategy)):
        # Probing the GPU initialises CUDA in this process, which forked workers then cannot use.
        raise UsageError(f"trainer.precision=auto probes the GPU, which trainer.strategy={strategy} forbids: "
                         "name it (bf16-mixed on GPUs since Ampere, else 32-true)")
    # Emulated bf16 (T4, V100) is slower than float32: only native bf16 counts.
    native = (torch.cuda.is_bf16_supported(including_emulation=False) if on_gpu
              else accelerator in ("auto", "cpu") and cpu_has_bf16())
    return "bf16-mixed" if native else "32-true"
