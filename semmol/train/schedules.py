"""Learning-rate schedules shared by the pretraining and fine-tuning loops."""

from __future__ import annotations

import math


def warmup_cosine(step: int, *, warmup: int, total: int) -> float:
    """Learning-rate factor: linear warm-up to 1, then cosine decay to 0 at ``total``."""
    if step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


def lr_factor(step: int, *, schedule: str, warmup: int, total: int, start: int = 0) -> float:
    """The fine-tuning learning-rate factor at optimizer ``step``: 0 before ``start`` (a frozen
    parameter group), then 1 (``constant``) or :func:`warmup_cosine` run from ``start`` to ``total``
    (``warmup_cosine``)."""
    if step < start:
        return 0.0
    if schedule == "constant":
        return 1.0
    return warmup_cosine(step - start, warmup=warmup, total=total - start)
