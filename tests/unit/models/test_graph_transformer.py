from __future__ import annotations

import torch
from torch_geometric.data import Batch, Data

from semmol.config import GraphTransformerEncoderConfig
from semmol.models.graph_transformer import GraphTransformerEncoder, random_walk_returns

BATCH = [3, 10, 24, 7, 16, 26, 0, 21]


def build() -> GraphTransformerEncoder:
    torch.manual_seed(0)
    return GraphTransformerEncoder(
        GraphTransformerEncoderConfig(dim=16, layers=2, heads=2, walk_length=4)
    ).eval()


def test_random_walk_returns_of_known_graphs():
    # a 3-atom path (0-1-2) and a 4-ring, as one batch
    path = Data(edge_index=torch.tensor([[0, 1, 1, 2], [1, 0, 2, 1]]), num_nodes=3)
    ring_edges = torch.tensor([[0, 1, 1, 2, 2, 3, 3, 0], [1, 0, 2, 1, 3, 2, 0, 3]])
    ring = Data(edge_index=ring_edges, num_nodes=4)
    lone = Data(edge_index=torch.zeros(2, 0, dtype=torch.long), num_nodes=1)
    batch = Batch.from_data_list([path, ring, lone])
    returns = random_walk_returns(batch.edge_index, batch.batch, steps=4)
    expected_path = [[0, 0.5, 0, 0.5], [0, 1.0, 0, 1.0], [0, 0.5, 0, 0.5]]
    expected_ring = [[0, 0.5, 0, 0.5]] * 4
    torch.testing.assert_close(returns, torch.tensor(expected_path + expected_ring + [[0.0] * 4]))


def test_output_shapes_and_batch_independence(make_batch):
    encoder = build()
    out = encoder(make_batch(BATCH))
    assert out.hidden.shape == (len(BATCH), 16) and bool(out.valid.all())
    torch.testing.assert_close(encoder(make_batch(BATCH[::-1])).hidden, out.hidden.flip(0))
    for row, index in enumerate(BATCH):
        torch.testing.assert_close(
            encoder(make_batch([index])).hidden[0], out.hidden[row], atol=1e-5, rtol=1e-4
        )


def test_atom_order_does_not_matter(make_batch, permute_atoms):
    encoder = build()
    batch = make_batch([16])
    order = torch.randperm(batch.num_nodes, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(
        encoder(permute_atoms(batch, order)).hidden, encoder(batch).hidden, atol=1e-5, rtol=1e-4
    )


def test_attention_reaches_atoms_beyond_the_message_passing_radius(make_batch):
    """One GPS layer: an atom's state changes when a far atom's features change (global attention)."""
    torch.manual_seed(0)
    encoder = GraphTransformerEncoder(
        GraphTransformerEncoderConfig(dim=16, layers=1, heads=2, walk_length=4)
    ).eval()
    batch = make_batch([16])
    states = {}
    encoder.layers[0].register_forward_hook(
        lambda module, inputs, output: states.setdefault(len(states), output)
    )
    encoder(batch)
    changed = batch.clone()
    changed.x = batch.x.clone()
    far = batch.num_nodes - 1
    changed.x[far, 0] = (batch.x[far, 0] + 1) % 100
    encoder(changed)
    distance_one = set(batch.edge_index[1][batch.edge_index[0] == 0].tolist())
    assert far not in distance_one and far != 0
    assert not torch.allclose(states[0][0], states[1][0])
