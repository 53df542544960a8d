"""2D graph encoder: directed message passing (D-MPNN), the architecture of chemprop.

Hidden states live on directed bonds. For a bond ``u -> v``:

- ``h0 = relu(W_i [x_u || e_uv])``;
- ``depth - 1`` times, ``h = relu(h0 + W_h m)`` with ``m = sum_{k -> u, k != v} h_{k -> u}``
  (every message into ``u`` but the one coming back from ``v``), then dropout;
- each atom: ``relu(W_o [x_v || sum_{u -> v} h_{u -> v}])``, pooled over the molecule.

Atoms and bonds enter as the shard's categorical features, embedded (as every semmol
encoder does) rather than one-hot. The masked-atom loss of pretraining works as in
:class:`~semmol.models.graph2d.GraphEncoder`.
"""

from __future__ import annotations

import torch
from torch import nn
from torch_geometric.data import Batch
from torch_geometric.utils import scatter

from semmol.config import Graph2DEncoderConfig
from semmol.data.feature_sizes import ATOM_FEATURE_SIZES, BOND_FEATURE_SIZES
from semmol.models.base import EncoderOutput
from semmol.models.corruption import CorruptionKey
from semmol.models.graph2d import AtomMasking
from semmol.models.layers import CategoricalEncoder, pool_graphs


def reverse_edges(edge_index: torch.Tensor, n_nodes: int) -> torch.Tensor:
    """``[E]``: for each directed edge ``s -> t``, the index of ``t -> s``.

    Raises:
        ValueError: an edge has no reverse (the graph is not stored in both directions).
    """
    source, target = edge_index
    keys = source * n_nodes + target
    order = torch.argsort(keys)
    wanted = target * n_nodes + source
    position = torch.searchsorted(keys[order], wanted).clamp_max(len(keys) - 1)
    reverse = order[position]
    if len(keys) and not bool((keys[reverse] == wanted).all()):
        raise ValueError("D-MPNN needs every bond in both directions")
    return reverse


class DMPNNEncoder(nn.Module):
    """See the module docstring.

    Args:
        cfg: ``model.graph2d`` options (dim, layers = depth, dropout, mask_prob, pool).
    """

    def __init__(self, cfg: Graph2DEncoderConfig):
        super().__init__()
        self.cfg, self.dim = cfg, cfg.dim
        self.atom_encoder = CategoricalEncoder(ATOM_FEATURE_SIZES, cfg.dim)
        self.bond_encoder = CategoricalEncoder(BOND_FEATURE_SIZES, cfg.dim)
        self.masking = AtomMasking(cfg.dim, mask_prob=cfg.mask_prob)
        self.w_input = nn.Linear(2 * cfg.dim, cfg.dim, bias=False)
        self.w_hidden = nn.Linear(cfg.dim, cfg.dim, bias=False)
        self.w_output = nn.Linear(2 * cfg.dim, cfg.dim)
        self.dropout = nn.Dropout(cfg.dropout)

    def forward(self, batch: Batch, corrupt: CorruptionKey | None = None) -> EncoderOutput:
        x, masked = self.masking.corrupt(self.atom_encoder(batch.x), batch, corrupt)
        source, target = batch.edge_index
        reverse = reverse_edges(batch.edge_index, x.shape[0])
        h0 = torch.relu(self.w_input(torch.cat([x[source], self.bond_encoder(batch.edge_attr)], dim=1)))
        h = h0
        for _ in range(self.cfg.layers - 1):
            incoming = scatter(h, target, dim=0, dim_size=x.shape[0], reduce="sum")  # per atom
            message = incoming[source] - h[reverse]
            h = self.dropout(torch.relu(h0 + self.w_hidden(message)))
        atom_messages = scatter(h, target, dim=0, dim_size=x.shape[0], reduce="sum")
        atoms = self.dropout(torch.relu(self.w_output(torch.cat([x, atom_messages], dim=1))))
        hidden = pool_graphs(atoms, batch.batch, size=batch.num_graphs, how=self.cfg.pool)
        loss = self.masking.loss(atoms, batch, masked) if corrupt is not None else None
        valid = torch.ones(batch.num_graphs, dtype=torch.bool, device=x.device)
        return EncoderOutput(hidden=hidden, valid=valid, reconstruction_loss=loss)
