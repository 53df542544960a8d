"""profiles/slurm against a real SLURM (a one-node cluster on 127.0.0.1, no job accounting).

Skipped where SLURM is not installed or the tests do not run as root, saying so; in CI
(``CI=true``; ``.ci/run`` installs slurm-wlm and munge) a missing prerequisite fails instead.
The cluster with job accounting is in test_slurm_accounting.py (one cluster at a time).
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator

import pyarrow.parquet as pq
import pytest
import torch
import yaml

from semmol.data.schema import SHARD_METADATA_KEY

from .conftest import config_variant
from .slurm_cluster import LocalSlurm, running_cluster, snakemake_slurm, submitted_jobs

pytestmark = [pytest.mark.workflow, pytest.mark.slow, pytest.mark.slurm]


@pytest.fixture(scope="module")
def slurm(tmp_path_factory) -> Iterator[LocalSlurm]:
    with running_cluster(tmp_path_factory.mktemp("slurm")) as cluster:
        yield cluster


def test_jobs_run_through_the_profile_and_use_their_allocation(slurm, tmp_path, tiny_config):
    workdir = tmp_path / "run"
    # Snakemake's thread count 1, the allocation 2: the job must use its allocation.
    output = snakemake_slurm(
        workdir,
        tiny_config,
        "results/benchmarks/bbbp/splits/scaffold-0.json",
        "results/data/freesolv/shards/0.parquet",
        cpus=2,
        extra=("--set-threads", "conformers=1"),
    )
    jobs = submitted_jobs(output)
    assert {"split", "standardize", "conformers"} <= set(jobs), output[-3000:]
    shard = pq.read_schema(workdir / "results/data/freesolv/shards/0.parquet")
    assert json.loads(shard.metadata[SHARD_METADATA_KEY])["threads"] == 2
    assert subprocess.run(["squeue", "-h"], capture_output=True, text=True).stdout.strip() == ""


def test_multi_node_pretraining_launches_torchrun_through_srun(slurm, tmp_path, tiny_config):
    """pretrain.nodes 2: two srun tasks each run torchrun and meet at a c10d rendezvous (here
    both tasks on the one node: --set-resources pretrain:nodes=1 keeps the job placeable)."""
    tiny = yaml.safe_load(tiny_config.read_text())
    config = config_variant(
        tiny_config,
        tmp_path / "nodes.yaml",
        pretrain={**tiny["pretrain"], "nodes": 2},
        runs={"semmol": tiny["runs"]["semmol"]},
    )
    workdir = tmp_path / "run"
    snakemake_slurm(
        workdir,
        config,
        "results/pretrain/semmol/model.pt",
        cpus=slurm.cpus,
        resources=("pretrain:nodes=1", "pretrain:cpus_per_task=1"),
    )
    checkpoint = torch.load(workdir / "results/pretrain/semmol/_ckpt/last.pt", weights_only=True)
    assert checkpoint["world_size"] == 2
    steps = [
        json.loads(line)["step"]
        for line in (workdir / "results/pretrain/semmol/metrics.jsonl").read_text().splitlines()
    ]
    assert steps == [2, 4, 6]
