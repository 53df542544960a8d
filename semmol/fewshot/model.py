"""Meta-MM's model: several views of a molecule fused by learned weights, and a classifier head.

The views (by default SMILES, 2D graph, 3D geometry and the graph-attention view) are the
shared encoders' L2-normalised projections; the fused embedding is ``sum_v softmax(w)_v z_v``
over the views a molecule has (a missing conformer drops its view and renormalises the
weights). Training adds ``w_infonce`` times the InfoNCE between consecutive views, which keeps
the views of one molecule in agreement. The head maps the fused embedding to one logit per task;
the forward pass returns the logits with the view contrast, so that a loss (the inner loop's
included) can weigh both.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn
from torch_geometric.data import Batch

from semmol.methods.shared.view_fusion import WeightedViewFusion
from semmol.models.layers import mlp
from semmol.models.multimodal import MultiModalEncoder


class Prediction(NamedTuple):
    """A batch's ``logits [B, n_tasks]`` and the scalar view ``contrast`` of its molecules."""

    logits: torch.Tensor
    contrast: torch.Tensor


class FusionClassifier(nn.Module):
    """See the module docstring.

    Args:
        encoder: encoders of (at least) ``views``.
        views: the fused views, in order (consecutive pairs are contrasted).
        n_tasks: logits per molecule.
        hidden: hidden size of the head; default 128.
    """

    def __init__(self, encoder: MultiModalEncoder, *, views: list[str], n_tasks: int, hidden: int = 128):
        super().__init__()
        self.encoder, self.views = encoder, list(views)
        self.fusion = WeightedViewFusion(self.views)
        self.head = mlp(encoder.cfg.proj_dim, hidden, n_tasks)

    def embed(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        """``(fused [B, proj_dim], view contrast)``: see :class:`~semmol.methods.shared.view_fusion.WeightedViewFusion`."""
        return self.fusion(self.encoder(batch, modalities=self.views))

    def forward(self, batch: Batch) -> Prediction:
        """The logits and the view contrast of ``batch``."""
        fused, contrast = self.embed(batch)
        return Prediction(self.head(fused), contrast)
