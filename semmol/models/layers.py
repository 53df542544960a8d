"""Building blocks shared by the encoders."""

from __future__ import annotations

import torch
from torch import nn
from torch_geometric.utils import scatter

#: Divisor of the ``norm`` pooling (chemprop's default aggregation norm).
NORM_POOL_DIVISOR = 100.0


class CategoricalEncoder(nn.Module):
    """Sum of one embedding per categorical feature column (as OGB's AtomEncoder does).

    Args:
        sizes: vocabulary size of each column (e.g. ``ATOM_FEATURE_SIZES``).
        dim: embedding size.
    """

    def __init__(self, sizes: list[int], dim: int):
        super().__init__()
        self.embeddings = nn.ModuleList(nn.Embedding(size, dim) for size in sizes)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """``features``: ``[n, len(sizes)]`` long -> ``[n, dim]``."""
        return sum(embedding(features[:, i]) for i, embedding in enumerate(self.embeddings))


def mlp(in_dim: int, hidden: int, out_dim: int, *, layers: int = 2, dropout: float = 0.0) -> nn.Sequential:
    """``layers`` linear layers with LayerNorm, ReLU and dropout between them.

    LayerNorm rather than BatchNorm: a molecule's output must not depend on the rest of its
    batch (world-size-independent training, identical train/eval behaviour).
    """
    dims = [in_dim] + [hidden] * (layers - 1) + [out_dim]
    blocks: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(dims[:-1], dims[1:])):
        blocks.append(nn.Linear(a, b))
        if i < len(dims) - 2:
            blocks += [nn.LayerNorm(b), nn.ReLU(), nn.Dropout(dropout)]
    return nn.Sequential(*blocks)


def node_positions(batch_vector: torch.Tensor, ptr: torch.Tensor) -> torch.Tensor:
    """Each node's index inside its own graph (``[n]`` long)."""
    return torch.arange(batch_vector.numel(), device=batch_vector.device) - ptr[batch_vector]


def pool_graphs(nodes: torch.Tensor, batch: torch.Tensor, *, size: int, how: str) -> torch.Tensor:
    """``[size, dim]``: node states pooled per graph by ``mean``, ``sum``, or ``norm`` (sum / 100,
    as chemprop does: size-aware like a sum, on the scale of a mean for drug-sized molecules)."""
    if how == "mean":
        return scatter(nodes, batch, dim=0, dim_size=size, reduce="mean")
    total = scatter(nodes, batch, dim=0, dim_size=size, reduce="sum")
    if how == "sum":
        return total
    if how == "norm":
        return total / NORM_POOL_DIVISOR
    raise ValueError(f"unknown pooling '{how}'; expected mean, sum or norm")
