from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from semmol.config import PretrainJob
from semmol.methods import build_method
from semmol.methods.shared.contrastive import infonce_loss
from semmol.models.graph_text_fusion import TEXT_VIEWS
from semmol.models.multimodal import ModalityOutput

B, DIM, TOKENS = 8, 8, 5
VIEWS = ["graph_attention", "graph_global", "smiles", "description"]


def job(targets: list[str], **lgmcl) -> PretrainJob:
    return PretrainJob.model_validate(
        {
            "model": {"proj_dim": DIM},
            "pretrain": {"method": "lgmcl", "anchor": "graph_attention", "targets": targets, "batch_size": B},
            "lgmcl": lgmcl,
        }
    )


def outputs(views=VIEWS) -> dict[str, ModalityOutput]:
    """Random unit projections; text views carry projected tokens too."""
    generator = torch.Generator().manual_seed(0)

    def unit(*shape: int) -> torch.Tensor:
        return F.normalize(torch.randn(*shape, DIM, generator=generator), dim=-1).requires_grad_()

    return {
        view: ModalityOutput(
            hidden=torch.zeros(B, 4),
            valid=torch.ones(B, dtype=torch.bool),
            projected=unit(B),
            projected_tokens=unit(B, TOKENS) if view in TEXT_VIEWS else None,
            token_valid=torch.ones(B, TOKENS, dtype=torch.bool) if view in TEXT_VIEWS else None,
        )
        for view in views
    }


def test_the_three_terms_by_hand_with_mean_fusion():
    method = build_method(job(VIEWS[1:], w_text=0.5, w_graph_text=2.0, fusion="mean"))
    assert method.fusion is None and method.token_views == []
    assert (method.structure, method.text) == (VIEWS[:2], VIEWS[2:])
    views = outputs()
    terms, _ = method(views, torch.arange(B), 0)
    assert list(terms) == ["local_global", "text", "graph_text"]

    def nce(a, b):
        return infonce_loss(a, b, torch.ones(B, dtype=torch.bool), temperature=0.1)

    z = {v: views[v].projected for v in VIEWS}
    torch.testing.assert_close(terms["local_global"], nce(z["graph_attention"], z["graph_global"]))
    torch.testing.assert_close(terms["text"], 0.5 * nce(z["smiles"], z["description"]))
    structure = F.normalize(z["graph_attention"] + z["graph_global"], dim=1)
    text = F.normalize(z["smiles"] + z["description"], dim=1)
    torch.testing.assert_close(terms["graph_text"], 2.0 * nce(structure, text))
    torch.stack(list(terms.values())).sum().backward()
    assert all(float(z[v].grad.abs().sum()) > 0 for v in VIEWS)


@pytest.mark.parametrize(
    ("targets", "expected"),
    [
        (["smiles", "description"], ["text", "graph_text"]),  # no global view
        (["graph_global"], ["local_global"]),  # no text
        (["smiles"], ["graph_text"]),  # one view per side
    ],
)
@pytest.mark.parametrize("fusion", ["cross_attention", "mean"])
def test_ablations_drop_the_terms_their_views_cannot_make(targets, expected, fusion):
    if fusion == "cross_attention" and targets == ["smiles"]:
        with pytest.raises(ValueError, match="against another text view"):
            build_method(job(targets, fusion=fusion))
        return
    method = build_method(job(targets, fusion=fusion))
    views = outputs(["graph_attention", *targets])
    terms, _ = method(views, torch.arange(B), 0)
    assert list(terms) == expected


def test_a_view_missing_on_one_side_leaves_the_molecule_out_of_that_side():
    method = build_method(job(["graph_global", "smiles"], fusion="mean"))
    views = outputs(["graph_attention", "graph_global", "smiles"])
    views["graph_global"].valid[:3] = False
    views["graph_attention"].valid[:2] = False  # molecules 0, 1 have no structure view at all
    terms, _ = method(views, torch.arange(B), 0)
    structure = F.normalize(
        views["graph_attention"].projected * views["graph_attention"].valid[:, None]
        + views["graph_global"].projected * views["graph_global"].valid[:, None],
        dim=1,
    )
    valid = torch.ones(B, dtype=torch.bool)
    valid[:2] = False
    expected = infonce_loss(structure, views["smiles"].projected, valid, temperature=0.1)
    torch.testing.assert_close(terms["graph_text"], expected)


def test_views_that_make_no_term_are_refused():
    with pytest.raises(ValueError, match="LGM-CL needs"):
        build_method(job([]))


def test_cross_attention_fuses_the_structure_with_one_text_view_against_the_other():
    method = build_method(job(VIEWS[1:], w_graph_text=2.0))
    assert method.token_views == ["smiles", "description"]
    views = outputs()
    views["description"].token_valid[:, 3:] = False
    terms, _ = method(views, torch.arange(B), 0)
    assert list(terms) == ["local_global", "text", "graph_text"]
    structure = torch.stack([views[v].projected for v in VIEWS[:2]], dim=1)
    everywhere = torch.ones(B, dtype=torch.bool)

    def fused_against(read: str, positive: str) -> torch.Tensor:
        tokens, token_valid = views[read].projected_tokens, views[read].token_valid
        unified = method.fusion(structure, torch.ones(B, 2, dtype=torch.bool), tokens, token_valid)
        unified = F.normalize(unified, dim=1)
        return infonce_loss(unified, views[positive].projected, everywhere, temperature=0.1)

    expected = (fused_against("smiles", "description") + fused_against("description", "smiles")) / 2
    torch.testing.assert_close(terms["graph_text"], 2.0 * expected)
    terms["graph_text"].backward()
    assert all(float(views[v].projected.grad.abs().sum()) > 0 for v in VIEWS)
    assert all(float(views[v].projected_tokens.grad.abs().sum()) > 0 for v in TEXT_VIEWS)
    assert all(p.grad is not None and float(p.grad.abs().sum()) > 0 for p in method.parameters())
