from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from semmol.config import ModelConfig, SemanticConfig
from semmol.methods.property import PropertyModel
from semmol.methods.semmol.method import SemMolHeadInput
from semmol.methods.semmol.objective import SemMolObjective
from semmol.models.multimodal import MultiModalEncoder
from semmol.models.tokenizer import SmilesVocab

FUSED = ["graph2d", "geom3d"]
BATCH = [3, 10, 24, 7, 16, 26, 0, 21]
MISSING_3D = [i >= 24 for i in BATCH]


@pytest.fixture()
def encoder(model_config: ModelConfig, vocab: SmilesVocab, ecfp_bits: int) -> MultiModalEncoder:
    torch.manual_seed(0)
    return MultiModalEncoder(model_config, modalities=["smiles", *FUSED], vocab=vocab, ecfp_bits=ecfp_bits)


@pytest.fixture()
def objective() -> SemMolObjective:
    """An objective whose center libraries a few steps of random unit features initialised."""
    cfg = SemanticConfig(
        n_centers=4, top_m=2, init_cache=16, init_iters=2, memory_bank_size=0, warmup_updates=1, ramp_steps=0,
        tau={"mode": "learnable", "init": 0.1},  # a parameter, to check it stays frozen
    )
    objective = SemMolObjective(cfg, dim=8, targets=FUSED, seed=0, total_steps=10)
    generator = torch.Generator().manual_seed(0)

    def unit() -> torch.Tensor:
        return F.normalize(torch.randn(8, 8, generator=generator), dim=1)

    for step in range(3):
        targets = {name: (unit(), torch.ones(8, dtype=torch.bool)) for name in FUSED}
        objective(unit(), targets, torch.arange(8) + 8 * step, step)
    assert all(bool(library.initialised) for library in objective.libraries.values())
    return objective


def model(encoder: MultiModalEncoder, **options) -> PropertyModel:
    torch.manual_seed(1)
    return PropertyModel(encoder, modalities=FUSED, n_tasks=3, head_hidden=16, dropout=0.0, **options).eval()


def test_output_shape(encoder: MultiModalEncoder, make_batch):
    property_model = model(encoder)
    assert property_model.head[0].in_features == 2 * 16
    assert property_model.used_modalities() == FUSED
    out = property_model(make_batch(BATCH))
    assert out.shape == (len(BATCH), 3) and bool(torch.isfinite(out).all())


@torch.no_grad()
def test_molecules_without_conformers_use_the_learned_missing_vector(encoder: MultiModalEncoder, make_batch):
    property_model = model(encoder)
    batch = make_batch(BATCH)
    before = property_model(batch)
    property_model.missing["geom3d"].fill_(0.5)
    after = property_model(batch)
    changed = (after != before).any(dim=1)
    assert changed.tolist() == MISSING_3D
    # and only the missing vector: the 3D encoder's output is not read for them
    for parameter in property_model.encoder.encoders["geom3d"].parameters():
        parameter.add_(0.1)
    moved = property_model(batch)
    assert (moved != after).any(dim=1).tolist() == [not missing for missing in MISSING_3D]


def test_the_missing_vector_learns_only_from_molecules_without_conformers(
    encoder: MultiModalEncoder, make_batch
):
    property_model = model(encoder)
    property_model(make_batch([i for i in BATCH if i < 24])).sum().backward()
    assert property_model.missing["geom3d"].grad is None or not bool(
        property_model.missing["geom3d"].grad.any()
    )
    property_model.zero_grad()
    property_model(make_batch(BATCH)).sum().backward()
    assert bool(property_model.missing["geom3d"].grad.any())


def test_semmol_mode_adds_the_anchor_and_its_fused_positive(
    encoder: MultiModalEncoder, objective: SemMolObjective, make_batch
):
    property_model = model(encoder, head_input=SemMolHeadInput(objective, anchor="smiles"), method="semmol")
    assert property_model.head[0].in_features == 2 * 16 + 2 * 8
    assert property_model.used_modalities() == [*FUSED, "smiles"]
    batch = make_batch(BATCH)
    out = property_model(batch)
    assert out.shape == (len(BATCH), 3)
    with torch.no_grad():
        views = encoder(batch)
        anchor = views["smiles"].projected
        geom = torch.where(
            views["geom3d"].valid[:, None], views["geom3d"].hidden, property_model.missing["geom3d"]
        )
        features = [views["graph2d"].hidden, geom, anchor, objective.fused_positive(anchor)]
        torch.testing.assert_close(out.detach(), property_model.head(torch.cat(features, dim=1)))
        # the positive comes from the centers: moving them moves the prediction
        objective.libraries["geom3d"].centers.copy_(F.normalize(torch.randn(4, 8), dim=1))
        assert not torch.allclose(property_model(batch), out.detach())


def test_semmol_mode_keeps_the_objective_frozen(
    encoder: MultiModalEncoder, objective: SemMolObjective, make_batch
):
    head_input = SemMolHeadInput(objective, anchor="smiles")
    property_model = model(encoder, head_input=head_input, method="semmol").train()
    buffers = {name: value.clone() for name, value in objective.state_dict().items()}
    assert list(objective.parameters()) and not any(p.requires_grad for p in objective.parameters())
    property_model(make_batch(BATCH)).sum().backward()
    assert all(p.grad is None for p in objective.parameters())
    assert encoder.encoders["smiles"].token_embedding.weight.grad is not None  # the anchor still learns
    for name, value in objective.state_dict().items():
        assert torch.equal(value, buffers[name]), name


def test_weighted_fusion_averages_the_views_that_a_molecule_has(encoder: MultiModalEncoder, make_batch):
    property_model = model(encoder, fusion="weighted")
    assert property_model.head[0].in_features == encoder.cfg.proj_dim
    batch = make_batch(BATCH)
    with torch.no_grad():
        property_model.fusion.logits.copy_(torch.tensor([0.0, 1.0]))
        out, contrast = property_model.forward_with_contrast(batch)
        views = encoder(batch)
        weight_3d = torch.softmax(torch.tensor([0.0, 1.0]), dim=0)[1]
        with_3d = (1 - weight_3d) * views["graph2d"].projected + weight_3d * views["geom3d"].projected
        # without a conformer the 2D view carries the whole weight
        fused = torch.where(views["geom3d"].valid[:, None], with_3d, views["graph2d"].projected)
        torch.testing.assert_close(out, property_model.head(fused))
    assert float(contrast) > 0


def test_the_view_contrast_trains_the_encoders_and_is_zero_for_concat_fusion(
    encoder: MultiModalEncoder, make_batch
):
    property_model = model(encoder, fusion="weighted").train()
    _, contrast = property_model.forward_with_contrast(make_batch(BATCH))
    contrast.backward()
    assert property_model.fusion.logits.grad is None  # the contrast does not depend on the weights
    assert next(encoder.encoders["graph2d"].parameters()).grad is not None
    concat = model(encoder)
    assert float(concat.forward_with_contrast(make_batch(BATCH))[1]) == 0.0


def test_weighted_fusion_round_trips_through_the_spec(encoder: MultiModalEncoder, make_batch):
    property_model = model(encoder, fusion="weighted")
    rebuilt = PropertyModel.from_spec(property_model.spec()).eval()
    rebuilt.load_state_dict(property_model.state_dict())
    batch = make_batch(BATCH)
    torch.testing.assert_close(rebuilt(batch), property_model(batch))
    with pytest.raises(ValueError, match="fusion is 'concat' or 'weighted'"):
        model(encoder, fusion="sum")


def test_fingerprint_fusion_feeds_the_head_and_round_trips(encoder: MultiModalEncoder, make_batch):
    property_model = model(encoder, fingerprints=["maccs", "erg", "ecfp"], fingerprint_dim=8)
    assert property_model.head[0].in_features == 2 * 8
    batch = make_batch(BATCH)
    out = property_model(batch)
    assert out.shape == (len(BATCH), 3) and bool(torch.isfinite(out).all())
    batch.maccs = 1 - batch.maccs
    assert not torch.allclose(property_model(batch), out)
    rebuilt = PropertyModel.from_spec(property_model.spec()).eval()
    rebuilt.load_state_dict(property_model.state_dict())
    torch.testing.assert_close(rebuilt(batch), property_model(batch))
    with pytest.raises(ValueError, match="fusion 'concat'"):
        model(encoder, fusion="weighted", fingerprints=["maccs"])


@pytest.mark.parametrize("fingerprints", [[], ["maccs", "erg"]])
def test_graph_text_fusion_puts_the_unified_embedding_before_the_text_views(
    encoder: MultiModalEncoder, make_batch, fingerprints
):
    views = [*FUSED, "smiles"]
    property_model = PropertyModel(
        encoder, modalities=views, n_tasks=3, head_hidden=16, dropout=0.0,
        graph_text_fusion="cross_attention", fingerprints=fingerprints, fingerprint_dim=8,
    ).eval()
    assert property_model.hidden_views() == ["smiles"] and list(property_model.missing) == ["smiles"]
    assert property_model.head[0].in_features == (2 * 8 if fingerprints else 8 + 16)
    batch = make_batch(BATCH)
    out = property_model(batch)
    assert out.shape == (len(BATCH), 3) and bool(torch.isfinite(out).all())
    out.sum().backward()
    assert all(p.grad is not None for p in property_model.graph_text.parameters())
    assert all(float(encoder.projections[v][0].weight.grad.abs().sum()) > 0 for v in views)
    rebuilt = PropertyModel.from_spec(property_model.spec()).eval()
    rebuilt.load_state_dict(property_model.state_dict())
    torch.testing.assert_close(rebuilt(batch), property_model(batch))
    with pytest.raises(ValueError, match="a structure view and a text view"):
        model(encoder, graph_text_fusion="cross_attention")
