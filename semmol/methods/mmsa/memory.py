"""Memory anchors: ``M`` typical representations that every refined embedding is aligned with.

Each embedding ``r`` (unit norm) is softly assigned to the anchors, ``p = softmax(cos(r, A) / t)``;
its anchor target is ``a = normalize(p @ A)`` and the alignment loss is ``1 - cos(r, a)``,
averaged over the global batch. This is how knowledge that holds across molecules (the
anchors summarise the corpus) enters each molecule's representation.

Two ways to keep the anchors (``update``):

- ``ema``: buffers, initialised by the shared spherical k-means on the first global batch,
  then after each step moved towards the soft means of the embeddings assigned to them,
  ``A_j <- normalize(beta A_j + (1 - beta) S_j / c_j)`` with ``S_j = sum_i p_ij r_i`` and
  ``c_j = sum_i p_ij`` all-reduced over ranks (every rank holds the same anchors, and two
  processes follow one);
- ``learned``: a parameter, initialised at random on the sphere and trained by the loss.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from semmol.methods.shared.gather import gather_rows_by_key
from semmol.methods.shared.kmeans import spherical_kmeans
from semmol.runtime.distributed import all_reduce_sum, global_mean

#: Spherical Lloyd iterations of the initial clustering (``ema``).
INIT_ITERS = 10


class MemoryAnchors(nn.Module):
    """The anchors and their alignment loss; see the module docstring.

    Args:
        n_anchors: ``M``.
        dim: embedding size.
        update: ``"ema"`` or ``"learned"``.
        momentum: ``beta`` of the EMA update.
        temperature: ``t`` of the soft assignment.
        seed: seed of the initial clustering (``ema``).
    """

    def __init__(
        self, *, n_anchors: int, dim: int, update: str, momentum: float, temperature: float, seed: int
    ):
        super().__init__()
        if update not in ("ema", "learned"):
            raise ValueError(f"memory anchors are 'ema' or 'learned', got '{update}'")
        self.n_anchors, self.update_mode = n_anchors, update
        self.momentum, self.temperature, self.seed = momentum, temperature, seed
        if update == "learned":
            self.anchors = nn.Parameter(F.normalize(torch.randn(n_anchors, dim), dim=1))
            self.register_buffer("initialised", torch.tensor(True))
        else:
            self.register_buffer("anchors", torch.zeros(n_anchors, dim))
            self.register_buffer("initialised", torch.tensor(False))

    def assignment(self, embeddings: torch.Tensor) -> torch.Tensor:
        """``[B, M]``: soft assignment of unit-norm ``embeddings`` to the (normalised) anchors."""
        return torch.softmax(embeddings @ F.normalize(self.anchors, dim=1).T / self.temperature, dim=1)

    def forward(self, embeddings: torch.Tensor, keys: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        """This rank's share of the global mean alignment loss, then (``ema``) the anchor update.

        A collective: every rank calls it once per step.

        Args:
            embeddings: ``[B, dim]`` unit-norm refined embeddings (gradients flow into them).
            keys: ``[B]`` int64 molecule keys (the initial clustering sorts the global batch by them).

        Returns:
            ``(loss, logs)``: logs ``memory_entropy`` (entropy of the batch's mean assignment /
            log M: 1 when every anchor is used alike) and ``memory_confidence`` (mean largest
            assignment), equal on every rank.
        """
        if not bool(self.initialised):
            self._initialise(embeddings, keys)
        weights = self.assignment(embeddings)
        target = F.normalize(weights @ F.normalize(self.anchors, dim=1), dim=1)
        per_row = 1.0 - (embeddings * target).sum(dim=1)
        loss = global_mean(per_row.sum(), per_row.numel())
        detached = weights.detach()
        confidence = detached.max(dim=1).values.sum().reshape(1)
        stats = all_reduce_sum(
            torch.cat([detached.sum(dim=0), confidence, detached.new_tensor([len(detached)])])
        )
        usage, confidence, rows = stats[:-2], float(stats[-2]), float(stats[-1])
        if self.update_mode == "ema":
            self._ema_update(embeddings.detach(), detached)
        share = usage / usage.sum().clamp_min(1e-12)
        entropy = float(-(share * share.clamp_min(1e-12).log()).sum()) / math.log(max(self.n_anchors, 2))
        return loss, {"memory_entropy": entropy, "memory_confidence": confidence / max(rows, 1.0)}

    @torch.no_grad()
    def _initialise(self, embeddings: torch.Tensor, keys: torch.Tensor) -> None:
        rows, _ = gather_rows_by_key(embeddings, keys, torch.ones_like(keys, dtype=torch.bool))
        if rows.shape[0] < self.n_anchors:
            raise ValueError(
                f"mmsa.n_memories ({self.n_anchors}) exceeds the global batch ({rows.shape[0]}); "
                "the EMA anchors start from a clustering of the first batch"
            )
        centers = spherical_kmeans(
            rows, self.n_anchors, iters=INIT_ITERS, seed=self.seed, faiss_min_size=1 << 62
        )
        self.anchors.copy_(centers.to(self.anchors.device))
        self.initialised.fill_(True)

    @torch.no_grad()
    def _ema_update(self, embeddings: torch.Tensor, weights: torch.Tensor) -> None:
        stats = all_reduce_sum(torch.cat([weights.T @ embeddings, weights.sum(dim=0, keepdim=True).T], dim=1))
        sums, mass = stats[:, :-1], stats[:, -1]
        moved = mass > 1e-6
        means = sums[moved] / mass[moved, None]
        self.anchors[moved] = F.normalize(
            self.momentum * self.anchors[moved] + (1 - self.momentum) * means, dim=1
        )
