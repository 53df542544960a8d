"""3D encoder: SchNet-style continuous-filter convolutions over interatomic distances.

Every stored conformer of a molecule is encoded as its own graph (atoms within ``cutoff``),
and the molecule's representation is the mean over its conformers. The encoder sees only
elements and coordinates, so the 3D view carries information the 2D view does not spell out.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch_geometric.data import Batch
from torch_geometric.nn import global_mean_pool
from torch_geometric.nn.models.schnet import GaussianSmearing, InteractionBlock
from torch_geometric.utils import scatter, to_dense_batch

from semmol.config import Geom3DEncoderConfig
from semmol.models.base import EncoderOutput
from semmol.models.corruption import STREAM_COORD_NOISE, CorruptionKey
from semmol.models.layers import mlp, node_positions
from semmol.runtime.distributed import global_mean

_MAX_ATOMS = 4096  # bound on atoms per molecule, used to key noise by (conformer, atom, axis)


@dataclass
class _ConformerGraphs:
    """The (molecule, conformer) pairs of a batch laid out as separate graphs."""

    node: torch.Tensor  # [n] index into the batch's atoms
    slot: torch.Tensor  # [n] conformer slot of each node
    graph: torch.Tensor  # [n] conformer-graph id, sorted
    graph_molecule: torch.Tensor  # [K] molecule of each conformer graph
    pos: torch.Tensor  # [n, 3]


def _conformer_graphs(batch: Batch) -> _ConformerGraphs:
    n_slots = batch.pos.shape[1]
    present = batch.conf_mask[batch.batch]  # [N, C]: does this atom's molecule have conformer c?
    node, slot = present.nonzero(as_tuple=True)
    key = batch.batch[node] * n_slots + slot  # one graph per (molecule, conformer)
    order = torch.argsort(key, stable=True)  # group each graph's atoms, in atom order
    node, slot, key = node[order], slot[order], key[order]
    unique_keys, graph = torch.unique_consecutive(key, return_inverse=True)
    return _ConformerGraphs(
        node=node,
        slot=slot,
        graph=graph,
        graph_molecule=unique_keys // n_slots,
        pos=batch.pos[node, slot],
    )


def _radius_edges(pos: torch.Tensor, graph: torch.Tensor, cutoff: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Directed edges between distinct atoms of the same graph closer than ``cutoff``, and their lengths."""
    if len(pos) == 0:  # no molecule of the batch has a conformer
        return graph.new_zeros(2, 0), pos.new_zeros(0)
    dense, mask = to_dense_batch(pos, graph)  # [K, A, 3]
    distances = torch.cdist(dense, dense)
    eye = torch.eye(dense.shape[1], dtype=torch.bool, device=pos.device)
    adjacent = mask.unsqueeze(2) & mask.unsqueeze(1) & ~eye & (distances < cutoff)
    k, i, j = adjacent.nonzero(as_tuple=True)
    offsets = torch.cumsum(mask.sum(1), 0) - mask.sum(1)
    edge_index = torch.stack([offsets[k] + j, offsets[k] + i])  # messages flow j -> i
    return edge_index, distances[k, i, j]


class EquivariantNoiseHead(nn.Module):
    """Per-atom 3D vectors that rotate with the input: a scalar per edge (from invariant atom
    states and distance features) times the edge's unit vector, summed at the edge's target.

    Args:
        dim: size of the atom states.
        num_gaussians: size of the distance features.
    """

    def __init__(self, dim: int, num_gaussians: int):
        super().__init__()
        self.edge_weight = mlp(dim + num_gaussians, dim, 1)

    def forward(
        self,
        h: torch.Tensor,
        pos: torch.Tensor,
        edge_index: torch.Tensor,
        lengths: torch.Tensor,
        rbf: torch.Tensor,
    ) -> torch.Tensor:
        """``[n, 3]`` from atom states ``h`` ``[n, dim]`` at ``pos`` ``[n, 3]``, directed edges
        ``edge_index`` ``[2, E]`` (source, target) with ``lengths`` ``[E]`` and features ``rbf`` ``[E, G]``."""
        source, target = edge_index
        # index_select, not h[source]: the backward of advanced indexing (index_put_ with
        # accumulation) adds the edges' gradients in thread order on the CPU, so two runs differ
        # in the last bits; index_select's backward (index_add_) adds them in edge order.
        pair = h.index_select(0, source) + h.index_select(0, target)
        weight = self.edge_weight(torch.cat([pair, rbf], dim=1))
        unit = (pos[target] - pos[source]) / lengths.clamp_min(1e-6).unsqueeze(1)
        return scatter(weight * unit, target, dim=0, dim_size=len(pos), reduce="sum")


class GeometryEncoder(nn.Module):
    """SchNet-style encoder over conformers.

    Input: ``batch.z`` ``[N]`` atomic numbers, ``batch.pos`` ``[N, C, 3]`` and
    ``batch.conf_mask`` ``[B, C]``. Output: ``hidden`` ``[B, dim]`` (mean over a molecule's
    conformers of the mean over its atom states), ``valid = batch.has_3d``. With a corruption
    key, coordinates get Gaussian noise (``noise_std`` Angstrom) and the encoder predicts it
    back with an equivariant head (per-edge scalars times unit bond vectors), loss = mean
    squared error in units of ``noise_std``.

    Args:
        cfg: ``model.geom3d`` options (dim, layers, cutoff, num_gaussians, noise_std).
    """

    def __init__(self, cfg: Geom3DEncoderConfig):
        super().__init__()
        self.cfg = cfg
        self.dim = cfg.dim
        self.embedding = nn.Embedding(120, cfg.dim)
        self.distance_expansion = GaussianSmearing(0.0, cfg.cutoff, cfg.num_gaussians)
        self.interactions = nn.ModuleList(
            InteractionBlock(cfg.dim, cfg.num_gaussians, cfg.dim, cfg.cutoff) for _ in range(cfg.layers)
        )
        self.readout = mlp(cfg.dim, cfg.dim, cfg.dim)
        self.noise_head = EquivariantNoiseHead(cfg.dim, cfg.num_gaussians)

    def forward(self, batch: Batch, corrupt: CorruptionKey | None = None) -> EncoderOutput:
        graphs = _conformer_graphs(batch)
        pos = graphs.pos
        noise = None
        if corrupt is not None:
            atom = node_positions(batch.batch, batch.ptr)[graphs.node]
            key = (graphs.slot * _MAX_ATOMS + atom).unsqueeze(1) * 3 + torch.arange(3, device=pos.device)
            mol = batch.mol_id[batch.batch[graphs.node]].unsqueeze(1).expand_as(key)
            noise = corrupt.normal(STREAM_COORD_NOISE, mol, key)
            pos = pos + self.cfg.noise_std * noise
        edge_index, lengths = _radius_edges(pos, graphs.graph, self.cfg.cutoff)
        rbf = self.distance_expansion(lengths)
        h = self.embedding(batch.z[graphs.node].clamp(max=119))
        for interaction in self.interactions:
            h = h + interaction(h, edge_index, lengths, rbf)
        n_graphs = len(graphs.graph_molecule)
        per_conformer = global_mean_pool(self.readout(h), graphs.graph, size=n_graphs)
        hidden = scatter(
            per_conformer, graphs.graph_molecule, dim=0, dim_size=batch.num_graphs, reduce="mean"
        )
        loss = None
        if noise is not None:
            predicted = self.noise_head(h, pos, edge_index, lengths, rbf)
            loss_sum = (predicted - noise).pow(2).mean(dim=1).sum()
            loss = global_mean(loss_sum, len(pos))
        return EncoderOutput(hidden=hidden, valid=batch.has_3d, reconstruction_loss=loss)
