"""Pretraining in one process: learning-rate schedule, outputs, and exact resumption after a kill."""

from __future__ import annotations

import json

import pytest
import torch

from semmol.config import PretrainJob
from semmol.runtime.checkpoint import load_file
from semmol.train.pretrain import CHECKPOINT, HISTORY, _truncate_metrics, pretrain

pytestmark = pytest.mark.slow

JOB = PretrainJob.model_validate(
    {
        "model": {
            "proj_dim": 16,
            "smiles": {"dim": 16, "layers": 1, "heads": 2, "max_len": 64},
            "graph2d": {"dim": 16, "layers": 2},
            "geom3d": {"dim": 16, "layers": 1, "num_gaussians": 8},
        },
        "pretrain": {
            "method": "semmol",
            "steps": 9,
            "batch_size": 8,
            "warmup_steps": 2,
            "log_every": 1,
            "checkpoint_every": 2,
        },
        "semantic": {
            "n_centers": 4,
            "top_m": 2,
            "init_cache": 8,
            "memory_bank_size": 8,
            "warmup_updates": 1,
            "snapshot_every": 4,
        },
    }
)


#: Two windows of one shard (24 molecules) each; batch 3 of an epoch straddles them, and the
#: checkpoint of step 3 resumes right there.
STREAMED_JOB = JOB.model_copy(
    update={
        "pretrain": JOB.pretrain.model_copy(
            update={"stream_shards": 1, "batch_size": 10, "checkpoint_every": 3}
        )
    }
)


def _metrics(out_dir, name="metrics.jsonl"):
    return [json.loads(line) for line in (out_dir / name).read_text().splitlines()]


#: With descriptor prediction from the 2D and 3D views: its heads are in the checkpoint too.
DESCRIPTOR_JOB = JOB.model_copy(
    update={"pretrain": JOB.pretrain.model_copy(update={"descriptor_views": ["graph2d", "geom3d"]})}
)


@pytest.mark.parametrize(
    "job", [JOB, STREAMED_JOB, DESCRIPTOR_JOB], ids=["every-shard", "streamed", "descriptor-prediction"]
)
def test_killed_run_resumes_to_the_same_weights(tiny_benchmark, tmp_path, job):
    """Dropout is on: the resumed run must restore data order, RNG streams, optimizer and library."""
    pretrain(job, shards_manifest=tiny_benchmark["manifest"], out_dir=tmp_path / "straight")
    pretrain(job, shards_manifest=tiny_benchmark["manifest"], out_dir=tmp_path / "killed", stop_after=5)
    # a killed run leaves no declared output (Snakemake would delete it before the re-run)
    assert not (tmp_path / "killed/model.pt").exists() and not (tmp_path / "killed/metrics.jsonl").exists()
    assert (tmp_path / "killed" / CHECKPOINT).exists()
    assert [m["step"] for m in _metrics(tmp_path / "killed", HISTORY)] == [1, 2, 3, 4, 5]
    # the kill came after step 5; the checkpoint is from an earlier step, so the steps after it are redone
    pretrain(job, shards_manifest=tiny_benchmark["manifest"], out_dir=tmp_path / "killed")
    straight = load_file(tmp_path / "straight/model.pt")
    resumed = load_file(tmp_path / "killed/model.pt")
    for name, value in straight["state_dict"].items():
        torch.testing.assert_close(value, resumed["state_dict"][name], rtol=0, atol=0, msg=name)
    for name, value in straight["extra"]["method"].items():
        torch.testing.assert_close(value, resumed["extra"]["method"][name], rtol=0, atol=0, msg=name)
    straight_log, resumed_log = _metrics(tmp_path / "straight"), _metrics(tmp_path / "killed")
    assert [m["step"] for m in resumed_log] == list(range(1, 10))
    assert [m["loss"] for m in straight_log] == [m["loss"] for m in resumed_log]


def test_outputs_and_snapshots(tiny_benchmark, tmp_path):
    pretrain(JOB, shards_manifest=tiny_benchmark["manifest"], out_dir=tmp_path)
    snapshots = sorted(p.name for p in (tmp_path / "centers").iterdir())
    assert snapshots == [f"step-{s:06d}.{ext}" for s in (4, 8, 9) for ext in ("json", "npz")]
    summary = json.loads((tmp_path / "centers/step-000009.json").read_text())
    assert summary["step"] == 9 and summary["modalities"]["graph2d"]["initialised"]
    record = load_file(tmp_path / "model.pt")
    assert record["modalities"] == ["smiles", "graph2d", "geom3d"] and record["extra"]["steps"] == 9


def test_batch_larger_than_corpus_is_a_clear_error(tiny_benchmark, tmp_path):
    job = JOB.model_copy(update={"pretrain": JOB.pretrain.model_copy(update={"batch_size": 4096})})
    with pytest.raises(ValueError, match="fewer than one batch"):
        pretrain(job, shards_manifest=tiny_benchmark["manifest"], out_dir=tmp_path)


def test_checkpoint_of_other_options_is_not_resumed(tiny_benchmark, tmp_path):
    pretrain(JOB, shards_manifest=tiny_benchmark["manifest"], out_dir=tmp_path / "changed", stop_after=5)
    other = JOB.model_copy(update={"pretrain": JOB.pretrain.model_copy(update={"lr": 3e-4})})
    pretrain(other, shards_manifest=tiny_benchmark["manifest"], out_dir=tmp_path / "changed")
    pretrain(other, shards_manifest=tiny_benchmark["manifest"], out_dir=tmp_path / "fresh")
    changed = load_file(tmp_path / "changed/model.pt")["state_dict"]
    fresh = load_file(tmp_path / "fresh/model.pt")["state_dict"]
    assert all(torch.equal(value, changed[name]) for name, value in fresh.items())
    assert [m["step"] for m in _metrics(tmp_path / "changed")] == list(range(1, 10))


def test_truncated_history_drops_later_steps_and_a_line_cut_short(tmp_path):
    history = tmp_path / "metrics.jsonl"
    history.write_text('{"step": 2}\n{"step": 4}\n{"step": 6}\n{"st')
    _truncate_metrics(history, 4)
    assert history.read_text() == '{"step": 2}\n{"step": 4}\n'
    _truncate_metrics(history, 0)
    assert history.read_text() == ""


def test_descriptor_prediction_is_a_term_of_its_own_that_learns(tiny_benchmark, tmp_path):
    longer = {"steps": 30, "lr": 3e-3}
    job = DESCRIPTOR_JOB.model_copy(update={"pretrain": DESCRIPTOR_JOB.pretrain.model_copy(update=longer)})
    pretrain(job, shards_manifest=tiny_benchmark["manifest"], out_dir=tmp_path)
    losses = [m["loss_descriptors"] for m in _metrics(tmp_path)]
    # squared error per standardized descriptor, summed over the two views: about 1.5 each at first
    assert sum(losses[:5]) / 5 > 1.2 * sum(losses[-5:]) / 5
    # fine-tuning reads the encoders only: the heads stay out of model.pt
    assert not any(name.startswith("heads.") for name in load_file(tmp_path / "model.pt")["state_dict"])
    pretrain(JOB, shards_manifest=tiny_benchmark["manifest"], out_dir=tmp_path / "without")
    assert "loss_descriptors" not in _metrics(tmp_path / "without")[0]
