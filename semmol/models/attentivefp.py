"""Graph-attention view: torch_geometric's AttentiveFP over the shard's atom and bond features.

AttentiveFP (Xiong et al. 2020) attends over each atom's neighbours in ``layers`` GRU-gated
steps, then over the atoms of the molecule in ``timesteps`` readout steps: a second, local and
attention-based 2D view beside the message-passing ``graph2d`` encoder (Meta-MM fuses both).
Atoms and bonds enter as embedded categorical features, as in every semmol encoder.
"""

from __future__ import annotations

import torch
from torch import nn
from torch_geometric.data import Batch
from torch_geometric.nn.models import AttentiveFP

from semmol.config import GraphAttentionEncoderConfig
from semmol.data.feature_sizes import ATOM_FEATURE_SIZES, BOND_FEATURE_SIZES
from semmol.models.base import EncoderOutput
from semmol.models.corruption import CorruptionKey
from semmol.models.layers import CategoricalEncoder


class GraphAttentionEncoder(nn.Module):
    """``hidden`` ``[B, dim]`` from AttentiveFP; every molecule is valid; no reconstruction loss.

    Args:
        cfg: ``model.graph_attention`` options (dim, layers, timesteps, dropout).
    """

    def __init__(self, cfg: GraphAttentionEncoderConfig):
        super().__init__()
        self.dim = cfg.dim
        self.atom_encoder = CategoricalEncoder(ATOM_FEATURE_SIZES, cfg.dim)
        self.bond_encoder = CategoricalEncoder(BOND_FEATURE_SIZES, cfg.dim)
        self.attentive_fp = AttentiveFP(
            in_channels=cfg.dim,
            hidden_channels=cfg.dim,
            out_channels=cfg.dim,
            edge_dim=cfg.dim,
            num_layers=cfg.layers,
            num_timesteps=cfg.timesteps,
            dropout=cfg.dropout,
        )

    def forward(self, batch: Batch, corrupt: CorruptionKey | None = None) -> EncoderOutput:
        hidden = self.attentive_fp(
            self.atom_encoder(batch.x), batch.edge_index, self.bond_encoder(batch.edge_attr), batch.batch
        )
        valid = torch.ones(batch.num_graphs, dtype=torch.bool, device=hidden.device)
        return EncoderOutput(hidden=hidden, valid=valid)
