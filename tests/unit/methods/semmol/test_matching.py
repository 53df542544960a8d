from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from semmol.methods.semmol.matching import alignment_loss, fuse_positives, pseudo_pair_loss, soft_match

NEVER_FAISS = 1 << 62
# centers on the unit circle, listed out of order so that indices are not ranks
ANGLES = [100.0, 40.0, 0.0, 180.0, 55.0, 20.0, 80.0]
CENTERS = torch.tensor([[math.cos(math.radians(a)), math.sin(math.radians(a))] for a in ANGLES])


def match(anchor: torch.Tensor, **options):
    settings = dict(
        top_m=2, tau=0.1, weighting="softmax", delta=0.5, max_negatives=10, faiss_min_size=NEVER_FAISS
    )
    settings.update(options)
    return soft_match(anchor, CENTERS, **settings)


def angle(degrees: float) -> torch.Tensor:
    return torch.tensor([[math.cos(math.radians(degrees)), math.sin(math.radians(degrees))]])


def hard_negatives(result) -> list[int]:
    return result.negative_indices[0][result.negative_mask[0]].tolist()


def test_soft_positive_is_the_softmax_weighted_top_m():
    result = match(angle(0.0))
    assert result.top_indices.tolist() == [[2, 5]]  # 0 and 20 degrees
    sims = torch.tensor([1.0, math.cos(math.radians(20))])
    weights = torch.softmax(sims / 0.1, dim=0)
    assert torch.allclose(result.weights[0], weights)
    expected = F.normalize(weights[0] * CENTERS[2] + weights[1] * CENTERS[5], dim=0)
    assert torch.allclose(result.positive[0], expected, atol=1e-6)


def test_uniform_weighting_and_hard_assignment():
    uniform = match(angle(0.0), weighting="uniform")
    assert torch.allclose(uniform.weights, torch.full((1, 2), 0.5))
    assert torch.allclose(uniform.positive[0], angle(10.0)[0], atol=1e-6)  # the bisector
    hard = match(angle(5.0), top_m=1)
    assert torch.allclose(hard.positive[0], CENTERS[2])


def test_hard_negatives_are_similar_centers_outside_the_top_m_most_similar_first():
    result = match(angle(0.0))
    negatives = hard_negatives(result)
    assert negatives == [1, 4]  # 40 and 55 degrees; 80 degrees (cos 0.17) is below delta
    expected = torch.tensor([math.cos(math.radians(40)), math.cos(math.radians(55))])
    assert torch.allclose(result.negative_sims[0, :2], expected)
    assert 2 not in negatives and 5 not in negatives  # the top-M are never negatives


def test_max_negatives_caps_the_list():
    capped = match(angle(0.0), max_negatives=1)
    assert capped.negative_indices.tolist() == [[1]] and capped.negative_mask.tolist() == [[True]]
    disabled = match(angle(0.0), max_negatives=0)
    assert disabled.negative_mask.shape == (1, 0)


def test_delta_threshold():
    assert hard_negatives(match(angle(0.0), delta=0.6)) == [1]
    assert hard_negatives(match(angle(0.0), delta=-0.2)) == [1, 4, 6, 0]  # 40, 55, 80, 100 degrees


def test_rows_without_negatives_are_flagged():
    anchor = torch.cat([angle(0.0), angle(180.0)])
    result = match(anchor, top_m=1)
    _, has_negative = pseudo_pair_loss(
        anchor, result.positive, result.negative_sims, result.negative_mask, temperature=0.1
    )
    assert has_negative.tolist() == [True, False]  # nothing within 60 degrees of 180 but itself


def test_pseudo_pair_loss_matches_a_direct_computation():
    anchor = F.normalize(torch.tensor([[1.0, 0.2, 0.1], [0.3, 1.0, -0.2]]), dim=1)
    positive = F.normalize(torch.tensor([[0.9, 0.3, 0.0], [0.0, 1.0, 0.0]]), dim=1)
    negative_sims = torch.tensor([[0.7, 0.6, 0.1], [0.5, 0.2, 0.9]])
    mask = torch.tensor([[True, True, False], [True, False, False]])
    loss, has_negative = pseudo_pair_loss(anchor, positive, negative_sims, mask, temperature=0.2)
    for row in range(2):
        pos = float(anchor[row] @ positive[row]) / 0.2
        logits = [pos] + [float(s) / 0.2 for s, m in zip(negative_sims[row], mask[row]) if m]
        expected = math.log(sum(math.exp(x) for x in logits)) - pos
        assert float(loss[row]) == pytest.approx(expected, rel=1e-5)
    assert has_negative.tolist() == [True, True]


def test_alignment_loss_sums_or_averages_the_squared_difference():
    anchor = F.normalize(torch.tensor([[1.0, 1.0, 0.0]]), dim=1)
    positive = torch.tensor([[1.0, 0.0, 0.0]])
    squared_distance = 2 - 2 * math.cos(math.radians(45))
    assert float(alignment_loss(anchor, positive, reduction="sum")[0]) == pytest.approx(squared_distance, rel=1e-6)
    assert float(alignment_loss(anchor, positive, reduction="mean")[0]) == pytest.approx(
        squared_distance / 3, rel=1e-6
    )


def test_fused_positive_normalises_the_sum_of_the_unnormalised_weighted_centers():
    centers = torch.cat([angle(0.0), angle(90.0), angle(180.0)])
    first = soft_match(
        angle(10.0), centers, top_m=2, tau=1.0, weighting="uniform", delta=1.0, max_negatives=0, faiss_min_size=1 << 62
    )
    second = soft_match(
        angle(80.0), centers[1:2], top_m=1, tau=1.0, weighting="uniform", delta=1.0, max_negatives=0, faiss_min_size=1 << 62
    )
    # first: 0.5 (1, 0) + 0.5 (0, 1), length 0.71; second: (0, 1); the sum (0.5, 1.5) normalised
    expected = F.normalize(torch.tensor([[0.5, 1.5]]), dim=1)
    assert torch.allclose(fuse_positives([first, second]), expected, atol=1e-6)


def test_gradients_reach_the_anchor_and_tau_not_the_centers():
    anchor = angle(10.0).requires_grad_(True)
    tau = torch.tensor(0.1, requires_grad=True)
    centers = CENTERS.clone().requires_grad_(True)
    options = dict(top_m=3, weighting="softmax", delta=0.5, max_negatives=2, faiss_min_size=NEVER_FAISS)
    result = soft_match(anchor, centers, tau=tau, **options)
    loss, _ = pseudo_pair_loss(
        anchor, result.positive, result.negative_sims, result.negative_mask, temperature=0.1
    )
    (loss.sum() + alignment_loss(anchor, result.positive, reduction="mean").sum()).backward()
    assert anchor.grad is not None and float(anchor.grad.abs().sum()) > 0
    assert tau.grad is not None and float(tau.grad.abs()) > 0
    assert centers.grad is None


def test_faiss_and_torch_matching_agree():
    generator = torch.Generator().manual_seed(0)
    anchor = F.normalize(torch.randn(50, 8, generator=generator), dim=1)
    centers = F.normalize(torch.randn(64, 8, generator=generator), dim=1)
    options = dict(top_m=4, tau=0.1, weighting="softmax", delta=0.0, max_negatives=5)
    by_faiss = soft_match(anchor, centers, faiss_min_size=0, **options)
    by_torch = soft_match(anchor, centers, faiss_min_size=NEVER_FAISS, **options)
    assert torch.equal(by_faiss.top_indices, by_torch.top_indices)
    assert torch.equal(by_faiss.negative_indices, by_torch.negative_indices)
    assert torch.allclose(by_faiss.positive, by_torch.positive, atol=1e-6)


def test_top_m_beyond_the_library_is_refused():
    with pytest.raises(ValueError, match="top_m"):
        match(angle(0.0), top_m=8)


def test_a_guide_chooses_and_weights_the_positive_and_the_anchor_ranks_the_negatives():
    # anchor at 0 degrees, guide at 90: the positive is the guide's top 2 (100, 80), weighted by
    # the guide's similarities; negatives are the anchor's nearest other centers (0, 20, 40, 55)
    anchor, guide = angle(0.0).requires_grad_(True), angle(90.0).requires_grad_(True)
    result = match(anchor, guide=guide)
    assert sorted(result.top_indices[0].tolist()) == [0, 6]
    assert torch.allclose(result.weights[0], torch.tensor([0.5, 0.5]))  # equally similar to the guide
    expected = F.normalize(CENTERS[0] + CENTERS[6], dim=0)
    assert torch.allclose(result.positive[0], expected, atol=1e-6)
    assert hard_negatives(result) == [2, 5, 1, 4]  # s >= 0.5: 0, 20, 40, 55 degrees
    (result.negative_sims.sum() + (anchor * result.positive).sum()).backward()
    assert anchor.grad is not None and guide.grad is None  # the guide is a constant


def test_fused_positive_leaves_out_unusable_matches():
    centers = torch.cat([angle(0.0), angle(90.0)])
    options = dict(top_m=1, tau=1.0, weighting="uniform", delta=1.0, max_negatives=0, faiss_min_size=NEVER_FAISS)
    first = soft_match(angle(10.0).repeat(2, 1), centers, **options)
    second = soft_match(angle(80.0).repeat(2, 1), centers, **options)
    usable = [torch.tensor([True, True]), torch.tensor([True, False])]
    fused = fuse_positives([first, second], usable)
    assert torch.allclose(fused[0], F.normalize(torch.tensor([1.0, 1.0]), dim=0), atol=1e-6)
    assert torch.allclose(fused[1], torch.tensor([1.0, 0.0]), atol=1e-6)  # the second match left out
