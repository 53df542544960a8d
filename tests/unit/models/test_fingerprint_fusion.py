from __future__ import annotations

import pytest
import torch

from semmol.models.fingerprint_fusion import DualCrossAttentionFusion

VIEW_DIMS, FINGERPRINT_WIDTHS = [16, 24], [167, 315]


@pytest.fixture()
def fusion() -> DualCrossAttentionFusion:
    torch.manual_seed(0)
    return DualCrossAttentionFusion(VIEW_DIMS, FINGERPRINT_WIDTHS, dim=8, heads=2).eval()


def inputs(batch: int = 5) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    generator = torch.Generator().manual_seed(1)
    views = [torch.randn(batch, dim, generator=generator) for dim in VIEW_DIMS]
    fingerprints = [torch.rand(batch, width, generator=generator) for width in FINGERPRINT_WIDTHS]
    return views, fingerprints


def test_output_is_both_directions_pooled(fusion):
    views, fingerprints = inputs()
    valid = torch.ones(5, 2, dtype=torch.bool)
    out = fusion(views, valid, fingerprints)
    assert out.shape == (5, fusion.out_dim) == (5, 16) and bool(torch.isfinite(out).all())
    # each side depends on the other: changing a fingerprint moves the views' half too
    moved = fusion(views, valid, [fingerprints[0] + 1, fingerprints[1]])
    assert not torch.allclose(moved[:, :8], out[:, :8]) and not torch.allclose(moved[:, 8:], out[:, 8:])


@torch.no_grad()
def test_a_missing_view_is_neither_attended_nor_pooled(fusion):
    views, fingerprints = inputs()
    valid = torch.tensor([[True, True], [True, False], [True, False], [True, True], [False, False]])
    out = fusion(views, valid, fingerprints)
    changed = fusion([views[0], views[1] + 5.0], valid, fingerprints)
    # molecules without the second view are untouched; the one with no view at all keeps every token
    assert (changed != out).any(dim=1).tolist() == [True, False, False, True, True]
    assert bool(torch.isfinite(out).all())


def test_needs_views_and_fingerprints():
    with pytest.raises(ValueError, match="at least one view and one fingerprint"):
        DualCrossAttentionFusion(VIEW_DIMS, [])
