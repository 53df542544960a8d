"""Encoders of per-molecule vectors stored in the shards: ECFP bits and RDKit descriptors."""

from __future__ import annotations

import torch
from torch import nn
from torch_geometric.data import Batch

from semmol.config import VectorEncoderConfig
from semmol.models.base import EncoderOutput
from semmol.models.corruption import CorruptionKey
from semmol.models.layers import mlp


class VectorMLP(nn.Module):
    """MLP over ``batch.<field>`` ``[B, width]`` -> ``hidden`` ``[B, dim]``. No reconstruction loss.

    Args:
        cfg: the encoder's options (dim, layers, dropout).
        field: the batch attribute holding the vector (``"ecfp"``, ``"descriptors"``).
        width: the vector's length.
        normalize_input: LayerNorm the input first (for real-valued features of mixed scale);
            default False.
    """

    def __init__(self, cfg: VectorEncoderConfig, *, field: str, width: int, normalize_input: bool = False):
        super().__init__()
        self.dim, self.field = cfg.dim, field
        self.input_norm = nn.LayerNorm(width) if normalize_input else nn.Identity()
        self.net = mlp(width, cfg.dim, cfg.dim, layers=max(1, cfg.layers), dropout=cfg.dropout)

    def forward(self, batch: Batch, corrupt: CorruptionKey | None = None) -> EncoderOutput:
        hidden = self.net(self.input_norm(getattr(batch, self.field)))
        valid = torch.ones(hidden.shape[0], dtype=torch.bool, device=hidden.device)
        return EncoderOutput(hidden=hidden, valid=valid)
