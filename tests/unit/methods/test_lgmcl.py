from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from semmol.config import PretrainJob
from semmol.methods import build_method
from semmol.methods.shared.contrastive import infonce_loss
from semmol.models.multimodal import ModalityOutput

B, DIM = 8, 8
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
    generator = torch.Generator().manual_seed(0)
    return {
        view: ModalityOutput(
            hidden=torch.zeros(B, 4),
            valid=torch.ones(B, dtype=torch.bool),
            projected=F.normalize(torch.randn(B, DIM, generator=generator), dim=1).requires_grad_(),
        )
        for view in views
    }


def test_the_three_terms_by_hand():
    method = build_method(job(VIEWS[1:], w_text=0.5, w_graph_text=2.0))
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
def test_ablations_drop_the_terms_their_views_cannot_make(targets, expected):
    method = build_method(job(targets))
    views = outputs(["graph_attention", *targets])
    terms, _ = method(views, torch.arange(B), 0)
    assert list(terms) == expected


def test_a_view_missing_on_one_side_leaves_the_molecule_out_of_that_side():
    method = build_method(job(["graph_global", "smiles"]))
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
