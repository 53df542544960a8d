from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from semmol.methods.mmsa.memory import INIT_ITERS, MemoryAnchors
from semmol.methods.shared.kmeans import spherical_kmeans


def unit(rows: int, dim: int, seed: int) -> torch.Tensor:
    return F.normalize(torch.randn(rows, dim, generator=torch.Generator().manual_seed(seed)), dim=1)


def anchors(**options) -> MemoryAnchors:
    settings = dict(n_anchors=3, dim=4, update="ema", momentum=0.9, temperature=0.5, seed=0)
    return MemoryAnchors(**(settings | options))


def test_ema_anchors_start_from_the_k_means_of_the_key_sorted_first_batch():
    memory = anchors()
    embeddings, keys = unit(6, 4, seed=1), torch.tensor([5, 3, 9, 0, 7, 1])
    expected = spherical_kmeans(
        embeddings[keys.argsort()], 3, iters=INIT_ITERS, seed=0, faiss_min_size=1 << 62
    )
    with torch.no_grad():
        weights = torch.softmax(embeddings @ expected.T / 0.5, dim=1)  # the loss sees the initial anchors
    memory(embeddings, keys)
    assert bool(memory.initialised)
    sums, mass = weights.T @ embeddings, weights.sum(dim=0)
    torch.testing.assert_close(
        memory.anchors, F.normalize(0.9 * expected + 0.1 * sums / mass[:, None], dim=1)
    )


def test_loss_and_ema_update_match_a_hand_computation():
    memory = anchors()
    start = unit(3, 4, seed=2)
    memory.anchors.copy_(start)
    memory.initialised.fill_(True)
    embeddings = unit(5, 4, seed=3).requires_grad_()
    loss, logs = memory(embeddings, torch.arange(5))
    with torch.no_grad():
        weights = torch.softmax(embeddings @ start.T / 0.5, dim=1)
        target = F.normalize(weights @ start, dim=1)
        expected_loss = (1 - (embeddings * target).sum(dim=1)).mean()
        expected_anchors = F.normalize(
            0.9 * start + 0.1 * (weights.T @ embeddings) / weights.sum(0)[:, None], dim=1
        )
        share = weights.sum(0) / weights.sum()
    torch.testing.assert_close(loss, expected_loss)
    torch.testing.assert_close(memory.anchors, expected_anchors)
    assert logs["memory_entropy"] == pytest.approx(
        float(-(share * share.log()).sum() / torch.log(torch.tensor(3.0)))
    )
    assert logs["memory_confidence"] == pytest.approx(float(weights.max(dim=1).values.mean()))
    loss.backward()
    assert embeddings.grad is not None and not memory.anchors.requires_grad


def test_learned_anchors_are_trained_by_the_loss_and_not_moved_by_hand():
    torch.manual_seed(0)
    memory = anchors(update="learned")
    before = memory.anchors.detach().clone()
    loss, _ = memory(unit(5, 4, seed=4), torch.arange(5))
    loss.backward()
    assert memory.anchors.grad is not None and memory.anchors.grad.abs().sum() > 0
    assert torch.equal(memory.anchors.detach(), before)
    assert [name for name, _ in memory.named_parameters()] == ["anchors"]


def test_state_dict_round_trip():
    memory = anchors()
    memory(unit(6, 4, seed=5), torch.arange(6))
    again = anchors()
    again.load_state_dict(memory.state_dict())
    assert bool(again.initialised) and torch.equal(again.anchors, memory.anchors)


def test_more_anchors_than_the_first_batch_are_refused():
    with pytest.raises(ValueError, match=r"mmsa.n_memories \(8\) exceeds the global batch \(6\)"):
        anchors(n_anchors=8)(unit(6, 4, seed=6), torch.arange(6))
