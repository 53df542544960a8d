"""Structure awareness: a hypergraph whose nodes are molecules, refined by hypergraph convolution.

Nodes are the molecules of the global batch plus the entries of a memory bank of recent
fused embeddings. Each batch molecule spans one hyperedge: itself and its ``k`` nearest
neighbours (cosine) among all other nodes, a memory entry of the same molecule excluded.
Hypergraph convolution (``torch_geometric.nn.HypergraphConv``) then mixes each molecule's
embedding with those of the molecules it shares hyperedges with; the refined embedding of a
batch molecule is ``normalize(x + conv(x))``. Memory entries give context only: they are
detached and their own outputs are not used.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch_geometric.nn import HypergraphConv


def knn_hyperedges(
    batch: torch.Tensor, bank: torch.Tensor, *, k: int, batch_keys: torch.Tensor, bank_keys: torch.Tensor
) -> torch.Tensor:
    """The hyperedge incidence of ``[batch; bank]``: hyperedge ``i`` joins batch node ``i`` and its
    ``k`` most similar other nodes.

    Args:
        batch: ``[B, dim]`` L2-normalised embeddings (nodes ``0..B-1``).
        bank: ``[Q, dim]`` L2-normalised memory entries (nodes ``B..B+Q-1``); may be empty.
        k: neighbours per hyperedge (fewer when there are fewer other nodes).
        batch_keys: ``[B]`` molecule keys; a node of the same molecule is never a neighbour.
        bank_keys: ``[Q]`` molecule keys of the memory entries.

    Returns:
        ``[2, nnz]`` int64 (node index, hyperedge index), hyperedges in batch order, each
        listing its own node first.
    """
    nodes = torch.cat([batch, bank]).detach()
    keys = torch.cat([batch_keys, bank_keys])
    similarity = batch.detach() @ nodes.T
    same = batch_keys[:, None] == keys[None, :]  # itself, repeats and its memory entries
    similarity = similarity.masked_fill(same, float("-inf"))
    n_neighbours = min(k, int((~same).sum(dim=1).min()) if len(batch) else 0)
    rows = torch.arange(len(batch), device=batch.device)
    members = [rows[:, None]]
    if n_neighbours > 0:
        members.append(torch.topk(similarity, n_neighbours, dim=1).indices)
    members = torch.cat(members, dim=1)  # [B, 1 + n]
    edges = rows[:, None].expand_as(members)
    return torch.stack([members.reshape(-1), edges.reshape(-1)])


class HypergraphRefiner(nn.Module):
    """``layers`` hypergraph convolutions over the molecules of a batch and a memory bank.

    Args:
        dim: embedding size.
        k: neighbours per hyperedge.
        layers: convolutions, each ``x <- x + GELU(conv(x))``; default 1.
    """

    def __init__(self, dim: int, *, k: int, layers: int = 1):
        super().__init__()
        if k < 1 or layers < 1:
            raise ValueError(f"the hypergraph needs k >= 1 and layers >= 1, got k={k}, layers={layers}")
        self.k = k
        self.convs = nn.ModuleList(HypergraphConv(dim, dim) for _ in range(layers))

    def forward(
        self,
        batch: torch.Tensor,
        bank: torch.Tensor,
        *,
        batch_keys: torch.Tensor,
        bank_keys: torch.Tensor,
    ) -> torch.Tensor:
        """``[B, dim]``: the refined, L2-normalised embeddings of the batch molecules.

        Args:
            batch: ``[B, dim]`` L2-normalised embeddings (gradients flow through them).
            bank: ``[Q, dim]`` memory entries (detached).
            batch_keys: ``[B]`` molecule keys.
            bank_keys: ``[Q]`` molecule keys of the memory entries.
        """
        incidence = knn_hyperedges(batch, bank, k=self.k, batch_keys=batch_keys, bank_keys=bank_keys)
        x = torch.cat([batch, bank.detach()])
        for conv in self.convs:
            x = x + F.gelu(conv(x, incidence, num_edges=len(batch)))
        return F.normalize(x[: len(batch)], dim=-1)
