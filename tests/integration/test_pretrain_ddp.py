"""Pretraining under torchrun: 2 gloo processes follow the same curve as 1 process with the same global batch."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from semmol.runtime.checkpoint import load_file

pytestmark = [pytest.mark.distributed, pytest.mark.slow]

#: No dropout: per-rank dropout streams are the one thing world size legitimately changes. The
#: corpus is streamed a shard at a time.
JOB = {
    "model": {
        "proj_dim": 16,
        "smiles": {"dim": 16, "layers": 1, "heads": 2, "max_len": 64, "dropout": 0.0},
        "graph2d": {"dim": 16, "layers": 2, "dropout": 0.0},
        "geom3d": {"dim": 16, "layers": 1, "num_gaussians": 8},
    },
    "pretrain": {
        "method": "semmol",
        "descriptor_views": ["graph2d"],  # an auxiliary term whose heads live outside DDP
        "steps": 6,
        "batch_size": 10,
        "stream_shards": 1,  # one shard (24 molecules) in memory; the third batch straddles two
        "warmup_steps": 2,
        "log_every": 1,
        "checkpoint_every": 3,
    },
    "semantic": {
        "n_centers": 4,
        "top_m": 2,
        "init_cache": 8,
        "memory_bank_size": 8,
        "warmup_updates": 1,
        "ramp_steps": 2,
        "snapshot_every": 3,
        # the options off by default, on: every collective and outside-DDP gradient path runs
        "w_infonce": 1.0,
        "tau": {"mode": "learnable", "init": 0.1},
    },
}


#: MMSA on the paper's views (2D graph, depiction, conformer), every part switched on.
MMSA_JOB = {
    "model": {
        "proj_dim": 16,
        "graph2d": {"dim": 16, "layers": 2, "dropout": 0.0},
        "geom3d": {"dim": 16, "layers": 1, "num_gaussians": 8},
        "image": {"dim": 16, "width": 8, "stages": 2, "dropout": 0.0},
    },
    "pretrain": {
        "method": "mmsa",
        "anchor": "graph2d",
        "targets": ["image", "geom3d"],
        "steps": 6,
        "batch_size": 8,
        "warmup_steps": 2,
        "log_every": 1,
        "checkpoint_every": 3,
    },
    "mmsa": {"k_neighbours": 3, "bank_size": 8, "n_memories": 4},
}

#: LGM-CL on the paper's views: AttentiveFP (local), graph transformer (global), randomised
#: SMILES and the generated descriptions, both read by DeBERTa.
LGMCL_JOB = {
    "model": {
        "proj_dim": 16,
        "smiles": {"name": "deberta", "dim": 16, "layers": 1, "heads": 2, "dropout": 0.0, "randomize": True},
        "description": {"dim": 16, "layers": 1, "heads": 2, "dropout": 0.0},
        "graph_attention": {"dim": 16, "layers": 1, "timesteps": 1, "dropout": 0.0},
        "graph_global": {"dim": 16, "layers": 1, "heads": 2, "walk_length": 4, "dropout": 0.0},
    },
    "pretrain": {
        "method": "lgmcl",
        "anchor": "graph_attention",
        "targets": ["graph_global", "smiles", "description"],
        "steps": 6,
        "batch_size": 8,
        "warmup_steps": 2,
        "log_every": 1,
        "checkpoint_every": 3,
    },
}


def assert_same_weights(one: dict, two: dict) -> None:
    """The state dicts of the 1- and 2-process runs agree, up to float error.

    The key third of an attention's ``in_proj_bias`` is left out: it shifts all of a query's
    logits alike, which softmax cancels, so its gradient is float noise that Adam scales up to
    full-size steps whose signs differ with the world size's summation order.
    """
    for name, value in one.items():
        other = two[name]
        if name.endswith("in_proj_bias"):
            third = len(value) // 3
            keep = torch.cat([torch.arange(third), torch.arange(2 * third, len(value))])
            value, other = value[keep], other[keep]
        torch.testing.assert_close(value, other, rtol=1e-3, atol=1e-4, msg=name)


def pretrain(manifest: Path, out_dir: Path, *, nproc: int, job: dict = JOB) -> list[dict]:
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc-per-node",
        str(nproc),
        "-m",
        "semmol",
        "pretrain",
        "--job",
        json.dumps(job),
        "--shards-manifest",
        str(manifest),
        "--out-dir",
        str(out_dir),
    ]
    result = subprocess.run(
        command, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"}
    )
    assert result.returncode == 0, result.stderr[-5000:]
    return [json.loads(line) for line in (out_dir / "metrics.jsonl").read_text().splitlines()]


#: SemMol's defaults (the reference objective): no InfoNCE, a fixed temperature. The targets'
#: projections then feed only the detached libraries, so DDP sees forward outputs whose
#: parameters never receive a gradient.
REFERENCE_JOB = {
    **JOB,
    "semantic": {k: v for k, v in JOB["semantic"].items() if k not in ("w_infonce", "tau")},
}


@pytest.mark.parametrize("job", [JOB, REFERENCE_JOB], ids=["every_option", "reference_defaults"])
def test_two_processes_follow_the_one_process_curve(tiny_benchmark, tmp_path, job):
    one = pretrain(tiny_benchmark["manifest"], tmp_path / "one", nproc=1, job=job)
    two = pretrain(tiny_benchmark["manifest"], tmp_path / "two", nproc=2, job=job)
    assert [m["step"] for m in one] == [m["step"] for m in two] == list(range(1, 7))
    assert any(m["sem_active"] for m in one), "the semantic objective never started matching"
    for a, b in zip(one, two):
        terms = [key for key in a if key.startswith("loss")]
        assert ("loss_infonce" in terms) == (job is JOB)
        for key in (*terms, "sem_loss_pseudo"):
            assert a[key] == pytest.approx(b[key], rel=1e-4, abs=1e-5), (a["step"], key)
    weights_one = load_file(tmp_path / "one/model.pt")["state_dict"]
    weights_two = load_file(tmp_path / "two/model.pt")["state_dict"]
    assert_same_weights(weights_one, weights_two)
    centers_one = load_file(tmp_path / "one/model.pt")["extra"]["method"]
    centers_two = load_file(tmp_path / "two/model.pt")["extra"]["method"]
    for name in ("objective.libraries.graph2d.centers", "objective.libraries.geom3d.centers"):
        torch.testing.assert_close(centers_one[name], centers_two[name], rtol=1e-3, atol=1e-4, msg=name)


def test_mmsa_two_processes_follow_the_one_process_curve(tiny_benchmark, tmp_path):
    one = pretrain(tiny_benchmark["manifest"], tmp_path / "one", nproc=1, job=MMSA_JOB)
    two = pretrain(tiny_benchmark["manifest"], tmp_path / "two", nproc=2, job=MMSA_JOB)
    assert [m["step"] for m in one] == [m["step"] for m in two] == list(range(1, 7))
    terms = ["loss", "loss_infonce", "loss_fusion_reconstruction", "loss_structure", "loss_memory"]
    for a, b in zip(one, two):
        for key in [*terms, "memory_entropy", "fusion_weight_image"]:
            assert a[key] == pytest.approx(b[key], rel=1e-4, abs=1e-5), (a["step"], key)
    models = [torch.load(tmp_path / f"{n}/model.pt", weights_only=True) for n in ("one", "two")]
    assert_same_weights(models[0]["state_dict"], models[1]["state_dict"])
    method_one, method_two = (model["extra"]["method"] for model in models)
    assert {"memory.anchors", "bank.features", "refiner.convs.0.lin.weight"} <= set(method_one)
    for name, value in method_one.items():
        torch.testing.assert_close(value, method_two[name], rtol=1e-3, atol=1e-4, msg=name)


@pytest.mark.parametrize(
    "targets, terms",
    [
        (
            ["graph_global", "smiles", "description"],
            ["loss_local_global", "loss_text", "loss_graph_text", "loss_reconstruction"],
        ),
        # lgmcl_no_text: no view reconstructs its input, so there is no reconstruction term
        (["graph_global"], ["loss_local_global"]),
    ],
    ids=["all_views", "graph_views_only"],
)
def test_lgmcl_two_processes_follow_the_one_process_curve(tiny_benchmark, tmp_path, targets, terms):
    job = {**LGMCL_JOB, "pretrain": {**LGMCL_JOB["pretrain"], "targets": targets}}
    one = pretrain(tiny_benchmark["manifest"], tmp_path / "one", nproc=1, job=job)
    two = pretrain(tiny_benchmark["manifest"], tmp_path / "two", nproc=2, job=job)
    assert [m["step"] for m in one] == [m["step"] for m in two] == list(range(1, 7))
    assert sorted(key for key in one[0] if key.startswith("loss_")) == sorted(terms)
    for a, b in zip(one, two):
        for key in ["loss", *terms]:
            assert a[key] == pytest.approx(b[key], rel=1e-4, abs=1e-5), (a["step"], key)
    models = [load_file(tmp_path / f"{n}/model.pt") for n in ("one", "two")]
    assert models[0]["modalities"] == ["graph_attention", *targets]
    assert_same_weights(models[0]["state_dict"], models[1]["state_dict"])
