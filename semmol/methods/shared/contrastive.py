"""Symmetric cross-modal InfoNCE over the global batch.

Row ``i`` of the anchor view and row ``i`` of the target view are the same molecule (the
positive); every other valid row of the *global* batch is a negative. Rows whose target view
is missing (``valid = False``, e.g. no 3D conformer) are neither anchors nor negatives.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch

from semmol.models.multimodal import ModalityOutput
from semmol.runtime.distributed import all_gather, gather_with_grad, global_mean, rank


def _one_direction(
    queries: torch.Tensor,
    candidates: torch.Tensor,
    positives: torch.Tensor,
    allowed: torch.Tensor,
    temperature: float,
) -> torch.Tensor:
    """Per-query ``logsumexp(logits over allowed) - logit of the positive``."""
    logits = (queries @ candidates.T / temperature).masked_fill(~allowed, float("-inf"))
    rows = torch.arange(queries.shape[0], device=queries.device)
    return torch.logsumexp(logits, dim=1) - logits[rows, positives]


def infonce_loss(
    anchor: torch.Tensor,
    target: torch.Tensor,
    valid: torch.Tensor,
    keys: torch.Tensor | None = None,
    *,
    temperature: float,
) -> torch.Tensor:
    """InfoNCE anchor->target and target->anchor, averaged, with all valid global rows as negatives.

    Every rank must hold the same number of rows. Returns this rank's share of the mean over
    the valid rows of the global batch (``world_size * local_sum / global_count``, see
    :func:`semmol.runtime.distributed.global_mean`), zero (still in the graph) when no row is valid.

    Args:
        anchor: ``[B, dim]`` L2-normalised anchor projections.
        target: ``[B, dim]`` L2-normalised target projections of the same molecules.
        valid: ``[B]`` bool, rows that take part.
        keys: ``[B]`` int64 molecule keys, optional (default None); when given, another row of
            the same molecule (a repeat in the global batch) is not a negative.
        temperature: softmax temperature, ``> 0``.
    """
    if temperature <= 0:
        raise ValueError(f"InfoNCE temperature must be > 0, got {temperature}")
    if anchor.ndim != 2 or target.shape != anchor.shape or valid.shape != (anchor.shape[0],):
        raise ValueError(
            f"expected anchor and target [B, dim] and valid [B], got {tuple(anchor.shape)}, "
            f"{tuple(target.shape)} and {tuple(valid.shape)}"
        )
    with torch.autocast(device_type=anchor.device.type, enabled=False):  # logits in float32
        anchor, target = anchor.float(), target.float()
        all_anchor, all_target = gather_with_grad(anchor), gather_with_grad(target)
        allowed = all_gather(valid.to(torch.uint8)).bool().unsqueeze(0)  # [1, G]
        rows = torch.nonzero(valid).flatten()
        positives = rows + rank() * anchor.shape[0]  # global index of each local row
        if keys is not None:
            all_keys = all_gather(keys.long())
            same_molecule = keys.long()[rows, None] == all_keys[None, :]
            same_molecule[torch.arange(rows.numel(), device=rows.device), positives] = False
            allowed = allowed & ~same_molecule
        forward = _one_direction(anchor[rows], all_target, positives, allowed, temperature)
        backward = _one_direction(target[rows], all_anchor, positives, allowed, temperature)
        return global_mean(0.5 * (forward + backward).sum(), rows.numel())


def view_pairs_infonce(
    outputs: dict[str, ModalityOutput], pairs: Iterable[tuple[str, str]], *, temperature: float
) -> torch.Tensor:
    """The mean over ``pairs`` of views of :func:`infonce_loss` between their projections, over
    the molecules that have both views."""
    terms = [
        infonce_loss(
            outputs[a].projected,
            outputs[b].projected,
            outputs[a].valid & outputs[b].valid,
            temperature=temperature,
        )
        for a, b in pairs
    ]
    return torch.stack(terms).mean()
