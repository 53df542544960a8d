"""Anchor-Center Soft Matching (ACSM): a soft positive and hard negatives from a center library.

For an anchor ``a`` and the centers ``C`` of one target modality, with similarities ``s = a . C``:

- the soft positive is ``normalize(sum_k w_k c_k)`` over the top-M centers, with
  ``w = softmax(s_topM / tau)`` (or uniform weights; M = 1 is hard assignment); the fused
  positive of several libraries normalises the sum of their un-normalised ``sum_k w_k c_k``
  (the reference's ``normalize(p_2D + p_3D)``);
- the hard negatives are the centers outside the top-M with ``s >= delta``, most similar
  first, at most ``max_negatives``;
- with a ``guide`` (``semantic.positive_from: target``, not the reference), the top-M centers
  and their weights come from the guide's similarities (the molecule's own target view,
  detached) instead of the anchor's; the hard negatives are still ranked by ``s``;
- the pseudo-pair loss is ``logsumexp([a.p, a.n_1, ...] / tau_L) - a.p / tau_L`` for rows that
  have at least one negative;
- the alignment loss is ``(a - p)^2`` averaged over the feature dimension (the reference), or
  summed (``= 2 - 2 a.p`` for unit vectors).

The centers are never differentiated; gradients reach the anchor (directly and through the
softmax weights) and ``tau``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F

from semmol.methods.shared.kmeans import top_k_inner_product


@dataclass(frozen=True)
class SoftMatch:
    """The result of matching a batch of anchors against one library.

    Attributes:
        positive: ``[B, dim]`` unit-norm soft positives (differentiable w.r.t. anchor and tau).
        weighted_sum: ``[B, dim]`` ``sum_k w_k c_k`` before normalisation (what fusion adds up).
        top_indices: ``[B, M]`` the top-M centers, most similar first.
        weights: ``[B, M]`` their weights (rows sum to 1).
        negative_indices: ``[B, N]`` the next ``N <= max_negatives`` centers, most similar first.
        negative_sims: ``[B, N]`` ``a . n`` (differentiable w.r.t. the anchor).
        negative_mask: ``[B, N]`` bool, True where that center is a hard negative (``s >= delta``).
    """

    positive: torch.Tensor
    weighted_sum: torch.Tensor
    top_indices: torch.Tensor
    weights: torch.Tensor
    negative_indices: torch.Tensor
    negative_sims: torch.Tensor
    negative_mask: torch.Tensor


def soft_match(
    anchor: torch.Tensor,
    centers: torch.Tensor,
    *,
    top_m: int,
    tau: torch.Tensor | float,
    weighting: Literal["softmax", "uniform"],
    delta: float,
    max_negatives: int,
    faiss_min_size: int,
    guide: torch.Tensor | None = None,
) -> SoftMatch:
    """Soft positive and hard negatives of each anchor row (see the module docstring).

    Args:
        anchor: ``[B, dim]`` L2-normalised anchor features.
        centers: ``[K, dim]`` unit-norm centers (treated as constants).
        guide: ``[B, dim]`` L2-normalised features that choose and weight the top-M centers
            (treated as constants); None (the reference): the anchor itself.
        top_m: M, centers forming the positive (``<= K``).
        tau: temperature of the softmax weights (a tensor for a learnable tau).
        weighting: ``softmax`` or ``uniform``.
        delta: minimum similarity of a hard negative.
        max_negatives: most hard negatives per row (0: none).
        faiss_min_size: see :func:`~semmol.methods.semmol.library.top_k_inner_product`.
    """
    n_centers = centers.shape[0]
    if not 1 <= top_m <= n_centers:
        raise ValueError(f"top_m must be between 1 and the number of centers ({n_centers}), got {top_m}")
    centers = centers.detach()
    if guide is None:
        candidates = min(n_centers, top_m + max_negatives)
        _, indices = top_k_inner_product(anchor, centers, candidates, faiss_min_size=faiss_min_size)
    else:
        guide = guide.detach()
        indices = _guided_candidates(anchor, guide, centers, top_m, max_negatives, faiss_min_size)
    vectors = centers[indices]  # [B, candidates, dim]
    sims = (anchor.unsqueeze(1) * vectors).sum(-1)
    top_sims = sims[:, :top_m] if guide is None else (guide.unsqueeze(1) * vectors[:, :top_m]).sum(-1)
    if weighting == "softmax":
        weights = torch.softmax(top_sims / tau, dim=1)
    elif weighting == "uniform":
        weights = torch.full_like(top_sims, 1.0 / top_m)
    else:
        raise ValueError(f"unknown weighting '{weighting}' (expected 'softmax' or 'uniform')")
    weighted_sum = (weights.unsqueeze(-1) * vectors[:, :top_m]).sum(1)
    negative_sims = sims[:, top_m:]
    return SoftMatch(
        positive=F.normalize(weighted_sum, dim=1),
        weighted_sum=weighted_sum,
        top_indices=indices[:, :top_m],
        weights=weights,
        negative_indices=indices[:, top_m:],
        negative_sims=negative_sims,
        negative_mask=negative_sims.detach() >= delta,
    )


def _guided_candidates(
    anchor: torch.Tensor,
    guide: torch.Tensor,
    centers: torch.Tensor,
    top_m: int,
    max_negatives: int,
    faiss_min_size: int,
) -> torch.Tensor:
    """``[B, M + N]``: the guide's top-M centers, then the anchor's most similar other centers."""
    _, positives = top_k_inner_product(guide, centers, top_m, faiss_min_size=faiss_min_size)
    n_negatives = min(max_negatives, centers.shape[0] - top_m)
    if n_negatives == 0:
        return positives
    anchor_sims = (anchor.detach() @ centers.T).scatter(1, positives, float("-inf"))
    negatives = torch.topk(anchor_sims, n_negatives, dim=1).indices
    return torch.cat([positives, negatives], dim=1)


def pseudo_pair_loss(
    anchor: torch.Tensor,
    positive: torch.Tensor,
    negative_sims: torch.Tensor,
    negative_mask: torch.Tensor,
    *,
    temperature: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-row ``logsumexp([a.p, negatives] / T) - a.p / T`` over the masked-in negatives.

    Args:
        anchor: ``[B, dim]``.
        positive: ``[B, dim]`` soft positives.
        negative_sims: ``[B, N]`` anchor-negative similarities (hard negatives, bank entries).
        negative_mask: ``[B, N]`` bool, which of them count.
        temperature: tau_L.

    Returns:
        ``(loss [B], has_negative [B] bool)``; rows without a negative have loss 0 and
        should be left out of the mean.
    """
    positive_logit = (anchor * positive).sum(-1, keepdim=True) / temperature
    negative_logits = (negative_sims / temperature).masked_fill(~negative_mask, float("-inf"))
    logits = torch.cat([positive_logit, negative_logits], dim=1)
    return torch.logsumexp(logits, dim=1) - positive_logit[:, 0], negative_mask.any(dim=1)


def alignment_loss(
    anchor: torch.Tensor, positive: torch.Tensor, *, reduction: Literal["mean", "sum"]
) -> torch.Tensor:
    """Per-row ``(a - p)^2`` averaged (``mean``) or summed (``sum``) over the feature dimension."""
    squared = (anchor - positive).pow(2)
    if reduction == "mean":
        return squared.mean(-1)
    if reduction == "sum":
        return squared.sum(-1)
    raise ValueError(f"unknown reduction '{reduction}' (expected 'mean' or 'sum')")


def fuse_positives(matches: list[SoftMatch], usable: list[torch.Tensor] | None = None) -> torch.Tensor:
    """``normalize(sum_m sum_k w_mk c_mk)``: one unit positive from several libraries' matches.

    Args:
        matches: one match per library.
        usable: per match, ``[B]`` bool rows whose match counts (default: all); a row none of
            whose matches counts gets a zero vector.
    """
    sums = [match.weighted_sum for match in matches]
    if usable is not None:
        sums = [torch.where(rows[:, None], weighted, 0.0) for weighted, rows in zip(sums, usable, strict=True)]
    return F.normalize(torch.stack(sums).sum(0), dim=1)
