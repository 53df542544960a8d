"""The Snakemake workflow end to end on a tiny config, its caching, and its per-target DAGs."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

pytestmark = [pytest.mark.workflow, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
SNAKEFILE = ROOT / "workflow" / "Snakefile"


def snakemake(workdir: Path, config: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """Run Snakemake on the repository's workflow in ``workdir`` with ``config``."""
    bin_dir = str(Path(sys.executable).parent)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "PYTHONUNBUFFERED": "1"}
    command = [
        "snakemake",
        "--snakefile",
        str(SNAKEFILE),
        "--directory",
        str(workdir),
        "--configfile",
        str(config),
        "--cores",
        "2",
        *args,
    ]
    result = subprocess.run(command, capture_output=True, text=True, env=env, cwd=workdir)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(command)} failed:\n{result.stdout[-6000:]}\n{result.stderr[-6000:]}")
    return result


def planned_jobs(result: subprocess.CompletedProcess) -> dict[str, int]:
    """Rule -> job count from the 'Job stats' table of a dry run."""
    text = result.stdout + result.stderr
    if "Nothing to be done" in text:
        return {}
    table = text.split("Job stats:")[1]
    return {m[1]: int(m[2]) for m in re.finditer(r"^(\w+)\s+(\d+)\s*$", table, re.M) if m[1] != "total"}


@pytest.fixture(scope="module")
def tiny_config(tmp_path_factory, moleculenet_dir) -> Path:
    text = (ROOT / "tests/workflow/tiny.yaml").read_text().replace("MOLECULENET_DIR", str(moleculenet_dir))
    path = tmp_path_factory.mktemp("config") / "tiny.yaml"
    path.write_text(text)
    return path


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory, tiny_config) -> Path:
    """The whole tiny experiment, run once for the tests of this module."""
    workdir = tmp_path_factory.mktemp("tiny")
    snakemake(workdir, tiny_config, "all")
    return workdir


def test_every_stage_writes_its_outputs(tiny_run):
    results = tiny_run / "results"
    for dataset in ("corpus", "freesolv", "bbbp"):
        manifest = json.loads((results / f"data/{dataset}/shards/manifest.json").read_text())
        assert manifest["molecules"] == pl.read_parquet(results / f"data/{dataset}/molecules.parquet").height
        assert (results / f"data/{dataset}/rejected.parquet").exists()
    split = json.loads((results / "benchmarks/bbbp/splits/scaffold-0.json").read_text())
    assert split["sizes"]["train"] > split["sizes"]["test"] > 0
    metrics = [
        json.loads(line) for line in (results / "pretrain/semmol/metrics.jsonl").read_text().splitlines()
    ]
    assert [m["step"] for m in metrics] == [2, 4, 6]
    assert (results / "pretrain/semmol/centers/step-000003.npz").exists()
    library = json.loads((results / "pretrain/semmol/centers/library.json").read_text())
    assert set(library["modalities"]) == {"smiles", "graph2d", "geom3d"}
    assert not (results / "pretrain/semmol_head").exists()  # it fine-tunes semmol's pretraining
    for run in ("semmol", "semmol_head", "scratch", "rf_ecfp4"):
        kind = "baseline" if run == "rf_ecfp4" else "finetune"
        result = json.loads((results / f"{kind}/{run}/bbbp/scaffold-1/metrics.json").read_text())
        assert result["metric"] == "roc_auc" and result["n"]["test"] == split["sizes"]["test"]


def test_summary_table_has_every_run_and_benchmark(tiny_run):
    summary = pl.read_csv(tiny_run / "results/report/summary.csv")
    rows = set(zip(summary["run"], summary["benchmark"]))
    for run in ("semmol", "semmol_head", "scratch", "rf_ecfp4"):
        assert {(run, "bbbp"), (run, "freesolv")} <= rows
    assert (summary.filter(pl.col("kind") != "published")["n"] == 2).all()
    markdown = (tiny_run / "results/report/summary.md").read_text()
    assert "semmol" in markdown and "rf_ecfp4" in markdown
    for plot in ("metrics", "finetune_curves", "pretrain_curves", "centers"):
        assert (tiny_run / f"results/report/plots/{plot}.png").stat().st_size > 1000


def test_rerun_has_nothing_to_do(tiny_run, tiny_config):
    assert planned_jobs(snakemake(tiny_run, tiny_config, "all", "--dry-run")) == {}


def test_one_split_builds_only_its_download(tmp_path, tiny_config):
    jobs = planned_jobs(
        snakemake(tmp_path, tiny_config, "results/benchmarks/bbbp/splits/scaffold-0.json", "-n")
    )
    assert jobs == {"download": 1, "split": 1}


def test_one_finetune_target_builds_only_its_dependencies(tmp_path, tiny_config):
    target = "results/finetune/scratch/bbbp/scaffold-0/metrics.json"
    jobs = planned_jobs(snakemake(tmp_path, tiny_config, target, "-n"))
    assert jobs == {
        "download": 1,
        "standardize": 1,
        "conformers": 2,
        "gather_shards": 1,
        "split": 1,
        "finetune": 1,
    }
    target = "results/finetune/semmol_head/bbbp/scaffold-0/metrics.json"
    jobs = planned_jobs(snakemake(tmp_path, tiny_config, target, "-n"))
    assert (
        jobs["pretrain"] == 1 and jobs["download"] == 2 and "centers" not in jobs and "baseline" not in jobs
    )
    assert planned_jobs(snakemake(tmp_path, tiny_config, "all", "-n"))["pretrain"] == 1


@pytest.mark.parametrize(
    "preset", ["config.yaml", "demo.yaml", "moleculenet-cpu.yaml", "moleculenet-gpu.yaml"]
)
def test_presets_plan_the_whole_dag(tmp_path, preset):
    jobs = planned_jobs(snakemake(tmp_path, ROOT / "config" / preset, "all", "-n"))
    for rule in (
        "download",
        "standardize",
        "conformers",
        "split",
        "pretrain",
        "centers",
        "finetune",
        "aggregate",
    ):
        assert jobs.get(rule, 0) > 0, f"{preset}: no {rule} jobs planned"


@pytest.mark.parametrize(
    ("runs_file", "n_runs", "n_pretrainings"),
    [("ablations.yaml", 10, 9), ("finetuning.yaml", 5, 2)],
)
def test_run_sets_share_pretraining_where_they_can(tmp_path, runs_file, n_runs, n_pretrainings):
    # The preset's three runs plus the file's; fine-tuning variants reuse the SemMol pretraining.
    preset = ROOT / "config" / "moleculenet-cpu.yaml"
    runs = ROOT / "config" / "runs" / runs_file
    jobs = planned_jobs(snakemake(tmp_path, preset, "all", "-n", "--configfile", str(preset), str(runs)))
    assert jobs["finetune"] == n_runs * 4 * 3  # runs x benchmarks x seeds
    assert jobs["pretrain"] == n_pretrainings


def test_lint_is_clean(tmp_path):
    result = snakemake(tmp_path, ROOT / "config" / "demo.yaml", "--lint", check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_html_report_embeds_the_results(tiny_run, tiny_config):
    snakemake(tiny_run, tiny_config, "--report", "report.html")
    html = (tiny_run / "report.html").read_text(errors="replace")
    assert "summary.md" in html and "centers.png" in html


def test_stage_timings_from_the_benchmark_files(tiny_run, capsys):
    from semmol.cli.main import main

    main(["bench", "timings", str(tiny_run / "benchmarks")])
    table = capsys.readouterr().out
    stages = {line.split("|")[1].strip(): int(line.split("|")[2]) for line in table.splitlines()[2:]}
    # 3 datasets, 2 shards each, 2 benchmarks x 2 seeds, 3 runs of which one pretrains
    assert stages == {
        "download": 3,
        "standardize": 3,
        "conformers": 6,
        "gather": 3,
        "split": 4,
        "baseline": 4,
        "pretrain": 1,
        "centers": 1,
        "finetune": 12,
        "report": 1,
    }
