"""The GNNs of Hu et al., "Strategies for Pre-training Graph Neural Networks" (ICLR 2020), able
to load the published weights of snap-stanford/pretrain-gnns (``chem/model_architecture/*.pth``,
``chem/model_gin/*.pth``) with ``load_state_dict(strict=True)``.

Their featurisation, read from each molecule's SMILES (:func:`hu_graph`): atoms ``[atomic
number - 1, chirality tag]``, bonds ``[bond type, bond direction]`` in both directions. Each of
``layers`` layers adds a self-loop to every atom (bond type :data:`SELF_LOOP_BOND`, direction 0),
embeds the bonds as the sum of two embeddings, aggregates, then BatchNorm, ReLU (not after the
last layer) and dropout. Messages from ``j`` to ``i`` (``e_ij``: the summed bond embedding):

- GIN: ``MLP(sum_j (h_j + e_ij))``, MLP ``dim -> 2 dim -> dim``;
- GCN: ``sum_j (W h_j + b + e_ij) / sqrt(d_i d_j)``, degrees counting the self-loop;
- GraphSAGE: ``normalize(mean_j (W h_j + b + e_ij))`` (L2);
- GAT (2 heads): per head ``a_ij = softmax_j(leaky_relu(att . [W h_i || W h_j + e_ij], 0.2))``,
  ``sum_j a_ij (W h_j + e_ij)``, the heads averaged, plus a bias.

The molecule's representation is the mean of its atoms' last-layer states (JK "last", mean
pooling: their fine-tuning).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn
from torch_geometric.data import Batch
from torch_geometric.utils import scatter, softmax

from semmol.config import PretrainGNNEncoderConfig
from semmol.models.base import EncoderOutput
from semmol.models.corruption import CorruptionKey
from semmol.models.layers import pool_graphs

#: Rows of their atom-type embedding: elements 1..118 at 0..117, and their mask token.
ATOM_TYPES = 120
#: Their atom-type index of a masked atom; here also of an atom without an element (``*``).
MASKED_ATOM = 119
#: Chirality tags they embed, by RDKit enum name (any other tag: 0).
CHIRALITY_TAGS = ["CHI_UNSPECIFIED", "CHI_TETRAHEDRAL_CW", "CHI_TETRAHEDRAL_CCW"]
#: Bond types they embed, then the self-loop and the mask token (6 rows).
BOND_TYPES = ["SINGLE", "DOUBLE", "TRIPLE", "AROMATIC"]
SELF_LOOP_BOND = 4
#: Their bond-type index of a masked bond; here also of a bond type they do not know (e.g. dative).
MASKED_BOND = 5
BOND_TYPE_ROWS = 6
#: Bond directions they embed (double-bond stereo as written in the SMILES; any other: 0).
BOND_DIRECTIONS = ["NONE", "ENDUPRIGHT", "ENDDOWNRIGHT"]
#: Heads of their GAT layer.
GAT_HEADS = 2


class HuGraph(NamedTuple):
    """One molecule in their featurisation: ``x`` ``[N, 2]``, ``edge_index`` ``[2, 2 * bonds]``,
    ``edge_attr`` ``[2 * bonds, 2]``, all long; no self-loops (the layers add them)."""

    x: torch.Tensor
    edge_index: torch.Tensor
    edge_attr: torch.Tensor


def _index(value, choices: list, *, other: int) -> int:
    return choices.index(value) if value in choices else other


def hu_graph(smiles: str) -> HuGraph:
    """Their graph of the molecule ``smiles`` (heavy atoms, as RDKit parses it).

    Raises:
        ValueError: RDKit cannot parse ``smiles``.
    """
    from rdkit import Chem  # here: the encoder itself runs without RDKit

    mol = Chem.MolFromSmiles(smiles)
    if mol is None:
        raise ValueError(f"RDKit cannot parse SMILES '{smiles}'")
    x = [
        (
            atom.GetAtomicNum() - 1 if 1 <= atom.GetAtomicNum() <= 118 else MASKED_ATOM,
            _index(atom.GetChiralTag().name, CHIRALITY_TAGS, other=0),
        )
        for atom in mol.GetAtoms()
    ]
    edges, features = [], []
    for bond in mol.GetBonds():
        begin, end = bond.GetBeginAtomIdx(), bond.GetEndAtomIdx()
        feature = (
            _index(bond.GetBondType().name, BOND_TYPES, other=MASKED_BOND),
            _index(bond.GetBondDir().name, BOND_DIRECTIONS, other=0),
        )
        edges += [(begin, end), (end, begin)]
        features += [feature, feature]
    return HuGraph(
        x=torch.tensor(x, dtype=torch.long).reshape(-1, 2),
        edge_index=torch.tensor(edges, dtype=torch.long).reshape(-1, 2).T.contiguous(),
        edge_attr=torch.tensor(features, dtype=torch.long).reshape(-1, 2),
    )


def batch_graphs(graphs: list[HuGraph]) -> tuple[HuGraph, torch.Tensor]:
    """The graphs as one disconnected graph, and each atom's molecule (``[N]`` long)."""
    sizes = torch.tensor([len(graph.x) for graph in graphs])
    offsets = torch.cumsum(sizes, 0) - sizes
    merged = HuGraph(
        x=torch.cat([graph.x for graph in graphs]),
        edge_index=torch.cat([graph.edge_index + offset for graph, offset in zip(graphs, offsets)], dim=1),
        edge_attr=torch.cat([graph.edge_attr for graph in graphs]),
    )
    return merged, torch.repeat_interleave(torch.arange(len(graphs)), sizes)


def add_self_loops(
    edge_index: torch.Tensor, edge_attr: torch.Tensor, n_nodes: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Edges and bond features with a self-loop per atom appended (bond type
    :data:`SELF_LOOP_BOND`, direction 0), as every one of their layers does."""
    loops = torch.arange(n_nodes, device=edge_index.device)
    loop_attr = torch.zeros(n_nodes, 2, dtype=edge_attr.dtype, device=edge_attr.device)
    loop_attr[:, 0] = SELF_LOOP_BOND
    return torch.cat([edge_index, torch.stack([loops, loops])], dim=1), torch.cat([edge_attr, loop_attr])


class _BondEmbedding(nn.Module):
    """A layer's bond embedding: the sum of a bond-type and a bond-direction embedding (their
    ``edge_embedding1`` and ``edge_embedding2``)."""

    def __init__(self, width: int):
        super().__init__()
        self.edge_embedding1 = nn.Embedding(BOND_TYPE_ROWS, width)
        self.edge_embedding2 = nn.Embedding(len(BOND_DIRECTIONS), width)
        nn.init.xavier_uniform_(self.edge_embedding1.weight)
        nn.init.xavier_uniform_(self.edge_embedding2.weight)

    def embed_bonds(self, edge_attr: torch.Tensor) -> torch.Tensor:
        return self.edge_embedding1(edge_attr[:, 0]) + self.edge_embedding2(edge_attr[:, 1])


class GINLayer(_BondEmbedding):
    """``MLP(sum_j (h_j + e_ij))``. Args: dim: atom state size."""

    def __init__(self, dim: int):
        super().__init__(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 2 * dim), nn.ReLU(), nn.Linear(2 * dim, dim))

    def forward(self, h: torch.Tensor, edge_index: torch.Tensor, edge_attr: torch.Tensor) -> torch.Tensor:
        source, target = edge_index
        messages = h[source] + self.embed_bonds(edge_attr)
        return self.mlp(scatter(messages, target, dim=0, dim_size=h.shape[0], reduce="sum"))


class GCNLayer(_BondEmbedding):
    """``sum_j (W h_j + b + e_ij) / sqrt(d_i d_j)``. Args: dim: atom state size."""

    def __init__(self, dim: int):
        super().__init__(dim)
        self.linear = nn.Linear(dim, dim)

    def forward(self, h: torch.Tensor, edge_index: torch.Tensor, edge_attr: torch.Tensor) -> torch.Tensor:
        source, target = edge_index
        ones = torch.ones_like(source, dtype=h.dtype)
        degree = scatter(ones, target, dim=0, dim_size=h.shape[0], reduce="sum")
        scale = degree.pow(-0.5)
        norm = (scale[source] * scale[target]).unsqueeze(-1)
        messages = norm * (self.linear(h)[source] + self.embed_bonds(edge_attr))
        return scatter(messages, target, dim=0, dim_size=h.shape[0], reduce="sum")


class GraphSAGELayer(_BondEmbedding):
    """``normalize(mean_j (W h_j + b + e_ij))``. Args: dim: atom state size."""

    def __init__(self, dim: int):
        super().__init__(dim)
        self.linear = nn.Linear(dim, dim)

    def forward(self, h: torch.Tensor, edge_index: torch.Tensor, edge_attr: torch.Tensor) -> torch.Tensor:
        source, target = edge_index
        messages = self.linear(h)[source] + self.embed_bonds(edge_attr)
        mean = scatter(messages, target, dim=0, dim_size=h.shape[0], reduce="mean")
        return nn.functional.normalize(mean, p=2, dim=-1)


class GATLayer(_BondEmbedding):
    """Attention over ``W h_j + e_ij`` per head, heads averaged, plus a bias (see the module
    docstring). Args: dim: atom state size."""

    def __init__(self, dim: int):
        super().__init__(GAT_HEADS * dim)
        self.dim = dim
        self.weight_linear = nn.Linear(dim, GAT_HEADS * dim)
        self.att = nn.Parameter(torch.empty(1, GAT_HEADS, 2 * dim))
        self.bias = nn.Parameter(torch.zeros(dim))
        nn.init.xavier_uniform_(self.att)

    def forward(self, h: torch.Tensor, edge_index: torch.Tensor, edge_attr: torch.Tensor) -> torch.Tensor:
        source, target = edge_index
        states = self.weight_linear(h).view(-1, GAT_HEADS, self.dim)
        values = states[source] + self.embed_bonds(edge_attr).view(-1, GAT_HEADS, self.dim)
        scores = (torch.cat([states[target], values], dim=-1) * self.att).sum(dim=-1)
        weights = softmax(nn.functional.leaky_relu(scores, 0.2), target, num_nodes=h.shape[0])
        heads = scatter(values * weights.unsqueeze(-1), target, dim=0, dim_size=h.shape[0], reduce="sum")
        return heads.mean(dim=1) + self.bias


LAYERS: dict[str, type[nn.Module]] = {
    "gin": GINLayer,
    "gcn": GCNLayer,
    "graphsage": GraphSAGELayer,
    "gat": GATLayer,
}


class HuGNN(nn.Module):
    """Their ``GNN`` (same parameter names, so a published state dict loads strictly): atom
    embeddings, ``layers`` layers of ``architecture``, a BatchNorm after each.

    Args:
        architecture: gin, gcn, graphsage or gat.
        dim: atom state size (300 in the published weights).
        layers: number of layers (5 in the published weights).
        dropout: dropout after every layer.
    """

    def __init__(self, architecture: str, *, dim: int, layers: int, dropout: float):
        super().__init__()
        self.dropout = dropout
        self.x_embedding1 = nn.Embedding(ATOM_TYPES, dim)
        self.x_embedding2 = nn.Embedding(len(CHIRALITY_TAGS), dim)
        nn.init.xavier_uniform_(self.x_embedding1.weight)
        nn.init.xavier_uniform_(self.x_embedding2.weight)
        self.gnns = nn.ModuleList(LAYERS[architecture](dim) for _ in range(layers))
        self.batch_norms = nn.ModuleList(nn.BatchNorm1d(dim) for _ in range(layers))

    def forward(self, graph: HuGraph) -> torch.Tensor:
        """``[N, dim]``: every atom's last-layer state."""
        h = self.x_embedding1(graph.x[:, 0]) + self.x_embedding2(graph.x[:, 1])
        edge_index, edge_attr = add_self_loops(graph.edge_index, graph.edge_attr, h.shape[0])
        for i, (layer, norm) in enumerate(zip(self.gnns, self.batch_norms)):
            h = norm(layer(h, edge_index, edge_attr))
            if i < len(self.gnns) - 1:
                h = torch.relu(h)
            h = nn.functional.dropout(h, self.dropout, training=self.training)
        return h


class PretrainGNNEncoder(nn.Module):
    """The ``graph2d_hu`` view: :class:`HuGNN` over :func:`hu_graph` of each molecule's SMILES
    (``batch.smiles``; parsed once per SMILES and kept), mean-pooled.

    Its weights are ``gnn.*`` in their names. It has no pretraining loss of its own: it is
    fine-tuned from published weights or from scratch.

    Args:
        cfg: ``model.graph2d_hu`` options (architecture, dim, layers, dropout).
    """

    def __init__(self, cfg: PretrainGNNEncoderConfig):
        super().__init__()
        self.cfg, self.dim = cfg, cfg.dim
        self.gnn = HuGNN(cfg.architecture, dim=cfg.dim, layers=cfg.layers, dropout=cfg.dropout)
        self._graphs: dict[str, HuGraph] = {}

    def featurize(self, smiles: list[str]) -> tuple[HuGraph, torch.Tensor]:
        """The batch's molecules as one graph on this module's device, and each atom's molecule."""
        for text in smiles:
            if text not in self._graphs:
                self._graphs[text] = hu_graph(text)
        graph, members = batch_graphs([self._graphs[text] for text in smiles])
        device = self.gnn.x_embedding1.weight.device
        return HuGraph(*(tensor.to(device) for tensor in graph)), members.to(device)

    def forward(self, batch: Batch, corrupt: CorruptionKey | None = None) -> EncoderOutput:
        if corrupt is not None:
            raise ValueError(
                "the graph2d_hu view has no pretraining loss here; fine-tune it (finetune.pretrained)"
            )
        smiles = list(batch.smiles) if isinstance(batch.smiles, (list, tuple)) else [batch.smiles]
        graph, members = self.featurize(smiles)
        hidden = pool_graphs(self.gnn(graph), members, size=len(smiles), how="mean")
        valid = torch.ones(len(smiles), dtype=torch.bool, device=hidden.device)
        return EncoderOutput(hidden=hidden, valid=valid)
