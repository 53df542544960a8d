from __future__ import annotations

import pytest
import torch

from semmol.config import ModelConfig
from semmol.models.corruption import CorruptionKey
from semmol.models.fingerprint import FingerprintMLP

BATCH = [3, 10, 24, 7, 16, 26, 0, 21]


@pytest.fixture()
def encoder(model_config: ModelConfig, ecfp_bits: int) -> FingerprintMLP:
    torch.manual_seed(0)
    return FingerprintMLP(model_config.fingerprint, ecfp_bits=ecfp_bits).eval()


def test_output_shapes_and_no_reconstruction(encoder: FingerprintMLP, make_batch):
    out = encoder(make_batch(BATCH), CorruptionKey(seed=0, step=0))
    assert out.hidden.shape == (len(BATCH), 16) and out.valid.shape == (len(BATCH),)
    assert bool(out.valid.all()) and out.reconstruction_loss is None


def test_a_molecule_does_not_depend_on_its_batch(encoder: FingerprintMLP, make_batch):
    together = encoder(make_batch(BATCH)).hidden
    torch.testing.assert_close(encoder(make_batch(BATCH[::-1])).hidden, together.flip(0))
    for row, index in enumerate(BATCH):
        torch.testing.assert_close(encoder(make_batch([index])).hidden[0], together[row])


def test_different_fingerprints_give_different_representations(encoder: FingerprintMLP, make_batch):
    batch = make_batch(BATCH)
    assert len({tuple(bits.tolist()) for bits in batch.ecfp}) == len(BATCH)
    hidden = encoder(batch).hidden.detach()
    assert float(torch.cdist(hidden, hidden).fill_diagonal_(1.0).min()) > 1e-3
