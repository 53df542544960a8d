"""The device a stage trains on and the precision it computes in: one rule for pretraining,
fine-tuning and prediction.

``precision: auto`` is what semmol did before the option existed: bf16 autocast on a CUDA
device, float32 on the CPU (CPU bf16 is slower than float32 on CPUs without bf16 matrix units,
and the CPU presets are measured in float32). ``bf16`` asks for autocast on either device, so
the GPU's bf16 path (the float32 islands of the losses included) is the same code on the CPU,
where the unit tests run it; ``fp32`` turns autocast off on either device.
"""

from __future__ import annotations

import torch

#: The values of ``pretrain.precision`` and ``finetune.precision``.
PRECISIONS = ("auto", "bf16", "fp32")


def default_device(local_rank: int = 0) -> torch.device:
    """This process's CUDA device when torch sees one, the CPU otherwise.

    Args:
        local_rank: the process's index on its node (``LOCAL_RANK`` under torchrun); default 0.
    """
    return torch.device(f"cuda:{local_rank}") if torch.cuda.is_available() else torch.device("cpu")


def uses_bf16(precision: str, device: torch.device) -> bool:
    """Whether a stage with this ``precision`` option computes under bf16 autocast on ``device``.

    Args:
        precision: ``auto`` (bf16 on CUDA, float32 on the CPU), ``bf16`` or ``fp32``.
        device: where the stage's model lives.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    return precision == "bf16" or (precision == "auto" and device.type == "cuda")


def autocast(precision: str, device: torch.device) -> torch.autocast:
    """The autocast context of a forward pass (and its loss) on ``device``; see :func:`uses_bf16`.

    Args:
        precision: ``auto``, ``bf16`` or ``fp32``.
        device: where the stage's model lives.
    """
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=uses_bf16(precision, device))
