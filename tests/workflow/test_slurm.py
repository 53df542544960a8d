"""profiles/slurm against a real SLURM (a one-node cluster on 127.0.0.1, no job accounting).

Skipped where SLURM is not installed or the tests do not run as root, saying so; in CI
(``CI=true``; ``.ci/run`` installs slurm-wlm and munge) a missing prerequisite fails instead.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import torch
import yaml

from semmol.data.conformers import SHARD_METADATA_KEY

from .conftest import ROOT, config_variant
from .slurm_cluster import LocalSlurm, missing_prerequisites

pytestmark = [pytest.mark.workflow, pytest.mark.slow, pytest.mark.slurm]


@pytest.fixture(scope="module")
def slurm(tmp_path_factory) -> Iterator[LocalSlurm]:
    problem = missing_prerequisites()
    if problem is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must run the SLURM tests: {problem}")
        pytest.skip(problem)
    cluster = LocalSlurm(tmp_path_factory.mktemp("slurm"), cpus=os.cpu_count() or 2)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


#: Rules whose profile sizes may exceed the test node's CPUs.
SIZED_RULES = ("conformers", "pretrain", "centers", "finetune", "baseline")


def snakemake_slurm(
    workdir: Path,
    config: Path,
    *targets: str,
    cpus: int,
    resources: tuple[str, ...] = (),
    extra: tuple[str, ...] = (),
) -> str:
    """Run ``targets`` through profiles/slurm as a user would, with the README's edits as flags:
    the account and partition, and job sizes that fit the node (``cpus`` CPUs; a job asking for
    more would pend forever). ``resources`` are further ``--set-resources`` entries."""
    sizes = [f"{rule}:cpus_per_task={cpus}" for rule in SIZED_RULES]
    command = [
        "snakemake", *targets, "--snakefile", str(ROOT / "workflow/Snakefile"), "--directory", str(workdir),
        "--configfile", str(config), "--profile", str(ROOT / "profiles/slurm"),
        "--slurm-no-account", "--default-resources", "slurm_partition=debug",
        "--set-resources", *sizes, *resources, *extra,
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, cwd=workdir, timeout=900)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-8000:]
    return output


def submitted_jobs(output: str) -> dict[str, list[int]]:
    """SLURM job ids per rule, from Snakemake's submission lines."""
    jobs: dict[str, list[int]] = {}
    for job_id, rule in re.findall(
        r"submitted with SLURM jobid (\d+) \(log: \S+/slurm_logs/rule_(\w+)/", output
    ):
        jobs.setdefault(rule, []).append(int(job_id))
    return jobs


def test_jobs_run_through_the_profile_and_use_their_allocation(slurm, tmp_path, tiny_config):
    workdir = tmp_path / "run"
    workdir.mkdir()
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
    workdir.mkdir()
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
