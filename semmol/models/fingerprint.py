"""Fingerprint encoder: an MLP over the stored ECFP bits."""

from __future__ import annotations

import torch
from torch import nn
from torch_geometric.data import Batch

from semmol.config import FingerprintEncoderConfig
from semmol.models.base import EncoderOutput
from semmol.models.corruption import CorruptionKey
from semmol.models.layers import mlp


class FingerprintMLP(nn.Module):
    """MLP over ``batch.ecfp`` ``[B, bits]`` (0/1) -> ``hidden`` ``[B, dim]``. No reconstruction loss.

    Args:
        cfg: ``model.fingerprint`` options (dim, layers, dropout).
        ecfp_bits: fingerprint length stored in the shards.
    """

    def __init__(self, cfg: FingerprintEncoderConfig, *, ecfp_bits: int):
        super().__init__()
        self.dim = cfg.dim
        self.net = mlp(ecfp_bits, cfg.dim, cfg.dim, layers=max(1, cfg.layers), dropout=cfg.dropout)

    def forward(self, batch: Batch, corrupt: CorruptionKey | None = None) -> EncoderOutput:
        hidden = self.net(batch.ecfp)
        valid = torch.ones(hidden.shape[0], dtype=torch.bool, device=hidden.device)
        return EncoderOutput(hidden=hidden, valid=valid)
