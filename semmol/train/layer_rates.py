"""Layer-wise learning rates inside an encoder (discriminative fine-tuning, Howard & Ruder 2018).

Lower layers hold the most general features; fine-tuning moves them least. An encoder's depth
is measured, not declared, so that every encoder gets it the same way: its modules are ordered
by when they first run in a forward pass, and a parameter's depth is the number of the
encoder's parameters that run before its module, scaled so that the first module to run is at
0 and the last at 1. Counting parameters rather than modules keeps the many small embedding
tables of an atom encoder together near 0.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn


def parameter_depths(module: nn.Module, run: Callable[[], object]) -> dict[int, float]:
    """Each parameter's depth in ``module`` (keyed by ``id``), from 0 (runs first) to 1.

    Args:
        module: the encoder.
        run: calls ``module`` once on a real input (under ``torch.no_grad``; put the module in
            eval mode first so that no random number is drawn).

    A parameter whose module does not run in ``run`` (a pretraining-only head) or that is read
    without calling its module gets depth 1: it is not below anything that ran.
    """
    order: dict[int, nn.Module] = {}  # by id, in the order of first call

    def record(called: nn.Module, _args) -> None:
        order.setdefault(id(called), called)

    owners = [m for m in module.modules() if next(m.parameters(recurse=False), None) is not None]
    handles = [owner.register_forward_pre_hook(record) for owner in owners]
    try:
        with torch.no_grad():
            run()
    finally:
        for handle in handles:
            handle.remove()
    sizes = [sum(p.numel() for p in owner.parameters(recurse=False)) for owner in order.values()]
    last_start, before = sum(sizes[:-1]), 0
    depths: dict[int, float] = {}
    for owner, size in zip(order.values(), sizes):
        for param in owner.parameters(recurse=False):
            depths[id(param)] = before / last_start if last_start else 1.0
        before += size
    for param in module.parameters():
        depths.setdefault(id(param), 1.0)
    return depths


def rate_factor(depth: float, *, ratio: float) -> float:
    """The learning-rate factor at ``depth``: ``ratio`` at the input (0), 1 at the output (1),
    geometric in between."""
    return ratio ** (1.0 - depth)
