"""``semmol train`` end to end: a user's regression CSV through the demo preset's DAG (shrunk to
tests/workflow/tiny.yaml's sizes by --config-overlay), its printed table and predict command."""

from __future__ import annotations

import math
import os
import shlex
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
import yaml

from ..conftest import planned_jobs

pytestmark = [pytest.mark.workflow, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
#: A regression table shipped with the tests (300 Lipophilicity records; target column 'exp').
TABLE = ROOT / "tests" / "data" / "moleculenet" / "lipophilicity.csv"


def tiny_overlay(path: Path) -> Path:
    """The demo preset at tiny.yaml's model and stage sizes, on 100 corpus and 120 table molecules."""
    tiny = yaml.safe_load((ROOT / "tests" / "workflow" / "tiny.yaml").read_text())
    sections = ("conformers", "model", "pretrain", "semantic", "finetune", "baseline")
    overlay = {
        "datasets": {"chembl_samples": {"max_rows": 100}, "lipophilicity": {"max_rows": 120}},
        "seeds": [0],
        **{section: tiny[section] for section in sections},
    }
    path.write_text(yaml.safe_dump(overlay, sort_keys=False))
    return path


def test_train_prints_a_table_and_a_predict_command_that_works(tmp_path):
    extra = tiny_overlay(tmp_path / "tiny-train.yaml")
    bin_dir = str(Path(sys.executable).parent)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "PYTHONUNBUFFERED": "1"}
    command = [
        *(sys.executable, "-m", "semmol", "train", str(TABLE)),
        *("--smiles-column", "smiles", "--target-columns", "exp", "--task", "regression"),
        *("--preset", "demo", "--config-overlay", str(extra)),
    ]
    result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-6000:]
    printed = result.stdout.splitlines()

    # the results table: the table's line, the demo's runs and the random forest
    header = next(line for line in printed if line.startswith("| benchmark |"))
    assert all(f" {run} " in header for run in ("semmol", "scratch", "rf_ecfp4 (baseline)")), header
    (line,) = [line for line in printed if line.startswith("| lipophilicity | scaffold | RMSE")]
    cells = [cell.strip().strip("*") for cell in line.split("|")[4:-1]]
    assert len(cells) == 3 and all(math.isfinite(float(cell.split()[0])) for cell in cells), line

    # the printed predict command, run as printed, from the folder it was printed in
    announce = next(i for i, line in enumerate(printed) if line.startswith("Predict new molecules with"))
    predict = shlex.split(printed[announce + 1])
    assert "predict" in predict and "--model" in predict
    out = subprocess.run(predict, cwd=tmp_path, capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr[-3000:]
    predictions = pl.read_csv(out.stdout.encode())
    assert predictions["smiles"].to_list() == ["CCO", "c1ccccc1O"]
    assert all(math.isfinite(value) for value in predictions["exp__pred"].to_list())

    # the overlay re-runs the same DAG with plain Snakemake: nothing left to do
    workdir = tmp_path / "lipophilicity"
    overlay = workdir / "semmol-train.yaml"
    assert yaml.safe_load(overlay.read_text())["benchmarks"] == ["lipophilicity"]
    rerun = [
        *(
            "snakemake",
            "all",
            "--snakefile",
            str(ROOT / "workflow" / "Snakefile"),
            "--directory",
            str(workdir),
        ),
        *(
            "--cores",
            "1",
            "--dry-run",
            "--configfile",
            str(ROOT / "config" / "demo.yaml"),
            str(overlay),
            str(extra),
        ),
    ]
    dry = subprocess.run(rerun, cwd=tmp_path, capture_output=True, text=True, env=env)
    assert dry.returncode == 0, dry.stderr[-3000:]
    assert planned_jobs(dry) == {}
