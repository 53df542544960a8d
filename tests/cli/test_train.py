"""``semmol train``: its options, its one-line refusals of bad input, and the overlay it writes."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path
from typing import get_args

import pytest
import yaml

from semmol.cli.main import build_parser
from semmol.cli.train import BAD_INPUT_STATUS
from semmol.config import TaskType, load_config
from semmol.config_layers import load_config_files
from semmol.runtime.workflow_run import REPOSITORY, TrainRequest, dataset_name, overlay_config

from ..conftest import expected_jobs, planned_counts, planned_jobs

ROOT = Path(__file__).resolve().parents[2]


def _train_args(*extra: str) -> list[str]:
    return ["train", "data.csv", "--target-columns", "y", "--task", "regression", *extra]


def _run_semmol(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    bin_dir = str(Path(sys.executable).parent)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    return subprocess.run(
        [sys.executable, "-m", "semmol", *args], cwd=cwd, capture_output=True, text=True, env=env
    )


@pytest.mark.parametrize(
    ("given", "split"),
    [
        (None, {"kind": "scaffold"}),
        ("random", {"kind": "random"}),
        ("none", {"kind": "none"}),
        ("column:fold", {"kind": "column", "column": "fold"}),
        ("column:my fold", {"kind": "column", "column": "my fold"}),
    ],
)
def test_split_option(given, split):
    args = build_parser().parse_args(_train_args(*(["--split", given] if given else [])))
    assert (
        args.split == split
        and args.preset == "demo"
        and args.seeds is None
        and args.smiles_column == "smiles"
    )


@pytest.mark.parametrize(
    "argv",
    [
        _train_args("--split", "column"),
        _train_args("--split", "column:"),
        _train_args("--split", "scaffold:fold"),
        _train_args("--split", "kfold"),
        _train_args("--preset", "huge"),
        _train_args("--seeds", "0"),
        ["train", "data.csv", "--target-columns", "y", "--task", "ranking"],
        ["train", "data.csv", "--task", "regression"],
    ],
)
def test_bad_options_are_usage_errors(argv, capsys):
    with pytest.raises(SystemExit) as caught:
        build_parser().parse_args(argv)
    assert caught.value.code == 2 and "semmol train: error:" in capsys.readouterr().err


def test_tasks_are_the_config_task_types():
    train = build_parser()._subparsers._group_actions[0].choices["train"]
    (task,) = [action for action in train._actions if action.dest == "task"]
    assert tuple(task.choices) == get_args(TaskType)


def test_dataset_names_fit_the_workflow_and_keep_clear_of_the_preset():
    assert dataset_name(Path("/x/my assay (v2).csv"), set()) == "my_assay_v2_"
    assert dataset_name(Path("/x/esol.csv.gz"), {"esol", "zinc250k"}) == "esol_own"


def test_the_overlay_makes_a_cpu_presets_paths_absolute():
    # The CPU preset downloads its corpus; with the development mirror layered on, it reads a
    # relative local path, which the overlay makes absolute (Snakemake runs in the output folder).
    downloaded = load_config(REPOSITORY / "config" / "moleculenet-cpu.yaml")
    preset = load_config_files(
        [REPOSITORY / "config" / "moleculenet-cpu.yaml", REPOSITORY / "config" / "overlays" / "local-data.yaml"]
    )
    request = TrainRequest(
        data=Path("/data/assay.csv"),
        smiles_column="SMILES",
        targets=["pIC50"],
        task="regression",
        preset="cpu",
        split={"kind": "none"},
        seeds=5,
    )
    overlay = overlay_config(request, preset, data=request.data, name="assay")
    corpus = (REPOSITORY.parent / "shared" / "data" / "zinc250k").resolve()
    assert overlay["datasets"]["zinc250k"] == {"source": {"path": str(corpus)}}
    assert "zinc250k" not in overlay_config(request, downloaded, data=request.data, name="assay")["datasets"]
    assert overlay["baseline"]["chemprop"]["command"] == str(
        REPOSITORY / ".venv-chemprop" / "bin" / "chemprop"
    )
    assert overlay["seeds"] == [0, 1, 2, 3, 4] and overlay["split"] == {"kind": "none"}
    assert overlay["fewshot"] == {"benchmark": None} and overlay["report"] == {"published": False}


def _write(path: Path, rows: list[tuple], header: tuple) -> Path:
    with path.open("w", newline="") as handle:
        csv.writer(handle).writerows([header, *rows])
    return path


def _lipophilicity(n: int) -> list[tuple[str, str]]:
    with (ROOT / "tests/data/moleculenet/lipophilicity.csv").open() as handle:
        return [(row["smiles"], row["exp"]) for row, _ in zip(csv.DictReader(handle), range(n))]


@pytest.mark.parametrize(
    ("rows", "options", "message"),
    [
        ([("CCO", "1.0")] * 30, ["--target-columns", "logP"], "column 'logP' not found"),
        ([("not a molecule", "1.0")] * 30, [], "column 'smiles' holds no valid SMILES: all 30 rows rejected"),
        ([("CCO", "high")] * 30, [], "column 'y' has 30 of 30 rows that are no regression label"),
        (
            [("CCO", "1")] * 30,
            ["--task", "classification"],
            "column 'y' has one class only: all 30 labelled rows",
        ),
    ],
)
def test_bad_input_is_one_line_with_status_2_and_nothing_written(tmp_path, rows, options, message):
    data = _write(tmp_path / "data.csv", rows, ("smiles", "y"))
    args = ["train", str(data), "--target-columns", "y", "--task", "regression", *options]
    result = _run_semmol(args, tmp_path)
    assert result.returncode == BAD_INPUT_STATUS
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(f"semmol train: error: {data}") and message in line, line
    assert sorted(path.name for path in tmp_path.iterdir()) == ["data.csv"]


def test_unknown_values_of_a_split_column_are_refused(tmp_path):
    rows = [
        (smiles, value, fold)
        for (smiles, value), fold in zip(_lipophilicity(30), ["train", "valid", "tset"] * 10)
    ]
    data = _write(tmp_path / "data.csv", rows, ("smiles", "y", "fold"))
    args = ["train", str(data), "--target-columns", "y", "--task", "regression", "--split", "column:fold"]
    result = _run_semmol(args, tmp_path)
    assert result.returncode == BAD_INPUT_STATUS
    assert "split column 'fold' has 10 of 30 rows naming no subset (first at line 4: 'tset'" in result.stderr


@pytest.mark.slow  # Snakemake plans the DAG (tens of seconds)
def test_dry_run_writes_the_overlay_and_plans_the_tables_dag(tmp_path):
    folds = ["Train"] * 4 + ["val", "test"]  # any case; chemprop's 'val'
    rows = [(smiles, value, folds[i % 6]) for i, (smiles, value) in enumerate(_lipophilicity(60))]
    data = _write(tmp_path / "assay.csv", rows, ("smiles", "y", "fold"))
    args = ["train", str(data), "--target-columns", "y", "--task", "regression", "--split", "column:fold"]
    result = _run_semmol([*args, "--seeds", "2", "--dry-run"], tmp_path)
    assert result.returncode == 0, result.stderr[-4000:]
    overlay_file = tmp_path / "assay" / "semmol-train.yaml"
    overlay = yaml.safe_load(overlay_file.read_text())
    assert overlay == {
        "datasets": {
            "assay": {
                "source": {"kind": "local", "path": str(data)},
                "smiles_column": "smiles",
                "targets": ["y"],
                "task": "regression",
            }
        },
        "benchmarks": ["assay"],
        "split": {"kind": "column", "column": "fold"},
        "fewshot": {"benchmark": None},
        "report": {"published": False},
        "seeds": [0, 1],
    }
    assert f"--configfile {REPOSITORY / 'config' / 'demo.yaml'} {overlay_file}" in overlay_file.read_text()
    assert "assay.csv: 60 rows, 60 molecules (0 rejected, each with its reason in" in result.stderr
    assert "column split: train 40, valid 10, test 10" in result.stderr
    expected = expected_jobs(REPOSITORY / "config" / "demo.yaml", overlay_file)
    assert planned_counts(planned_jobs(result), expected) == expected
    assert not (tmp_path / "assay" / "results").exists()
