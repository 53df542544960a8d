from __future__ import annotations

import pytest
import torch

from semmol.config import Graph2DEncoderConfig
from semmol.models.corruption import CorruptionKey
from semmol.models.dmpnn import DMPNNEncoder, reverse_edges
from semmol.models.layers import pool_graphs

CONFIG = Graph2DEncoderConfig(name="dmpnn", dim=16, layers=3, dropout=0.0, pool="norm")


def encoder(**options) -> DMPNNEncoder:
    torch.manual_seed(0)
    return DMPNNEncoder(CONFIG.model_copy(update=options)).eval()


def test_reverse_edges_pair_every_direction():
    edge_index = torch.tensor([[0, 1, 1, 2, 5, 4], [1, 2, 0, 1, 4, 5]])
    assert reverse_edges(edge_index, 6).tolist() == [2, 3, 0, 1, 5, 4]
    with pytest.raises(ValueError, match="both directions"):
        reverse_edges(torch.tensor([[0], [1]]), 2)


@torch.no_grad()
def test_matches_a_loop_over_directed_bonds(make_batch):
    model = encoder(pool="sum")
    batch = make_batch([2])  # aspirin
    x = model.atom_encoder(batch.x)
    bonds = model.bond_encoder(batch.edge_attr)
    edges = batch.edge_index.T.tolist()
    h0 = {i: torch.relu(model.w_input(torch.cat([x[s], bonds[i]]))) for i, (s, _) in enumerate(edges)}
    h = dict(h0)
    for _ in range(CONFIG.layers - 1):
        h = {
            i: torch.relu(
                h0[i]
                + model.w_hidden(
                    sum(
                        (h[k] for k, (_, t) in enumerate(edges) if t == s and edges[k][0] != v),
                        torch.zeros(16),
                    )
                )
            )
            for i, (s, v) in enumerate(edges)
        }
    atoms = torch.stack(
        [
            torch.relu(
                model.w_output(
                    torch.cat(
                        [x[a], sum((h[i] for i, (_, t) in enumerate(edges) if t == a), torch.zeros(16))]
                    )
                )
            )
            for a in range(x.shape[0])
        ]
    )
    torch.testing.assert_close(model(batch).hidden[0], atoms.sum(dim=0), rtol=1e-5, atol=1e-5)


@torch.no_grad()
def test_invariant_to_atom_order_and_to_the_rest_of_the_batch(make_batch, permute_atoms):
    model = encoder()
    single = make_batch([3])
    order = torch.randperm(single.num_nodes, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(
        model(permute_atoms(single, order)).hidden, model(single).hidden, rtol=1e-5, atol=1e-6
    )
    together = model(make_batch([0, 3, 11])).hidden
    torch.testing.assert_close(together[1], model(single).hidden[0], rtol=1e-5, atol=1e-6)


def test_masked_atoms_give_a_reconstruction_loss(make_batch):
    model = encoder().train()
    out = model(make_batch([0, 1, 2, 3]), CorruptionKey(seed=0, step=0))
    assert out.reconstruction_loss is not None and bool(torch.isfinite(out.reconstruction_loss))
    out.reconstruction_loss.backward()
    assert model.masking.mask_embedding.grad is not None


def test_pooling():
    nodes, batch = torch.tensor([[1.0], [3.0], [5.0]]), torch.tensor([0, 0, 1])
    assert pool_graphs(nodes, batch, size=2, how="mean").flatten().tolist() == [2.0, 5.0]
    assert pool_graphs(nodes, batch, size=2, how="sum").flatten().tolist() == [4.0, 5.0]
    assert pool_graphs(nodes, batch, size=2, how="norm").flatten().tolist() == pytest.approx([0.04, 0.05])
