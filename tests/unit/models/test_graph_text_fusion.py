from __future__ import annotations

import pytest
import torch

from semmol.models.graph_text_fusion import GraphTextCrossAttention, text_tokens
from semmol.models.multimodal import ModalityOutput

B, S, L, DIM = 4, 2, 5, 8


@pytest.fixture()
def fusion() -> GraphTextCrossAttention:
    torch.manual_seed(0)
    return GraphTextCrossAttention(DIM).eval()


def inputs() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(1)
    structure = torch.randn(B, S, DIM, generator=generator)
    tokens = torch.randn(B, L, DIM, generator=generator)
    token_valid = torch.ones(B, L, dtype=torch.bool)
    token_valid[1, 3:] = False  # molecule 1: two padded positions
    return structure, torch.ones(B, S, dtype=torch.bool), tokens, token_valid


def test_one_unified_embedding_per_molecule_that_reads_the_text(fusion):
    structure, structure_valid, tokens, token_valid = inputs()
    out = fusion(structure, structure_valid, tokens, token_valid)
    assert out.shape == (B, DIM) and bool(torch.isfinite(out).all())
    moved = fusion(structure, structure_valid, tokens + 1, token_valid)
    assert (moved != out).any(dim=1).all()


@torch.no_grad()
def test_a_padded_token_changes_nothing(fusion):
    structure, structure_valid, tokens, token_valid = inputs()
    out = fusion(structure, structure_valid, tokens, token_valid)
    tokens[1, 3:] = 100.0
    torch.testing.assert_close(fusion(structure, structure_valid, tokens, token_valid), out)


@torch.no_grad()
def test_missing_structure_views_and_text_are_left_out(fusion):
    structure, structure_valid, tokens, token_valid = inputs()
    structure_valid[0, 1] = False  # molecule 0 lacks its second structure view
    structure_valid[2] = False  # molecule 2 has none: every view is pooled
    token_valid[3] = False  # molecule 3 has no text: its queries alone, layer-normalised
    out = fusion(structure, structure_valid, tokens, token_valid)
    changed = structure.clone()
    changed[:, 1] += 5.0
    assert (fusion(changed, structure_valid, tokens, token_valid) != out).any(dim=1).tolist() == [
        False, True, True, True
    ]
    torch.testing.assert_close(out[3], fusion.norm(structure[3]).mean(dim=0))


def test_gradients_reach_both_the_structure_and_the_text(fusion):
    structure, structure_valid, tokens, token_valid = inputs()
    structure.requires_grad_()
    tokens.requires_grad_()
    fusion(structure, structure_valid, tokens, token_valid).square().sum().backward()
    assert float(structure.grad.abs().sum()) > 0 and float(tokens.grad[:, :3].abs().sum()) > 0
    assert float(tokens.grad[1, 3:].abs().sum()) == 0  # padding
    assert all(p.grad is not None for p in fusion.parameters())


def test_text_tokens_concatenates_the_views_and_masks_a_missing_one():
    def view(length: int, valid: bool) -> ModalityOutput:
        return ModalityOutput(
            hidden=torch.zeros(B, DIM),
            valid=torch.full((B,), valid),
            projected_tokens=torch.randn(B, length, DIM),
            token_valid=torch.ones(B, length, dtype=torch.bool),
        )

    views = {"smiles": view(3, True), "description": view(2, False)}
    tokens, valid = text_tokens(views, ["smiles", "description"])
    assert tokens.shape == (B, 5, DIM) and valid.tolist() == [[True] * 3 + [False] * 2] * B
    with pytest.raises(ValueError, match="'smiles' was encoded without token states"):
        text_tokens({"smiles": ModalityOutput(hidden=tokens, valid=valid)}, ["smiles"])


def test_heads_must_divide_the_projection():
    with pytest.raises(ValueError, match=r"proj_dim \(10\) must be divisible by 4 heads"):
        GraphTextCrossAttention(10)
