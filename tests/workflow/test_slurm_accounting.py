"""profiles/slurm on a cluster with job accounting (slurmdbd over MariaDB, on 127.0.0.1): with
the plugin's ``sacct`` status query, the jobs are charged to the account docs/slurm.md's edit names
and ``sacct`` reports them completed. A module of its own: one local cluster at a time."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator

import pytest

from .slurm_cluster import ACCOUNT, LocalSlurm, running_cluster, snakemake_slurm, submitted_jobs

pytestmark = [pytest.mark.workflow, pytest.mark.slow, pytest.mark.slurm]


@pytest.fixture(scope="module")
def slurm(tmp_path_factory) -> Iterator[LocalSlurm]:
    with running_cluster(tmp_path_factory.mktemp("slurm-accounting"), accounting=True) as cluster:
        yield cluster


def test_jobs_are_accounted_and_followed_through_sacct(slurm, tmp_path, tiny_config):
    workdir = tmp_path / "run"
    output = snakemake_slurm(
        workdir,
        tiny_config,
        "results/benchmarks/bbbp/splits/scaffold-0.json",
        cpus=slurm.cpus,
        account=ACCOUNT,
        extra=("--slurm-status-command", "sacct"),
    )
    jobs = submitted_jobs(output)
    assert set(jobs) == {"split"}, output[-3000:]  # the download is a local rule
    ids = ",".join(str(job) for rule_jobs in jobs.values() for job in rule_jobs)
    accounted = subprocess.run(
        ["sacct", "-n", "-X", "-P", "-j", ids, "-o", "JobID,State,Account"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    rows = [line.split("|") for line in accounted.splitlines()]
    assert sorted(int(job) for job, _, _ in rows) == sorted(map(int, ids.split(","))), accounted
    assert {(state, account) for _, state, account in rows} == {("COMPLETED", ACCOUNT)}, accounted
    split = json.loads((workdir / "results/benchmarks/bbbp/splits/scaffold-0.json").read_text())
    assert split["test"]
