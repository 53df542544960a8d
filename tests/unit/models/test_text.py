"""The description encoder and randomised SMILES (the SMILES encoders' shared behaviour is in test_smiles.py)."""

from __future__ import annotations

import shutil

import pytest
import torch
from rdkit import Chem
from tokenizers import Tokenizer
from tokenizers.models import WordLevel
from tokenizers.pre_tokenizers import Whitespace
from transformers import DebertaV2Config, DebertaV2Model, PreTrainedTokenizerFast

from semmol.config import FinetuneJob, ModelConfig
from semmol.data.description import DESCRIPTION_WORDS
from semmol.methods.property import PropertyModel
from semmol.models.corruption import CorruptionKey
from semmol.models.multimodal import ENCODERS, MultiModalEncoder
from semmol.models.tokenizer import DescriptionVocab, SmilesVocab
from semmol.train.finetune_model import build_model

BATCH = [3, 10, 24, 7, 16, 26, 0, 21]


def test_the_description_encoder_reads_the_shards_descriptions_without_unknown_words(make_batch, dataset):
    torch.manual_seed(0)
    config = ModelConfig(description={"dim": 16, "layers": 1, "heads": 2, "max_len": 200})
    encoder = ENCODERS["description", "deberta"](config, None, 0, None).eval()
    batch = make_batch(range(len(dataset)))
    assert all(text.startswith("a ") for text in batch.description)
    ids = encoder.vocab.encode(batch.description, max_len=200)
    assert not bool((ids == encoder.vocab.unk_id).any())
    assert len(encoder.vocab) == len(DESCRIPTION_WORDS) + 4
    out = encoder(batch)
    assert out.hidden.shape == (len(dataset), 16) and bool(torch.isfinite(out.hidden).all())
    together = encoder(make_batch(BATCH)).hidden
    torch.testing.assert_close(encoder(make_batch(BATCH[::-1])).hidden, together.flip(0))
    loss = encoder.train()(make_batch(BATCH), CorruptionKey(seed=0, step=0)).reconstruction_loss
    loss.backward()
    assert float(encoder.deberta.embeddings.word_embeddings.weight.grad.abs().sum()) > 0


def test_own_words_map_to_unknown():
    ids = DescriptionVocab.closed().encode(["a zwitterionic perfume"], max_len=10)[0].tolist()
    vocab = DescriptionVocab.closed()
    assert ids == [vocab.cls_id, vocab.stoi["a"], vocab.unk_id, vocab.unk_id]


def test_randomised_smiles_only_in_pretraining_and_the_same_for_the_same_key(
    model_config, vocab: SmilesVocab, make_batch
):
    torch.manual_seed(0)
    config = model_config.model_copy(
        update={"smiles": model_config.smiles.model_copy(update={"randomize": True})}
    )
    encoder = ENCODERS["smiles", "transformer"](config, vocab, 0, None)
    batch = make_batch(BATCH)
    assert encoder.texts(batch, None) == batch.smiles
    key = CorruptionKey(seed=0, step=3)
    texts = encoder.texts(batch, key)
    assert texts == encoder.texts(batch, key) and texts != batch.smiles
    assert texts != encoder.texts(batch, CorruptionKey(seed=0, step=4))
    for original, randomised in zip(batch.smiles, texts):  # the same molecules, written differently
        assert Chem.MolToSmiles(Chem.MolFromSmiles(randomised)) == original
    # a molecule's draw does not depend on its batch
    single = encoder.texts(make_batch([BATCH[2]]), key)
    assert single == [texts[2]]


def save_tiny_deberta(directory) -> DebertaV2Model:
    """A randomly initialised 8-wide DeBERTa-v2 and a word-level tokenizer, as ``save_pretrained`` writes them."""
    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *DESCRIPTION_WORDS]
    tokenizer = Tokenizer(WordLevel({w: i for i, w in enumerate(words)}, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = Whitespace()
    PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
    ).save_pretrained(directory)
    torch.manual_seed(1)
    config = DebertaV2Config(
        vocab_size=len(words), hidden_size=8, num_hidden_layers=1, num_attention_heads=2, intermediate_size=16
    )
    model = DebertaV2Model(config)
    model.save_pretrained(directory)
    return model


def test_a_local_pretrained_deberta_is_loaded_by_path(tmp_path, make_batch):
    saved = save_tiny_deberta(tmp_path / "tiny-deberta")
    config = ModelConfig(
        proj_dim=4, description={"pretrained": str(tmp_path / "tiny-deberta"), "max_len": 200}
    )
    model = MultiModalEncoder(config, modalities=["description"], vocab=None, ecfp_bits=8)
    encoder = model.encoders["description"]
    assert encoder.dim == 8 and len(encoder.vocab) == len(DESCRIPTION_WORDS) + 5
    for name, value in saved.state_dict().items():
        torch.testing.assert_close(encoder.deberta.state_dict()[name], value, msg=name)
    batch = make_batch(BATCH)
    out = model(batch)["description"]
    assert out.hidden.shape == (len(BATCH), 8) and out.projected.shape == (len(BATCH), 4)
    # the directory's tokenizer, not ours: its first word of every description is "a"
    ids = encoder.vocab.encode(batch.description, max_len=200)
    assert ids[:, 0].tolist() == [encoder.vocab.tokenizer.convert_tokens_to_ids("a")] * len(BATCH)
    loss = model.train()(batch, CorruptionKey(seed=0, step=0))["description"].reconstruction_loss
    assert bool(torch.isfinite(loss)) and float(loss.detach()) > 0
    # a model saved after training carries the architecture and tokenizer: it rebuilds, with
    # its own weights and the same token ids, once the directory is gone
    with torch.no_grad():
        encoder.deberta.embeddings.word_embeddings.weight.add_(1.0)
    model.save(tmp_path / "model.pt")
    shutil.rmtree(tmp_path / "tiny-deberta")
    loaded, _ = MultiModalEncoder.load(tmp_path / "model.pt")
    restored = loaded.encoders["description"]
    for name, value in encoder.deberta.state_dict().items():
        torch.testing.assert_close(restored.deberta.state_dict()[name], value, msg=name)
    assert restored.vocab.encode(batch.description, max_len=200).tolist() == ids.tolist()
    # and so does a property model fine-tuned from it
    job = FinetuneJob.model_validate(
        {
            "dataset": {"source": {"kind": "local", "path": "x.csv"}, "targets": ["y"], "task": "regression"},
            "model": config.model_dump(),
            "finetune": {"modalities": ["description"]},
        }
    )
    tuned, _, _ = build_model(job, n_tasks=1, ecfp_bits=8, corpus_smiles=["C"], pretrained=tmp_path / "model.pt")
    tuned.save(tmp_path / "tuned.pt", metadata={})
    reloaded, _ = PropertyModel.load(tmp_path / "tuned.pt")
    torch.testing.assert_close(
        reloaded.encoder.encoders["description"].deberta.embeddings.word_embeddings.weight,
        encoder.deberta.embeddings.word_embeddings.weight,
    )


def test_a_pretrained_smiles_encoder_must_be_deberta():
    with pytest.raises(ValueError, match="deberta"):
        ModelConfig(smiles={"pretrained": "microsoft/deberta-v3-small"})
