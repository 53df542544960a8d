"""Meta-MM's model: several views of a molecule fused by learned weights, and a classifier head.

The views (by default SMILES, 2D graph, 3D geometry and the graph-attention view) are the
shared encoders' L2-normalised projections; the fused embedding is ``sum_v softmax(w)_v z_v``
over the views a molecule has (a missing conformer drops its view and renormalises the
weights). Training adds ``w_infonce`` times the InfoNCE between consecutive views, which keeps
the views of one molecule in agreement. The head maps the fused embedding to one logit per task.
"""

from __future__ import annotations

import torch
from torch import nn
from torch_geometric.data import Batch

from semmol.methods.shared.contrastive import infonce_loss
from semmol.models.layers import mlp
from semmol.models.multimodal import MultiModalEncoder


class FusionClassifier(nn.Module):
    """See the module docstring.

    Args:
        encoder: encoders of (at least) ``views``.
        views: the fused views, in order (consecutive pairs are contrasted).
        n_tasks: logits per molecule.
        hidden: hidden size of the head; default 128.
        temperature: InfoNCE temperature; default 0.1.
    """

    def __init__(
        self,
        encoder: MultiModalEncoder,
        *,
        views: list[str],
        n_tasks: int,
        hidden: int = 128,
        temperature: float = 0.1,
    ):
        super().__init__()
        self.encoder, self.views, self.temperature = encoder, list(views), temperature
        self.fusion_logits = nn.Parameter(torch.zeros(len(views)))
        self.head = mlp(encoder.cfg.proj_dim, hidden, n_tasks)

    def embed(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        """``(fused [B, proj_dim], view contrast)``: the weighted fusion and the mean InfoNCE
        between consecutive views (0 with one view)."""
        outputs = self.encoder(batch, modalities=self.views)
        z = torch.stack([outputs[v].projected for v in self.views], dim=1)  # [B, V, d]
        valid = torch.stack([outputs[v].valid for v in self.views], dim=1)  # [B, V]
        weights = torch.softmax(self.fusion_logits, dim=0).expand_as(valid) * valid
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
        contrast = torch.stack(pairs).mean() if pairs else fused.new_zeros(())
        return fused, contrast

    def forward(self, batch: Batch) -> torch.Tensor:
        """``[B, n_tasks]`` logits."""
        fused, _ = self.embed(batch)
        return self.head(fused)
