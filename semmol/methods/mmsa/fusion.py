"""The multi-modal module of MMSA: the views of a molecule fused into one embedding, and each
view reconstructed from the fusion.

Fusion is attention over the available views: each view's projection gets a score
``w . tanh(W z)``, the scores of missing views (e.g. no conformer) are masked, and the fused
embedding is ``normalize(MLP(sum softmax(scores) z))``. The reconstruction heads map the
fused embedding back to each view's projection, so the fusion keeps what every view knows.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from semmol.models.layers import mlp


class AttentionFusion(nn.Module):
    """Masked attention pooling over views, then an MLP; see the module docstring.

    Args:
        dim: size of each view's projection and of the fused embedding.
        modalities: the views, in a fixed order.
    """

    def __init__(self, dim: int, *, modalities: list[str]):
        super().__init__()
        self.modalities = list(modalities)
        self.score = nn.Sequential(nn.Linear(dim, dim), nn.Tanh(), nn.Linear(dim, 1, bias=False))
        self.out = mlp(dim, dim, dim)

    def forward(
        self, views: dict[str, tuple[torch.Tensor, torch.Tensor]]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(fused [B, dim] L2-normalised, weights [B, views])`` from ``{view: (z [B, dim], valid [B])}``.

        A molecule needs at least one valid view; its weights over missing views are 0.
        """
        z = torch.stack([views[m][0] for m in self.modalities], dim=1)  # [B, V, dim]
        valid = torch.stack([views[m][1] for m in self.modalities], dim=1)  # [B, V]
        if not bool(valid.any(dim=1).all()):
            raise ValueError("every molecule needs at least one valid view to fuse")
        scores = self.score(z).squeeze(-1).masked_fill(~valid, float("-inf"))
        weights = torch.softmax(scores, dim=1)
        pooled = (weights.unsqueeze(-1) * z).sum(dim=1)
        return F.normalize(self.out(pooled), dim=-1), weights


class ViewReconstruction(nn.Module):
    """Per view, an MLP from the fused embedding to that view's projection.

    The loss per (molecule, valid view) is ``1 - cos(head(fused), z.detach())``: the views are
    the targets, so reconstruction trains the fusion and not the views towards it.

    Args:
        dim: embedding size.
        modalities: the views.
    """

    def __init__(self, dim: int, *, modalities: list[str]):
        super().__init__()
        self.heads = nn.ModuleDict({m: mlp(dim, dim, dim) for m in modalities})

    def forward(
        self, fused: torch.Tensor, views: dict[str, tuple[torch.Tensor, torch.Tensor]]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(sum of the per-pair losses, number of pairs)`` over this batch."""
        total, count = fused.new_zeros(()), fused.new_zeros(())
        for modality, head in self.heads.items():
            z, valid = views[modality]
            cosine = F.cosine_similarity(head(fused), z.detach(), dim=-1)
            total = total + (1.0 - cosine)[valid].sum()
            count = count + valid.sum()
        return total, count
