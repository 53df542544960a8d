"""Temperature tau of the soft-positive weights: fixed, learnable, or on a cosine schedule.

A learnable tau is stored as ``log tau`` (positive by construction) and clamped into
``[min, max]`` in place before each use, so the optimizer can always move it back inside.
It lives outside DistributedDataParallel: the pretraining loop averages its gradient over
ranks (:func:`semmol.runtime.distributed.average_gradients`), as DDP does for the encoders.

Weight decay would pull ``log tau`` towards 0 (tau towards 1): keep this parameter out of
the decayed group.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from semmol.config import TemperatureConfig


def cosine_schedule(step: int, *, start: float, end: float, total_steps: int) -> float:
    """``start`` at step 0, ``end`` at ``total_steps`` and after, cosine in between."""
    progress = min(1.0, max(0, step) / max(1, total_steps))
    return end + (start - end) * 0.5 * (1.0 + math.cos(math.pi * progress))


class Temperature(nn.Module):
    """tau as the config says.

    Args:
        cfg: mode (``fixed``, ``learnable``, ``scheduled``), init, min, max, final.
        total_steps: length of the cosine schedule (mode ``scheduled``).
    """

    def __init__(self, cfg: TemperatureConfig, *, total_steps: int):
        super().__init__()
        if cfg.min > cfg.max:
            raise ValueError(f"temperature min ({cfg.min}) exceeds max ({cfg.max})")
        self.mode, self.init, self.final = cfg.mode, cfg.init, cfg.final
        self.low, self.high, self.total_steps = cfg.min, cfg.max, total_steps
        if self.mode == "learnable":
            if not cfg.min <= cfg.init <= cfg.max:
                raise ValueError(f"learnable temperature init {cfg.init} is outside [{cfg.min}, {cfg.max}]")
            self.log_tau = nn.Parameter(torch.tensor(math.log(cfg.init)))

    def forward(self, step: int) -> torch.Tensor:
        """tau at ``step`` as a 0-dim tensor (in the autograd graph when learnable)."""
        if self.mode != "learnable":
            return torch.tensor(self.value(step))
        with torch.no_grad():
            self.log_tau.clamp_(math.log(self.low), math.log(self.high))
        return self.log_tau.exp()

    def value(self, step: int) -> float:
        """tau at ``step`` as a float, outside the graph and without touching the parameter."""
        if self.mode == "learnable":
            return min(max(math.exp(float(self.log_tau.detach())), self.low), self.high)
        if self.mode == "scheduled":
            return cosine_schedule(step, start=self.init, end=self.final, total_steps=self.total_steps)
        return self.init
