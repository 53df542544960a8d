from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from semmol.methods.shared.kmeans import spherical_kmeans, top_k_inner_product

NEVER_FAISS = 1 << 62


def unit(rows: int, dim: int, seed: int) -> torch.Tensor:
    return F.normalize(torch.randn(rows, dim, generator=torch.Generator().manual_seed(seed)), dim=1)


def test_spherical_kmeans_recovers_well_separated_clusters():
    generator = torch.Generator().manual_seed(3)
    truth = torch.eye(8)[:4]
    points = torch.cat([truth[i] + 0.05 * torch.randn(40, 8, generator=generator) for i in range(4)])
    points = F.normalize(points[torch.randperm(160, generator=generator)], dim=1)
    centers = spherical_kmeans(points, 4, iters=5, seed=0, faiss_min_size=NEVER_FAISS)
    cosines = truth @ centers.T
    assert sorted(cosines.argmax(1).tolist()) == [0, 1, 2, 3]  # one center per cluster
    assert float(cosines.max(1).values.min()) > 0.99
    assert torch.allclose(centers.norm(dim=1), torch.ones(4))


def test_spherical_kmeans_is_seeded():
    points = unit(200, 6, seed=1)
    first = spherical_kmeans(points, 10, iters=3, seed=5, faiss_min_size=NEVER_FAISS)
    again = spherical_kmeans(points, 10, iters=3, seed=5, faiss_min_size=NEVER_FAISS)
    other = spherical_kmeans(points, 10, iters=3, seed=6, faiss_min_size=NEVER_FAISS)
    assert torch.equal(first, again)
    assert not torch.equal(first, other)


def test_spherical_kmeans_needs_k_points():
    with pytest.raises(ValueError, match="at least 5 points"):
        spherical_kmeans(unit(4, 3, seed=0), 5, iters=1, seed=0, faiss_min_size=NEVER_FAISS)


def test_faiss_and_torch_search_agree():
    queries, keys = unit(64, 16, seed=0), unit(300, 16, seed=1)
    faiss_sims, faiss_idx = top_k_inner_product(queries, keys, 7, faiss_min_size=0)
    torch_sims, torch_idx = top_k_inner_product(queries, keys, 7, faiss_min_size=NEVER_FAISS)
    assert torch.equal(faiss_idx, torch_idx)
    assert torch.allclose(faiss_sims, torch_sims, atol=1e-5)
    assert torch.allclose(torch_sims, (queries @ keys.T).topk(7).values)


def test_search_rejects_k_beyond_the_keys():
    with pytest.raises(ValueError, match="between 1"):
        top_k_inner_product(unit(2, 3, seed=0), unit(4, 3, seed=1), 5, faiss_min_size=0)
