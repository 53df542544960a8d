from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from semmol.methods.semmol.library import CenterLibrary
from semmol.methods.shared.kmeans import spherical_kmeans

NEVER_FAISS = 1 << 62


def unit(rows: int, dim: int, seed: int) -> torch.Tensor:
    return F.normalize(torch.randn(rows, dim, generator=torch.Generator().manual_seed(seed)), dim=1)


def library(**options) -> CenterLibrary:
    settings = dict(
        n_centers=3,
        dim=3,
        beta=0.9,
        init_cache=16,
        init_iters=2,
        reseed_after=None,
        faiss_min_size=NEVER_FAISS,
        seed=0,
    )
    settings.update(options)
    return CenterLibrary(**settings)


def with_centers(centers: torch.Tensor, **options) -> CenterLibrary:
    lib = library(n_centers=centers.shape[0], dim=centers.shape[1], init_cache=centers.shape[0], **options)
    lib.centers.copy_(centers)
    lib.initialised.fill_(True)
    return lib


def test_library_waits_for_k_cached_features_and_caps_the_cache():
    lib = library(n_centers=8, dim=4, init_cache=9, init_iters=0)
    first = unit(6, 4, seed=0)
    valid = torch.tensor([True, False, True, True, False, True])
    lib.update(first, torch.arange(6), valid)
    assert not bool(lib.initialised) and lib.cache.shape == (4, 4)  # invalid rows are not cached

    second = unit(7, 4, seed=1)
    keys = torch.tensor([16, 10, 15, 11, 14, 12, 13])
    lib.update(second, keys, torch.ones(7, dtype=torch.bool))
    # the cap (9) admits the 5 lowest keys of the second batch: 10..14
    admitted = second[[1, 3, 5, 6, 4]]
    cached = torch.cat([first[valid], admitted])
    assert bool(lib.initialised) and lib.cache.shape[0] == 0 and int(lib.updates) == 0
    # init_iters=0: the centers are k-means++ picks of the key-sorted cache, never an excluded row
    assert all(float((cached @ center).max()) > 1 - 1e-6 for center in lib.centers)
    order = torch.sort(torch.cat([torch.tensor([0, 2, 3, 5]), torch.tensor([10, 11, 12, 13, 14])])).indices
    expected = spherical_kmeans(cached[order], 8, iters=0, seed=0, faiss_min_size=NEVER_FAISS)
    assert torch.equal(lib.centers, expected)


def test_init_cache_below_k_is_refused():
    with pytest.raises(ValueError, match="init_cache"):
        library(n_centers=8, init_cache=4)


def test_ema_update_matches_a_hand_computation():
    centers = torch.eye(3)
    lib = with_centers(centers.clone())
    features = torch.tensor([[1.0, 0.2, 0.0], [0.9, -0.1, 0.1], [0.1, 1.0, 0.0], [0.0, 0.0, -1.0]])
    features = F.normalize(features, dim=1)
    valid = torch.tensor([True, True, True, False])  # the last row would be nearest to no center
    lib.update(features, torch.arange(4), valid)

    mean_0 = (features[0] + features[1]) / 2
    mean_1 = features[2]
    expected = centers.clone()
    expected[0] = F.normalize(0.9 * centers[0] + 0.1 * mean_0, dim=0)
    expected[1] = F.normalize(0.9 * centers[1] + 0.1 * mean_1, dim=0)
    assert torch.allclose(lib.centers, expected, atol=1e-6)  # center 2 is empty: unchanged
    assert lib.counts.tolist() == [2, 1, 0]
    assert lib.empty_streak.tolist() == [0, 0, 1]
    assert int(lib.updates) == 1
    assert lib.dead_centers() == 1


def test_usage_entropy_is_normalised():
    lib = with_centers(torch.eye(4))
    lib.counts.copy_(torch.tensor([5, 5, 5, 5]))
    assert lib.usage_entropy() == pytest.approx(1.0)
    lib.counts.copy_(torch.tensor([7, 0, 0, 0]))
    assert lib.usage_entropy() == pytest.approx(0.0)
    lib.counts.copy_(torch.tensor([1, 1, 0, 0]))
    assert lib.usage_entropy() == pytest.approx(math.log(2) / math.log(4))


def test_dead_centers_are_reseeded_from_the_batch_deterministically():
    def run() -> tuple[CenterLibrary, list[int], torch.Tensor]:
        lib = with_centers(torch.eye(3), reseed_after=2, seed=4)
        features = torch.tensor([[1.0, 0.1, 0.0], [0.1, 1.0, 0.0], [1.0, 0.0, 0.2], [0.2, 1.0, 0.1]])
        features = F.normalize(features, dim=1)
        reseeded = [lib.update(features, torch.arange(4), torch.ones(4, dtype=torch.bool)) for _ in range(2)]
        return lib, reseeded, features

    lib, reseeded, features = run()
    assert reseeded == [0, 1]  # center 2 was empty for 2 updates
    assert float((features @ lib.centers[2]).max()) == pytest.approx(1.0, abs=1e-6)  # a batch feature
    assert int(lib.empty_streak[2]) == 0 and int(lib.counts[2]) == 0
    again, _, _ = run()
    assert torch.equal(lib.centers, again.centers)


def test_faiss_and_torch_assignment_give_the_same_update():
    centers, features = unit(40, 8, seed=2), unit(64, 8, seed=3)
    keys, valid = torch.arange(64), torch.ones(64, dtype=torch.bool)
    by_faiss = with_centers(centers.clone(), faiss_min_size=0)
    by_torch = with_centers(centers.clone())
    by_faiss.update(features, keys, valid)
    by_torch.update(features, keys, valid)
    assert torch.equal(by_faiss.counts, by_torch.counts)
    assert torch.allclose(by_faiss.centers, by_torch.centers, atol=1e-6)


def test_state_dict_round_trip_keeps_a_partial_cache():
    lib = library(n_centers=8, dim=4)
    lib.update(unit(5, 4, seed=0), torch.arange(5), torch.ones(5, dtype=torch.bool))
    fresh = library(n_centers=8, dim=4)
    fresh.load_state_dict(lib.state_dict())
    assert torch.equal(fresh.cache, lib.cache) and torch.equal(fresh.cache_keys, lib.cache_keys)
    batch = unit(4, 4, seed=1)
    for each in (lib, fresh):
        each.update(batch, torch.arange(10, 14), torch.ones(4, dtype=torch.bool))
    assert bool(fresh.initialised) and torch.equal(fresh.centers, lib.centers)
