"""Global graph view: a GPS graph transformer (Rampasek et al. 2022) over atoms and bonds.

Each layer (torch_geometric's ``GPSConv``) adds a local GINE message-passing update and a
global multi-head attention update over every atom of the molecule, so an atom sees atoms
far along the bond graph in one layer; LGM-CL contrasts this global view with AttentiveFP's
local one. Atoms carry a random-walk structural encoding (the probability of returning to the
atom after 1..``walk_length`` steps), which tells the attention where an atom sits in the graph.
"""

from __future__ import annotations

import torch
from torch import nn
from torch_geometric.data import Batch
from torch_geometric.nn import GINEConv, GPSConv
from torch_geometric.utils import to_dense_adj, to_dense_batch

from semmol.config import GraphTransformerEncoderConfig
from semmol.data.feature_sizes import ATOM_FEATURE_SIZES, BOND_FEATURE_SIZES
from semmol.models.base import EncoderOutput
from semmol.models.corruption import CorruptionKey
from semmol.models.layers import CategoricalEncoder, mlp, pool_graphs


def random_walk_returns(edge_index: torch.Tensor, batch: torch.Tensor, *, steps: int) -> torch.Tensor:
    """``[N, steps]``: for each atom, the probability that a uniform random walk from it is back
    after ``1..steps`` steps (0 for an isolated atom), per molecule of the batch.

    Args:
        edge_index: ``[2, E]`` bonds in both directions.
        batch: ``[N]`` molecule of each atom (sorted, as PyG batches are).
        steps: walk lengths.
    """
    adjacency = to_dense_adj(edge_index, batch)  # [B, n, n]: molecules are small
    _, mask = to_dense_batch(batch, batch)
    transition = adjacency / adjacency.sum(-1, keepdim=True).clamp_min(1.0)
    power, returns = transition, []
    for _ in range(steps):
        returns.append(power.diagonal(dim1=-2, dim2=-1))
        power = power @ transition
    return torch.stack(returns, dim=-1)[mask]


class GraphTransformerEncoder(nn.Module):
    """``hidden`` ``[B, dim]``: mean over atoms of the last GPS layer; every molecule is valid.

    Args:
        cfg: ``model.graph_global`` options (dim, layers, heads, walk_length, dropout).
    """

    def __init__(self, cfg: GraphTransformerEncoderConfig):
        super().__init__()
        self.cfg, self.dim = cfg, cfg.dim
        self.atom_encoder = CategoricalEncoder(ATOM_FEATURE_SIZES, cfg.dim)
        self.bond_encoder = CategoricalEncoder(BOND_FEATURE_SIZES, cfg.dim)
        self.walk_encoder = nn.Linear(cfg.walk_length, cfg.dim)
        self.layers = nn.ModuleList(
            GPSConv(
                cfg.dim,
                GINEConv(mlp(cfg.dim, cfg.dim, cfg.dim), edge_dim=cfg.dim),
                heads=cfg.heads,
                dropout=cfg.dropout,
                attn_type="multihead",
                norm="layer_norm",  # batch norm would need synced statistics under DDP
            )
            for _ in range(cfg.layers)
        )

    def forward(self, batch: Batch, corrupt: CorruptionKey | None = None) -> EncoderOutput:
        walks = random_walk_returns(batch.edge_index, batch.batch, steps=self.cfg.walk_length)
        h = self.atom_encoder(batch.x) + self.walk_encoder(walks)
        edges = self.bond_encoder(batch.edge_attr)
        for layer in self.layers:
            h = layer(h, batch.edge_index, batch.batch, edge_attr=edges)
        hidden = pool_graphs(h, batch.batch, size=batch.num_graphs, how="mean")
        valid = torch.ones(batch.num_graphs, dtype=torch.bool, device=hidden.device)
        return EncoderOutput(hidden=hidden, valid=valid)
