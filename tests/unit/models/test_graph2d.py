from __future__ import annotations

import pytest
import torch

from semmol.config import ModelConfig
from semmol.models.corruption import CorruptionKey
from semmol.models.graph2d import GraphEncoder

BATCH = [3, 10, 24, 7, 16, 26, 0, 21]


@pytest.fixture(params=["gin", "gine"])
def encoder(request, model_config: ModelConfig) -> GraphEncoder:
    torch.manual_seed(0)
    return GraphEncoder(model_config.graph2d.model_copy(update={"name": request.param})).eval()


def masked_atoms(encoder: GraphEncoder) -> list[int]:
    """Records, per forward pass, how many atoms the reconstruction head saw (the masked ones)."""
    counts: list[int] = []
    encoder.masking.atom_head.register_forward_hook(
        lambda module, inputs, output: counts.append(len(inputs[0]))
    )
    return counts


def test_output_shapes(encoder: GraphEncoder, make_batch):
    out = encoder(make_batch(BATCH))
    assert out.hidden.shape == (len(BATCH), 16) and out.valid.shape == (len(BATCH),)
    assert bool(out.valid.all()) and out.reconstruction_loss is None
    assert bool(torch.isfinite(out.hidden).all())


def test_a_molecule_does_not_depend_on_its_batch(encoder: GraphEncoder, make_batch):
    together = encoder(make_batch(BATCH)).hidden
    reversed_order = encoder(make_batch(BATCH[::-1])).hidden
    torch.testing.assert_close(reversed_order, together.flip(0))
    for row, index in enumerate(BATCH):
        torch.testing.assert_close(encoder(make_batch([index])).hidden[0], together[row])


@pytest.mark.parametrize("index", [16, 29])
def test_invariant_to_the_order_of_atoms(encoder: GraphEncoder, make_batch, permute_atoms, index: int):
    batch = make_batch([index])
    order = torch.randperm(batch.num_nodes, generator=torch.Generator().manual_seed(index))
    torch.testing.assert_close(encoder(permute_atoms(batch, order)).hidden, encoder(batch).hidden)


def test_reconstruction_loss_needs_a_key_and_trains_the_encoder(encoder: GraphEncoder, make_batch):
    batch = make_batch(BATCH)
    loss = encoder.train()(batch, CorruptionKey(seed=0, step=0)).reconstruction_loss
    assert loss is not None and loss.ndim == 0 and bool(torch.isfinite(loss)) and float(loss.detach()) > 0
    loss.backward()
    for name in [
        "atom_encoder.embeddings.0.weight",
        "masking.mask_embedding",
        "convs.0.nn.0.weight",
        "masking.atom_head.weight",
    ]:
        grad = encoder.get_parameter(name).grad
        assert grad is not None and float(grad.abs().sum()) > 0, name


def test_masked_fraction_is_near_mask_prob(encoder: GraphEncoder, make_batch, dataset):
    counts = masked_atoms(encoder)
    batch = make_batch(range(len(dataset)))
    encoder(batch, CorruptionKey(seed=1, step=5))
    assert counts[0] / batch.num_nodes == pytest.approx(encoder.cfg.mask_prob, abs=0.08)


@torch.no_grad()
def test_the_same_key_gives_the_same_loss_whatever_the_batch_split(encoder: GraphEncoder, make_batch):
    key = CorruptionKey(seed=3, step=11)
    counts = masked_atoms(encoder)
    whole = encoder(make_batch(BATCH), key).reconstruction_loss
    halves = [encoder(make_batch(part), key).reconstruction_loss for part in (BATCH[:4], BATCH[4:])]
    # without a process group global_mean(sum, count) is sum / count, so loss * count is the sum
    sums = [float(loss) * count for loss, count in zip(halves, counts[1:])]
    assert counts[0] == sum(counts[1:]) > 0
    assert float(whole) * counts[0] == pytest.approx(sum(sums), rel=1e-5)
    assert float(encoder(make_batch(BATCH), key).reconstruction_loss) == float(whole)
    next_step = encoder(make_batch(BATCH), CorruptionKey(seed=3, step=12)).reconstruction_loss
    assert float(next_step) != float(whole)
