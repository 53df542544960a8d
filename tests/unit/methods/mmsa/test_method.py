from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from semmol.config import PretrainJob
from semmol.methods import build_method
from semmol.models.multimodal import ModalityOutput

VIEWS = ["graph2d", "image", "geom3d"]
B, DIM = 8, 8


def job(**mmsa) -> PretrainJob:
    return PretrainJob.model_validate(
        {
            "model": {"proj_dim": DIM},
            "pretrain": {
                "method": "mmsa",
                "anchor": "graph2d",
                "targets": ["image", "geom3d"],
                "batch_size": B,
            },
            "mmsa": {"n_memories": 4, "bank_size": 16, "k_neighbours": 3} | mmsa,
        }
    )


def outputs(step: int, views=VIEWS) -> dict[str, ModalityOutput]:
    generator = torch.Generator().manual_seed(step)
    result = {}
    for view in views:
        projected = F.normalize(torch.randn(B, DIM, generator=generator), dim=1).requires_grad_()
        valid = torch.ones(B, dtype=torch.bool)
        if view == "geom3d":
            valid[:2] = False  # no conformer
        result[view] = ModalityOutput(hidden=torch.zeros(B, 4), valid=valid, projected=projected)
    return result


def test_every_term_and_the_fusion_weights():
    torch.manual_seed(0)
    method = build_method(job())
    assert method.modalities == VIEWS
    views = outputs(0)
    terms, logs = method(views, torch.arange(B), 0)
    assert list(terms) == ["infonce", "fusion_reconstruction", "structure", "memory"]
    assert all(bool(torch.isfinite(value)) for value in terms.values())
    assert sum(logs[f"fusion_weight_{v}"] for v in VIEWS) == pytest.approx(1.0)
    torch.stack(list(terms.values())).sum().backward()
    assert all(views[v].projected.grad.abs().sum() > 0 for v in VIEWS)
    trained = [name for name, p in method.named_parameters() if p.grad is not None and p.grad.abs().sum() > 0]
    assert any(name.startswith("fusion.") for name in trained)
    assert any(name.startswith("refiner.") for name in trained)


def test_the_bank_holds_recent_fused_embeddings_and_becomes_hypergraph_nodes():
    torch.manual_seed(0)
    method = build_method(job())
    for step in range(3):
        method(outputs(step), torch.arange(B) + B * step, step)
    features, keys = method.bank.entries()
    assert len(method.bank) == 16 and sorted(keys.tolist()) == list(range(8, 24))
    torch.testing.assert_close(features.norm(dim=1), torch.ones(16))


@pytest.mark.parametrize(
    ("options", "views", "absent"),
    [
        ({"hypergraph": False}, VIEWS, ["refiner", "bank"]),
        ({"n_memories": 0}, VIEWS, ["memory"]),
        ({}, ["graph2d", "geom3d"], []),
    ],
    ids=["no_hypergraph", "no_memory_anchors", "no_image_view"],
)
def test_ablations(options, views, absent):
    torch.manual_seed(0)
    run = job(**options)
    run.pretrain.targets = views[1:]
    method = build_method(run)
    assert method.modalities == views
    for part in absent:
        assert getattr(method, part) is None, part
    terms, _ = method(outputs(0, views), torch.arange(B), 0)
    assert ("memory" in terms) == ("memory" not in absent)
    if "refiner" in absent:  # refined = fused: the structure term contrasts the fusion itself
        assert bool(torch.isfinite(terms["structure"]))


def test_a_single_view_is_refused():
    run = job()
    run.pretrain.targets = []
    with pytest.raises(ValueError, match="at least two views"):
        build_method(run)
