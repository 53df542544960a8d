"""The default SemMol objective against the reference code's loss, computed by hand.

The reference (github 3505675604/SemMol: src/losses/total_loss.py, acsm_loss.py,
models/alignment/acsm.py) trains ``0.1 * L_pseudo + 0.01 * L_align`` (after its ramp) with

- per target library: the top-M centers weighted by ``softmax(s / 0.07)``, summed (not normalised);
- one fused positive ``p = normalize(p_2D + p_3D)``;
- ``L_pseudo``: over (anchor, library) pairs with at least one hard negative (a center outside
  the top-M with ``s >= delta``, at most ``max_negatives``), the mean of
  ``log(exp(a.p / 0.07) + sum_n exp(a.n / 0.07)) - a.p / 0.07``;
- ``L_align``: the mean over anchors of the mean over feature dimensions of ``(a - p)^2``.

The numbers below are written out here and the formulas evaluated with plain Python, not with
the module's helpers.
"""

from __future__ import annotations

import math

import pytest
import torch

from semmol.config import SemanticConfig
from semmol.methods.semmol.objective import SemMolObjective

ANCHORS = [[1.0, 0.0, 0.0], [0.6, 0.8, 0.0]]
LIBRARIES = {
    "graph2d": [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.8, 0.0, 0.6]],
    "geom3d": [[0.8, 0.0, 0.6], [0.6, 0.0, 0.8], [0.48, 0.6, 0.64]],
}
TAU = 0.07  # matching and loss temperature
DELTA = 0.3
TOP_M = 2


def dot(u: list[float], v: list[float]) -> float:
    return sum(x * y for x, y in zip(u, v))


def reference_loss() -> tuple[float, float, float]:
    """``(loss, L_pseudo, L_align)`` by the reference's formulas, with max_negatives = 1."""
    pseudo_terms, align_terms = [], []
    for a in ANCHORS:
        fused = [0.0, 0.0, 0.0]
        negatives = {}
        for name, centers in LIBRARIES.items():
            ranked = sorted(centers, key=lambda c: dot(a, c), reverse=True)
            top, rest = ranked[:TOP_M], ranked[TOP_M:]
            exps = [math.exp(dot(a, c) / TAU) for c in top]
            weights = [e / sum(exps) for e in exps]
            for w, c in zip(weights, top):
                fused = [f + w * x for f, x in zip(fused, c)]
            negatives[name] = [dot(a, c) for c in rest[:1] if dot(a, c) >= DELTA]
        norm = math.sqrt(dot(fused, fused))
        p = [x / norm for x in fused]
        positive_logit = dot(a, p) / TAU
        for sims in negatives.values():
            if sims:
                denominator = math.exp(positive_logit) + sum(math.exp(s / TAU) for s in sims)
                pseudo_terms.append(math.log(denominator) - positive_logit)
        align_terms.append(sum((x - y) ** 2 for x, y in zip(a, p)) / len(a))
    pseudo = sum(pseudo_terms) / len(pseudo_terms)
    align = sum(align_terms) / len(align_terms)
    return 0.1 * pseudo + 0.01 * align, pseudo, align


def objective(**overrides) -> SemMolObjective:
    """The default objective (reference options) with the libraries set to :data:`LIBRARIES`."""
    options = dict(
        n_centers=3,
        top_m=TOP_M,
        max_negatives=1,
        delta=DELTA,
        init_cache=3,
        warmup_updates=0,
        ramp_steps=0,
        reseed_after=None,
        beta=1.0,
        faiss_min_size=1 << 62,
    )
    cfg = SemanticConfig(**options | overrides)
    module = SemMolObjective(cfg, dim=3, targets=list(LIBRARIES), seed=0, total_steps=10)
    for name, centers in LIBRARIES.items():
        module.libraries[name].centers.copy_(torch.tensor(centers))
        module.libraries[name].initialised.fill_(True)
    return module


def run(module: SemMolObjective) -> tuple[torch.Tensor, dict[str, float], torch.Tensor]:
    anchor = torch.tensor(ANCHORS, requires_grad=True)
    targets = {name: (torch.tensor(ANCHORS), torch.ones(2, dtype=torch.bool)) for name in LIBRARIES}
    loss, logs = module(anchor, targets, torch.arange(2), step=0)
    return loss, logs, anchor


def test_the_hand_made_example_has_pseudo_pairs_in_both_libraries():
    # (anchor 2, graph2d), (anchor 1, geom3d) and (anchor 2, geom3d) have a hard negative
    _, logs, _ = run(objective())
    assert logs["sem_valid_rows"] == 3


def test_default_objective_is_the_reference_loss():
    loss, logs, anchor = run(objective())
    expected, pseudo, align = reference_loss()
    assert logs["sem_loss_pseudo"] == pytest.approx(pseudo, rel=1e-3)  # float32: a difference of two ~14s
    assert logs["sem_loss_align"] == pytest.approx(align, rel=1e-5)
    assert loss.item() == pytest.approx(expected, rel=1e-3)
    loss.backward()
    assert anchor.grad is not None and anchor.grad.abs().sum() > 0


def test_default_options_are_the_reference_values():
    cfg = SemanticConfig()
    assert (cfg.w_pseudo, cfg.w_align, cfg.w_infonce) == (0.1, 0.01, 0.0)
    assert (cfg.tau.mode, cfg.tau.init, cfg.tau_loss) == ("fixed", 0.07, 0.07)
    assert (cfg.positive, cfg.align_reduction, cfg.memory_bank_size) == ("fused", "mean", 0)
    assert (cfg.top_m, cfg.delta, cfg.max_negatives) == (16, 0.5, 10)
    assert cfg.reconstruction_weights == {"geom3d": 0.5}


def test_summed_alignment_is_dim_times_the_mean():
    _, mean_logs, _ = run(objective())
    _, sum_logs, _ = run(objective(align_reduction="sum"))
    assert sum_logs["sem_loss_align"] == pytest.approx(3 * mean_logs["sem_loss_align"], rel=1e-6)
