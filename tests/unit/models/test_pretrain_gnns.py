"""Hu et al.'s GNNs (graph2d_hu): their featurisation, each layer against a dense-matrix
formulation written here, and the published weights loading strictly."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
import torch

from semmol.config import PretrainGNNEncoderConfig
from semmol.models.pretrain_gnns import PretrainGNNEncoder, hu_graph

#: Aspirin; E-1-chloro-2-fluoroethene (bond directions); (R)-1-aminoethanol (a chirality tag);
#: sodium chloride (atoms without bonds).
SMILES = ["CC(=O)Oc1ccccc1C(=O)O", "F/C=C/Cl", "C[C@H](N)O", "[Na+].[Cl-]"]
DIM, LAYERS, HEADS = 6, 3, 2


def test_their_featurisation():
    graph = hu_graph("F/C=C/Cl")
    assert graph.x.tolist() == [[8, 0], [5, 0], [5, 0], [16, 0]]  # atomic number - 1, chirality
    assert graph.edge_index.tolist() == [[0, 1, 1, 2, 2, 3], [1, 0, 2, 1, 3, 2]]
    # [bond type, direction]: single ENDUPRIGHT, double NONE, single ENDUPRIGHT; both directions alike
    assert graph.edge_attr.tolist() == [[0, 1], [0, 1], [1, 0], [1, 0], [0, 1], [0, 1]]
    assert hu_graph("C[C@H](N)O").x[1].tolist() == [5, 2]  # @ = tetrahedral CCW
    assert hu_graph("c1ccccc1").edge_attr[:, 0].unique().tolist() == [3]  # aromatic
    assert hu_graph("[Na+].[Cl-]").edge_index.shape == (2, 0)
    with pytest.raises(ValueError, match="cannot parse"):
        hu_graph("C1C")


def _state_dict(architecture: str) -> dict[str, torch.Tensor]:
    """Random weights under their parameter names and shapes (dim DIM, LAYERS layers)."""
    generator = torch.Generator().manual_seed(0)

    def draw(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=generator) * 0.5

    edge_width = HEADS * DIM if architecture == "gat" else DIM
    state = {"x_embedding1.weight": draw(120, DIM), "x_embedding2.weight": draw(3, DIM)}
    for i in range(LAYERS):
        layer = {"edge_embedding1.weight": draw(6, edge_width), "edge_embedding2.weight": draw(3, edge_width)}
        if architecture == "gin":
            layer |= {
                "mlp.0.weight": draw(2 * DIM, DIM),
                "mlp.0.bias": draw(2 * DIM),
                "mlp.2.weight": draw(DIM, 2 * DIM),
                "mlp.2.bias": draw(DIM),
            }
        elif architecture == "gat":
            layer |= {
                "att": draw(1, HEADS, 2 * DIM),
                "bias": draw(DIM),
                "weight_linear.weight": draw(HEADS * DIM, DIM),
                "weight_linear.bias": draw(HEADS * DIM),
            }
        else:
            layer |= {"linear.weight": draw(DIM, DIM), "linear.bias": draw(DIM)}
        state |= {f"gnns.{i}.{name}": value for name, value in layer.items()}
        state |= {
            f"batch_norms.{i}.weight": draw(DIM),
            f"batch_norms.{i}.bias": draw(DIM),
            f"batch_norms.{i}.running_mean": draw(DIM),
            f"batch_norms.{i}.running_var": draw(DIM).abs() + 0.5,
            f"batch_norms.{i}.num_batches_tracked": torch.tensor(7),
        }
    return state


def _dense_batch(smiles: list[str]):
    """Atom features [N, 2], adjacency with self-loops [N, N], bond type and direction [N, N],
    each atom's molecule: the batch as dense matrices."""
    graphs = [hu_graph(text) for text in smiles]
    n = sum(len(graph.x) for graph in graphs)
    adjacency = torch.eye(n)
    bond_type = torch.full((n, n), 4, dtype=torch.long)  # the self-loop type on the diagonal
    bond_dir = torch.zeros(n, n, dtype=torch.long)
    start, members = 0, []
    for k, graph in enumerate(graphs):
        for (i, j), (kind, direction) in zip(graph.edge_index.T.tolist(), graph.edge_attr.tolist()):
            adjacency[start + i, start + j] = 1
            bond_type[start + i, start + j], bond_dir[start + i, start + j] = kind, direction
        members += [k] * len(graph.x)
        start += len(graph.x)
    return torch.cat([graph.x for graph in graphs]), adjacency, bond_type, bond_dir, torch.tensor(members)


def _dense_layer(architecture: str, p: dict[str, torch.Tensor], h, adjacency, bond_type, bond_dir):
    """One of their layers on dense matrices: ``edges[i, j]`` is the summed bond embedding of j -> i."""
    edges = p["edge_embedding1.weight"][bond_type] + p["edge_embedding2.weight"][bond_dir]  # [N, N, width]
    mask = adjacency.unsqueeze(-1)
    if architecture == "gin":
        summed = (mask * (h.unsqueeze(0) + edges)).sum(dim=1)
        hidden = torch.relu(summed @ p["mlp.0.weight"].T + p["mlp.0.bias"])
        return hidden @ p["mlp.2.weight"].T + p["mlp.2.bias"]
    if architecture in ("gcn", "graphsage"):
        values = (h @ p["linear.weight"].T + p["linear.bias"]).unsqueeze(0) + edges
        degree = adjacency.sum(dim=1)
        if architecture == "gcn":
            weights = adjacency / torch.sqrt(degree.unsqueeze(1) * degree.unsqueeze(0))
            return (weights.unsqueeze(-1) * values).sum(dim=1)
        mean = (mask * values).sum(dim=1) / degree.unsqueeze(1)
        return mean / mean.norm(dim=1, keepdim=True).clamp_min(1e-12)
    states = (h @ p["weight_linear.weight"].T + p["weight_linear.bias"]).view(-1, HEADS, DIM)
    values = states.unsqueeze(0) + edges.view(*edges.shape[:2], HEADS, DIM)  # [i, j, head, DIM]
    att_target, att_source = p["att"][0, :, :DIM], p["att"][0, :, DIM:]
    scores = (states * att_target).sum(-1).unsqueeze(1) + (values * att_source).sum(-1)  # [i, j, head]
    scores = torch.nn.functional.leaky_relu(scores, 0.2).masked_fill(mask == 0, -math.inf)
    weights = torch.softmax(scores, dim=1)
    return (weights.unsqueeze(-1) * values).sum(dim=1).mean(dim=1) + p["bias"]


@pytest.mark.parametrize("architecture", ["gin", "gcn", "graphsage", "gat"])
@torch.no_grad()
def test_layers_match_a_dense_formulation(architecture):
    state = _state_dict(architecture)
    encoder = PretrainGNNEncoder(
        PretrainGNNEncoderConfig(architecture=architecture, dim=DIM, layers=LAYERS, dropout=0.5)
    )
    encoder.gnn.load_state_dict(state, strict=True)
    encoder.eval()
    x, adjacency, bond_type, bond_dir, members = _dense_batch(SMILES)
    h = state["x_embedding1.weight"][x[:, 0]] + state["x_embedding2.weight"][x[:, 1]]
    for i in range(LAYERS):
        layer = {name[len(f"gnns.{i}.") :]: value for name, value in state.items() if name.startswith(f"gnns.{i}.")}
        h = _dense_layer(architecture, layer, h, adjacency, bond_type, bond_dir)
        norm = {name: state[f"batch_norms.{i}.{name}"] for name in ("weight", "bias", "running_mean", "running_var")}
        h = (h - norm["running_mean"]) / torch.sqrt(norm["running_var"] + 1e-5) * norm["weight"] + norm["bias"]
        h = torch.relu(h) if i < LAYERS - 1 else h
    expected = torch.stack([h[members == k].mean(dim=0) for k in range(len(SMILES))])

    out = encoder(SimpleNamespace(smiles=SMILES))

    torch.testing.assert_close(out.hidden, expected, rtol=1e-4, atol=1e-5)
    assert out.valid.all() and out.reconstruction_loss is None


def test_reads_the_smiles_of_a_shard_batch(make_batch):
    encoder = PretrainGNNEncoder(PretrainGNNEncoderConfig(architecture="gcn", dim=DIM, layers=2)).eval()
    batch = make_batch([0, 2, 3])
    assert encoder(batch).hidden.shape == (3, DIM)
    with pytest.raises(ValueError, match="no pretraining loss"):
        encoder(batch, corrupt=object())


@pytest.mark.parametrize("architecture", ["gcn", "graphsage", "gat"])
def test_every_published_checkpoint_loads_strictly(architecture, pretrain_gnns_dir):
    files = sorted(pretrain_gnns_dir.glob(f"{architecture}_*.pth"))
    assert [f.stem.split("_", 1)[1] for f in files] == ["contextpred", "supervised", "supervised_contextpred"]
    encoder = PretrainGNNEncoder(PretrainGNNEncoderConfig(architecture=architecture))
    for file in files:
        state = torch.load(file, map_location="cpu", weights_only=True)
        encoder.gnn.load_state_dict(state, strict=True)
        assert encoder.gnn.batch_norms[4].running_var.equal(state["batch_norms.4.running_var"].cpu())
