"""2D graph encoder: GIN/GINE message passing over the shard's atom and bond features."""

from __future__ import annotations

import torch
from torch import nn
from torch_geometric.data import Batch
from torch_geometric.nn import GINConv, GINEConv

from semmol.config import Graph2DEncoderConfig
from semmol.data.feature_sizes import ATOM_FEATURE_SIZES, BOND_FEATURE_SIZES
from semmol.models.base import EncoderOutput
from semmol.models.corruption import STREAM_ATOM_MASK, CorruptionKey
from semmol.models.layers import CategoricalEncoder, mlp, node_positions, pool_graphs
from semmol.runtime.distributed import global_mean


class AtomMasking(nn.Module):
    """Masked-atom pretraining of a 2D encoder: a ``mask_prob`` share of the atoms, drawn per
    molecule and atom from the corruption key, get a learned mask embedding instead of their
    features, and their element is predicted back from the final atom states (cross-entropy
    over the atomic-number vocabulary, a mean over the global batch).

    Args:
        dim: atom embedding size.
        mask_prob: share of atoms masked.
    """

    def __init__(self, dim: int, *, mask_prob: float):
        super().__init__()
        self.mask_prob = mask_prob
        self.mask_embedding = nn.Parameter(torch.zeros(dim))
        self.atom_head = nn.Linear(dim, ATOM_FEATURE_SIZES[0])

    def corrupt(
        self, x: torch.Tensor, batch: Batch, corrupt: CorruptionKey | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(embeddings with masked atoms replaced, masked [N] bool)``; nothing masked without a key."""
        if corrupt is None:
            return x, torch.zeros(x.shape[0], dtype=torch.bool, device=x.device)
        draw = corrupt.uniform(
            STREAM_ATOM_MASK, batch.mol_id[batch.batch], node_positions(batch.batch, batch.ptr)
        )
        masked = draw < self.mask_prob
        return torch.where(masked.unsqueeze(-1), self.mask_embedding.expand_as(x), x), masked

    def loss(self, states: torch.Tensor, batch: Batch, masked: torch.Tensor) -> torch.Tensor:
        """This rank's share of the global mean cross-entropy of the masked atoms' elements."""
        logits = self.atom_head(states[masked])
        loss_sum = nn.functional.cross_entropy(logits, batch.x[masked, 0], reduction="sum")
        return global_mean(loss_sum, int(masked.sum()))


class GraphEncoder(nn.Module):
    """GIN (``name: gin``) or GINE (``name: gine``, bond features in every message).

    Input: ``batch.x`` ``[N, atom features]``, ``batch.edge_index`` ``[2, E]``,
    ``batch.edge_attr`` ``[E, bond features]``, ``batch.batch`` ``[N]``. Output: ``hidden``
    ``[B, dim]``, the final node states pooled (``pool``: mean by default). With a corruption
    key, atoms are masked and predicted back (:class:`AtomMasking`).

    Args:
        cfg: ``model.graph2d`` options (name, dim, layers, dropout, mask_prob).
    """

    def __init__(self, cfg: Graph2DEncoderConfig):
        super().__init__()
        self.cfg = cfg
        self.dim = cfg.dim
        self.atom_encoder = CategoricalEncoder(ATOM_FEATURE_SIZES, cfg.dim)
        self.masking = AtomMasking(cfg.dim, mask_prob=cfg.mask_prob)
        self.convs = nn.ModuleList()
        self.bond_encoders = nn.ModuleList()
        for _ in range(cfg.layers):
            update = mlp(cfg.dim, 2 * cfg.dim, cfg.dim)
            if cfg.name == "gine":
                self.convs.append(GINEConv(update, train_eps=True))
                self.bond_encoders.append(CategoricalEncoder(BOND_FEATURE_SIZES, cfg.dim))
            else:
                self.convs.append(GINConv(update, train_eps=True))
        self.norms = nn.ModuleList(nn.LayerNorm(cfg.dim) for _ in range(cfg.layers))
        self.dropout = nn.Dropout(cfg.dropout)

    def forward(self, batch: Batch, corrupt: CorruptionKey | None = None) -> EncoderOutput:
        h, masked = self.masking.corrupt(self.atom_encoder(batch.x), batch, corrupt)
        for i, (conv, norm) in enumerate(zip(self.convs, self.norms)):
            if self.cfg.name == "gine":
                update = conv(h, batch.edge_index, self.bond_encoders[i](batch.edge_attr))
            else:
                update = conv(h, batch.edge_index)
            h = h + self.dropout(torch.relu(norm(update)))  # residual keeps deep stacks trainable
        hidden = pool_graphs(h, batch.batch, size=batch.num_graphs, how=self.cfg.pool)
        loss = self.masking.loss(h, batch, masked) if corrupt is not None else None
        valid = torch.ones(batch.num_graphs, dtype=torch.bool, device=h.device)
        return EncoderOutput(hidden=hidden, valid=valid, reconstruction_loss=loss)
