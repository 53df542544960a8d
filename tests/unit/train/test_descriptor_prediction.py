"""Descriptor prediction: standardized targets, masked views, and a loss that reaches the encoders."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from semmol.models.multimodal import ModalityOutput
from semmol.train.descriptor_prediction import DescriptorPrediction


def _identity_heads(n: int) -> DescriptorPrediction:
    heads = DescriptorPrediction({"graph2d": n, "geom3d": n}, n_descriptors=n)
    with torch.no_grad():
        for head in heads.heads.values():
            head.weight.copy_(torch.eye(n))
            head.bias.zero_()
    return heads


def test_targets_are_standardized_over_the_corpus_and_clipped():
    heads = _identity_heads(3)
    heads.set_scaling(np.array([1.0, 5.0, 2.0]), np.array([2.0, 0.0, 0.1]))  # the second is constant
    descriptors = torch.tensor([[3.0, 5.0, 4.0]])  # standardized: 1, 0 (constant), 20 -> clipped to 6
    hidden = torch.tensor([[1.0, 0.0, 6.0]], requires_grad=True)
    outputs = {
        view: ModalityOutput(hidden=hidden, valid=torch.tensor([True])) for view in ("graph2d", "geom3d")
    }
    assert heads(outputs, descriptors).item() == pytest.approx(0.0, abs=1e-6)


def test_loss_is_the_mean_squared_error_over_each_views_valid_rows():
    heads = _identity_heads(2)
    descriptors = torch.zeros(3, 2)
    flat = torch.tensor([[1.0, 1.0], [3.0, 1.0], [0.0, 0.0]], requires_grad=True)
    # the 3D view lacks its second molecule: whatever its (zero-filled) hidden, it adds nothing
    spatial = torch.tensor([[2.0, 0.0], [99.0, 99.0], [0.0, 2.0]], requires_grad=True)
    outputs = {
        "graph2d": ModalityOutput(hidden=flat, valid=torch.ones(3, dtype=torch.bool)),
        "geom3d": ModalityOutput(hidden=spatial, valid=torch.tensor([True, False, True])),
    }
    loss = heads(outputs, descriptors)
    # 2D: per-row means 1, 5, 0 over 3 rows; 3D: 2, 2 over 2 rows
    assert loss.item() == pytest.approx(2.0 + 2.0)
    loss.backward()
    assert flat.grad.abs().sum() > 0 and spatial.grad[1].abs().sum() == 0
