from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from semmol.methods.mmsa.hypergraph import HypergraphRefiner, knn_hyperedges


def points(*angles_deg: float) -> torch.Tensor:
    """Unit vectors in the plane at the given angles."""
    radians = torch.tensor(angles_deg) * torch.pi / 180
    return torch.stack([radians.cos(), radians.sin()], dim=1)


def incidence(edges: torch.Tensor, n_nodes: int, n_edges: int) -> torch.Tensor:
    """Dense ``[nodes, hyperedges]`` 0/1 matrix of an incidence list."""
    dense = torch.zeros(n_nodes, n_edges, dtype=torch.long)
    dense[edges[0], edges[1]] = 1
    return dense


def test_hand_checked_incidence_over_batch_and_bank():
    # batch nodes 0..3 at 0, 10, 100, 200 degrees; bank nodes 4, 5 at 95 and 5 degrees
    batch, bank = points(0, 10, 100, 200), points(95, 5)
    batch_keys, bank_keys = torch.tensor([10, 11, 12, 13]), torch.tensor([12, 99])  # node 4 is molecule 12
    edges = knn_hyperedges(batch, bank, k=2, batch_keys=batch_keys, bank_keys=bank_keys)
    expected = torch.tensor(
        [
            # hyperedge: 0  1  2  3
            [1, 1, 0, 0],  # node 0 (0 deg)
            [1, 1, 1, 0],  # node 1 (10 deg)
            [0, 0, 1, 1],  # node 2 (100 deg)
            [0, 0, 0, 1],  # node 3 (200 deg)
            [0, 0, 0, 1],  # node 4 (95 deg, molecule 12: never in node 2's edge)
            [1, 1, 1, 0],  # node 5 (5 deg)
        ]
    )
    # edge 0 (node 0 at 0): its nearest others are node 5 (5 deg away) and node 1 (10)
    # edge 1 (node 1 at 10): node 5 (5) and node 0 (10)
    # edge 2 (node 2 at 100): node 4 is the same molecule; then node 1 (90) and node 5 (95)
    # edge 3 (node 3 at 200): node 2 (100) and node 4 (105)
    assert torch.equal(incidence(edges, 6, 4), expected)
    assert edges[:, ::3].tolist() == [[0, 1, 2, 3], [0, 1, 2, 3]]  # each edge lists its own node first


def test_neighbours_are_capped_by_the_other_nodes():
    no_bank, no_keys = torch.zeros(0, 2), torch.zeros(0, dtype=torch.long)
    edges = knn_hyperedges(points(0, 30), no_bank, k=5, batch_keys=torch.tensor([1, 2]), bank_keys=no_keys)
    assert torch.equal(incidence(edges, 2, 2), torch.ones(2, 2, dtype=torch.long))


def test_refined_embeddings_mix_in_hyperedge_neighbours_only():
    torch.manual_seed(0)
    refiner = HypergraphRefiner(2, k=1)
    batch, bank, no_keys = points(0, 10, 180, 185), torch.zeros(0, 2), torch.zeros(0, dtype=torch.long)
    keys = torch.arange(4)
    refined = refiner(batch, bank, batch_keys=keys, bank_keys=no_keys)
    assert refined.shape == (4, 2) and torch.allclose(refined.norm(dim=1), torch.ones(4))
    # moving molecule 3 (in the hyperedges of 2 and 3 only) leaves molecules 0 and 1 as they were
    moved = batch.clone()
    moved[3] = F.normalize(torch.tensor([-1.0, -0.2]), dim=0)
    again = refiner(moved, bank, batch_keys=keys, bank_keys=no_keys)
    torch.testing.assert_close(again[:2], refined[:2])
    assert not torch.allclose(again[2], refined[2])


def test_gradients_flow_into_the_batch_not_the_bank():
    torch.manual_seed(0)
    refiner = HypergraphRefiner(2, k=2)
    batch = points(0, 40, 80).requires_grad_()
    bank = points(20, 60).requires_grad_()
    refiner(batch, bank, batch_keys=torch.arange(3), bank_keys=torch.tensor([7, 8])).sum().backward()
    assert batch.grad is not None and batch.grad.abs().sum() > 0 and bank.grad is None


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="k >= 1"):
        HypergraphRefiner(4, k=0)
