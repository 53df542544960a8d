"""Weighted view fusion: several views' projections averaged with learned weights, and the
contrast between consecutive views that keeps one molecule's views in agreement (Meta-MM)."""

from __future__ import annotations

import torch
from torch import nn

from semmol.methods.shared.contrastive import infonce_loss
from semmol.models.multimodal import ModalityOutput


class WeightedViewFusion(nn.Module):
    """``sum_v softmax(w)_v z_v`` over the views a molecule has (a missing view drops out and the
    weights are renormalised), and the mean InfoNCE between consecutive views.

    Args:
        views: the fused views, in order (consecutive pairs are contrasted).
        temperature: InfoNCE temperature; default 0.1.
    """

    def __init__(self, views: list[str], *, temperature: float = 0.1):
        super().__init__()
        self.views, self.temperature = list(views), temperature
        self.logits = nn.Parameter(torch.zeros(len(self.views)))

    def forward(self, outputs: dict[str, ModalityOutput]) -> tuple[torch.Tensor, torch.Tensor]:
        """``(fused [B, proj_dim], contrast)``; the contrast is 0 with one view."""
        z = torch.stack([outputs[v].projected for v in self.views], dim=1)  # [B, V, d]
        valid = torch.stack([outputs[v].valid for v in self.views], dim=1)  # [B, V]
        weights = torch.softmax(self.logits, dim=0).expand_as(valid) * valid
        weights = weights / weights.sum(dim=1, keepdim=True).clamp_min(1e-12)
        fused = (weights.unsqueeze(-1) * z).sum(dim=1)
        pairs = [
            infonce_loss(
                outputs[a].projected,
                outputs[b].projected,
                outputs[a].valid & outputs[b].valid,
                temperature=self.temperature,
            )
            for a, b in zip(self.views, self.views[1:])
        ]
        return fused, torch.stack(pairs).mean() if pairs else fused.new_zeros(())
