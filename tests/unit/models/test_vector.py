from __future__ import annotations

import numpy as np
import pytest
import torch

from semmol.config import ModelConfig
from semmol.models.corruption import CorruptionKey
from semmol.models.vector import VectorMLP

BATCH = [3, 10, 24, 7, 16, 26, 0, 21]


@pytest.fixture()
def encoder(model_config: ModelConfig, ecfp_bits: int) -> VectorMLP:
    torch.manual_seed(0)
    return VectorMLP(model_config.fingerprint, field="ecfp", width=ecfp_bits).eval()


def test_output_shapes_and_no_reconstruction(encoder: VectorMLP, make_batch):
    out = encoder(make_batch(BATCH), CorruptionKey(seed=0, step=0))
    assert out.hidden.shape == (len(BATCH), 16) and out.valid.shape == (len(BATCH),)
    assert bool(out.valid.all()) and out.reconstruction_loss is None


def test_a_molecule_does_not_depend_on_its_batch(encoder: VectorMLP, make_batch):
    together = encoder(make_batch(BATCH)).hidden
    torch.testing.assert_close(encoder(make_batch(BATCH[::-1])).hidden, together.flip(0))
    for row, index in enumerate(BATCH):
        torch.testing.assert_close(encoder(make_batch([index])).hidden[0], together[row])


def test_different_fingerprints_give_different_representations(encoder: VectorMLP, make_batch):
    batch = make_batch(BATCH)
    assert len({tuple(bits.tolist()) for bits in batch.ecfp}) == len(BATCH)
    hidden = encoder(batch).hidden.detach()
    assert float(torch.cdist(hidden, hidden).fill_diagonal_(1.0).min()) > 1e-3


def test_descriptor_encoder_standardizes_with_fitted_statistics(
    model_config: ModelConfig, dataset, make_batch
):
    from semmol.data.featurize import DESCRIPTOR_NAMES

    torch.manual_seed(0)
    encoder = VectorMLP(
        model_config.descriptors, field="descriptors", width=len(DESCRIPTOR_NAMES), standardize=True
    ).eval()
    train = dataset.columns.descriptors[:20]
    encoder.fit_input_scaling(train)
    values = torch.as_tensor(train, dtype=torch.float64)
    torch.testing.assert_close(encoder.input_mean, values.mean(0).float())
    constant = values.std(0) <= 1e-6
    assert bool(constant.any()) and bool((encoder.input_std[constant] == 1).all())  # e.g. counts always 0
    batch = make_batch(BATCH)
    expected = ((batch.descriptors - encoder.input_mean) / encoder.input_std).clamp(-6, 6)
    torch.testing.assert_close(encoder(batch).hidden, encoder.net(expected))
    state = encoder.state_dict()  # the statistics travel with the weights
    assert {"input_mean", "input_std"} <= set(state)


def test_fingerprint_encoder_fits_nothing(encoder: VectorMLP, dataset):
    encoder.fit_input_scaling(np.zeros((3, 8)))
    assert not encoder.standardize and "input_mean" not in encoder.state_dict()
