from __future__ import annotations

from pathlib import Path

import pytest
import torch

from semmol.config import ModelConfig
from semmol.models.corruption import CorruptionKey
from semmol.models.multimodal import MultiModalEncoder
from semmol.models.tokenizer import SmilesVocab

MODALITIES = ["smiles", "graph2d", "geom3d", "fingerprint", "image"]
BATCH = [3, 10, 24, 7, 16, 26, 0, 21]


@pytest.fixture()
def model(model_config: ModelConfig, vocab: SmilesVocab, ecfp_bits: int) -> MultiModalEncoder:
    torch.manual_seed(0)
    return MultiModalEncoder(model_config, modalities=MODALITIES, vocab=vocab, ecfp_bits=ecfp_bits).eval()


@torch.no_grad()
def test_every_modality_is_projected_to_the_unit_sphere(model: MultiModalEncoder, make_batch):
    outputs = model(make_batch(BATCH))
    assert list(outputs) == MODALITIES
    for name, out in outputs.items():
        assert out.hidden.shape == (len(BATCH), 16) and out.projected.shape == (len(BATCH), 8), name
        torch.testing.assert_close(out.projected.norm(dim=1), torch.ones(len(BATCH)))
        assert out.reconstruction_loss is None
    assert outputs["geom3d"].valid.tolist() == [i < 24 for i in BATCH]
    assert bool(
        outputs["smiles"].valid.all()
        & outputs["graph2d"].valid.all()
        & outputs["fingerprint"].valid.all()
        & outputs["image"].valid.all()
    )


@torch.no_grad()
def test_a_corruption_key_turns_on_the_reconstruction_losses(model: MultiModalEncoder, make_batch):
    outputs = model(make_batch(BATCH), CorruptionKey(seed=0, step=0))
    losses = {name: out.reconstruction_loss for name, out in outputs.items()}
    assert losses["fingerprint"] is None and losses["image"] is None  # nothing to reconstruct
    assert all(bool(torch.isfinite(losses[name])) for name in ["smiles", "graph2d", "geom3d"])


@torch.no_grad()
def test_a_subset_of_modalities(model: MultiModalEncoder, model_config, vocab, ecfp_bits, make_batch):
    batch = make_batch(BATCH)
    everything = model(batch)
    subset = model(batch, modalities=["geom3d", "smiles"])
    assert list(subset) == ["geom3d", "smiles"]
    for name in subset:
        torch.testing.assert_close(subset[name].projected, everything[name].projected)
    small = MultiModalEncoder(
        model_config, modalities=["graph2d", "graph2d"], vocab=None, ecfp_bits=ecfp_bits
    )
    assert small.modalities == ["graph2d"] and list(small.encoders) == ["graph2d"]
    assert list(small(batch)) == ["graph2d"]


def test_unknown_encoders_and_modalities_are_refused(model_config: ModelConfig, vocab, ecfp_bits):
    renamed = model_config.model_copy(
        update={"graph2d": model_config.graph2d.model_copy(update={"name": "gat"})}
    )
    with pytest.raises(ValueError, match="no encoder 'gat' for modality 'graph2d'"):
        MultiModalEncoder(renamed, modalities=["graph2d"], vocab=vocab, ecfp_bits=ecfp_bits)
    for modality in ["text", "proj_dim"]:
        with pytest.raises(ValueError, match=f"unknown modality '{modality}'"):
            MultiModalEncoder(model_config, modalities=[modality], vocab=vocab, ecfp_bits=ecfp_bits)
    with pytest.raises(ValueError, match="needs a vocabulary"):
        MultiModalEncoder(model_config, modalities=["smiles"], vocab=None, ecfp_bits=ecfp_bits)


@torch.no_grad()
def test_save_then_load_gives_the_same_model(model: MultiModalEncoder, make_batch, tmp_path: Path):
    path = tmp_path / "model.pt"
    model.save(path, extra={"step": 12})
    loaded, extra = MultiModalEncoder.load(path)
    assert extra == {"step": 12}
    assert loaded.modalities == model.modalities and loaded.ecfp_bits == model.ecfp_bits
    assert loaded.cfg == model.cfg and loaded.vocab.itos == model.vocab.itos
    loaded.eval()
    batch = make_batch(BATCH)
    expected, actual = model(batch), loaded(batch)
    for name in MODALITIES:
        assert torch.equal(actual[name].projected, expected[name].projected), name


def test_load_refuses_other_files(tmp_path: Path):
    path = tmp_path / "other.pt"
    torch.save({"state_dict": {}}, path)
    with pytest.raises(ValueError, match="not a semmol pretrained model"):
        MultiModalEncoder.load(path)
