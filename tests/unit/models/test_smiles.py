from __future__ import annotations

import pytest
import torch

from semmol.config import ModelConfig, SmilesEncoderConfig
from semmol.models.corruption import CorruptionKey
from semmol.models.multimodal import ENCODERS
from semmol.models.text import TokenSequenceEncoder
from semmol.models.tokenizer import SmilesVocab

BATCH = [3, 10, 24, 7, 16, 26, 0, 21]  # 1 to 37 tokens: every row but the longest is padded
#: Per architecture: a token embedding and a first-layer weight, which the reconstruction loss must train.
TRAINED = {
    "transformer": [
        "token_embedding.weight",
        "position_embedding.weight",
        "transformer.layers.0.linear1.weight",
    ],
    "deberta": [
        "deberta.embeddings.word_embeddings.weight",
        "deberta.encoder.rel_embeddings.weight",
        "deberta.encoder.layer.0.intermediate.dense.weight",
    ],
}


def build(cfg: SmilesEncoderConfig, vocab: SmilesVocab) -> TokenSequenceEncoder:
    torch.manual_seed(0)
    return ENCODERS["smiles", cfg.name](ModelConfig(smiles=cfg), vocab, 0, None).eval()


@pytest.fixture(params=sorted(TRAINED))
def encoder(request, model_config: ModelConfig, vocab: SmilesVocab) -> TokenSequenceEncoder:
    return build(model_config.smiles.model_copy(update={"name": request.param}), vocab)


def masked_tokens(encoder: TokenSequenceEncoder) -> list[int]:
    """Records, per forward pass, how many tokens the reconstruction head saw (the masked ones)."""
    counts: list[int] = []
    encoder.token_head.register_forward_hook(lambda module, inputs, output: counts.append(len(inputs[0])))
    return counts


def test_output_shapes(encoder: TokenSequenceEncoder, make_batch):
    out = encoder(make_batch(BATCH))
    assert out.hidden.shape == (len(BATCH), 16) and out.valid.shape == (len(BATCH),)
    assert bool(out.valid.all()) and out.reconstruction_loss is None
    assert bool(torch.isfinite(out.hidden).all())


@pytest.mark.parametrize("grad", [False, True], ids=["no_grad", "grad"])
def test_a_molecule_does_not_depend_on_its_batch(encoder: TokenSequenceEncoder, make_batch, grad: bool):
    with torch.set_grad_enabled(grad):  # without gradients PyTorch may take its fused fast path
        together = encoder(make_batch(BATCH)).hidden
        torch.testing.assert_close(encoder(make_batch(BATCH[::-1])).hidden, together.flip(0))
        for row, index in enumerate(BATCH):
            torch.testing.assert_close(encoder(make_batch([index])).hidden[0], together[row])


@pytest.mark.parametrize("name", sorted(TRAINED))
def test_long_smiles_are_truncated_to_max_len(
    model_config: ModelConfig, vocab: SmilesVocab, make_batch, name
):
    encoder = build(model_config.smiles.model_copy(update={"max_len": 6, "name": name}), vocab)
    batch = make_batch([16])
    assert len(batch.smiles[0]) > 6
    prefix = make_batch([16])
    prefix.smiles = [batch.smiles[0][:5]]  # the same five leading tokens (all single characters)
    assert vocab.encode(prefix.smiles, max_len=6).tolist() == vocab.encode(batch.smiles, max_len=6).tolist()
    torch.testing.assert_close(encoder(batch).hidden, encoder(prefix).hidden)


def test_reconstruction_loss_needs_a_key_and_trains_the_encoder(encoder: TokenSequenceEncoder, make_batch):
    loss = encoder.train()(make_batch(BATCH), CorruptionKey(seed=0, step=0)).reconstruction_loss
    assert loss is not None and loss.ndim == 0 and bool(torch.isfinite(loss)) and float(loss.detach()) > 0
    loss.backward()
    for name in TRAINED[encoder.cfg.name]:
        grad = encoder.get_parameter(name).grad
        assert grad is not None and float(grad.abs().sum()) > 0, name


@torch.no_grad()
def test_masked_fraction_is_near_mask_prob_and_spares_cls(encoder: TokenSequenceEncoder, make_batch, dataset):
    counts = masked_tokens(encoder)
    batch = make_batch(range(len(dataset)))
    encoder(batch, CorruptionKey(seed=1, step=5))
    ids = encoder.vocab.encode(batch.smiles, max_len=encoder.cfg.max_len)
    maskable = int(((ids != encoder.vocab.pad_id) & (ids != encoder.vocab.cls_id)).sum())
    assert counts[0] / maskable == pytest.approx(encoder.cfg.mask_prob, abs=0.06)


@torch.no_grad()
def test_the_same_key_gives_the_same_loss_whatever_the_batch_split(encoder: TokenSequenceEncoder, make_batch):
    key = CorruptionKey(seed=3, step=11)
    counts = masked_tokens(encoder)
    whole = encoder(make_batch(BATCH), key).reconstruction_loss
    halves = [encoder(make_batch(part), key).reconstruction_loss for part in (BATCH[:4], BATCH[4:])]
    # without a process group global_mean(sum, count) is sum / count, so loss * count is the sum
    sums = [float(loss) * count for loss, count in zip(halves, counts[1:])]
    assert counts[0] == sum(counts[1:]) > 0
    assert float(whole) * counts[0] == pytest.approx(sum(sums), rel=1e-5)
    next_step = encoder(make_batch(BATCH), CorruptionKey(seed=3, step=12)).reconstruction_loss
    assert float(next_step) != float(whole)
