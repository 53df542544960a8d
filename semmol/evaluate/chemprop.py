"""The chemprop baseline: chemprop's D-MPNN, trained by its own command line on our splits.

What a user would otherwise pick, measured side by side: the benchmark's standardized
molecules and labels of one split go to ``chemprop train`` with the split as a column (so
chemprop trains on exactly our train subset, keeps the epoch best on our valid subset and
never sees a test label), then ``chemprop predict`` scores every molecule with the kept model
and the scores go through the same metric code as every other row. Seeds are chemprop's
``--data-seed`` and ``--pytorch-seed``. Its working files stay in ``{out_dir}/chemprop/``.
"""

from __future__ import annotations

import csv
import logging
import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import numpy as np

from semmol.config import ChempropConfig, DatasetConfig
from semmol.data.benchmark import SUBSETS, load_benchmark_split
from semmol.evaluate.records import KIND_BASELINE, write_result

log = logging.getLogger(__name__)

#: Run name of the baseline in result files and the results table.
RUN_NAME = "chemprop"
#: chemprop's names of our subsets in its split column.
_SPLIT_NAMES = {"train": "train", "valid": "val", "test": "test"}


class ChempropError(ValueError):
    """chemprop is missing or failed (a ValueError: the command line reports it in one line)."""


def chemprop_executable(command: str) -> str:
    """The chemprop executable ``command`` names (a path, or a name on ``PATH``).

    Raises:
        ChempropError: there is none.
    """
    found = shutil.which(command)
    if found is None:
        raise ChempropError(
            f"chemprop executable '{command}' not found: chemprop pins its own RDKit, so install it in "
            "an environment of its own (`make chemprop` makes .venv-chemprop) and point "
            "baseline.chemprop.command at its 'chemprop'"
        )
    return found


def _run(command: list[str], *, threads: int, what: str) -> None:
    """Run a chemprop command, its output going to this process's standard error (the job's log)."""
    log.info("%s: %s", what, " ".join(command))
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    # fd 2, not sys.stderr: the log of the job, also where sys.stderr is replaced (tests)
    result = subprocess.run(command, stdout=2, stderr=subprocess.STDOUT, env=env, check=False)
    if result.returncode != 0:
        raise ChempropError(
            f"chemprop {what} failed with exit status {result.returncode}; its output is above"
        )


def run_chemprop(
    molecules: str | Path,
    split: str | Path,
    *,
    dataset: DatasetConfig,
    options: ChempropConfig,
    benchmark: str,
    seed: int,
    out_dir: str | Path,
    threads: int = 1,
) -> dict[str, Any]:
    """Train and score chemprop on one benchmark split; write its result directory.

    Args:
        molecules: the benchmark's ``molecules.parquet``.
        split: the split JSON file.
        dataset: the benchmark's dataset config (targets, task).
        options: the ``baseline.chemprop`` section.
        benchmark: benchmark name recorded in the results.
        seed: chemprop's data and torch seed, recorded as the result's seed.
        out_dir: result directory (``metrics.json``, ``predictions.parquet``, ``chemprop/``).
        threads: CPU threads chemprop may use; default 1.

    Returns:
        The metrics written to ``metrics.json``.

    Raises:
        ChempropError: chemprop is missing or failed.
    """
    if dataset.task == "multiclass":  # its class-probability output is not read here yet
        raise ChempropError(
            f"benchmark '{benchmark}': the chemprop baseline does not handle multiclass targets"
        )
    executable = chemprop_executable(options.command)
    started = time.perf_counter()
    data = load_benchmark_split(molecules, split, targets=dataset.targets)
    work = Path(out_dir) / "chemprop"
    if work.exists():
        shutil.rmtree(work)  # a re-run starts clean: chemprop refuses nothing, but stale models mislead
    work.mkdir(parents=True)
    # Our own column names: benchmark targets may be called 'smiles' or 'split'.
    columns = [f"target_{i}" for i in range(len(dataset.targets))]
    table = work / "data.csv"
    with table.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["smiles", *columns, "split"])
        for name in SUBSETS:
            for smiles, labels in zip(data[name].smiles, data[name].labels):
                cells = ["" if np.isnan(value) else repr(float(value)) for value in labels]
                writer.writerow([smiles, *cells, _SPLIT_NAMES[name]])
    model_dir = work / "model"
    _run(
        [
            executable,
            "train",
            "--data-path",
            str(table),
            "--smiles-columns",
            "smiles",
            "--target-columns",
            *columns,
            "--splits-column",
            "split",
            "--task-type",
            dataset.task,
            "--epochs",
            str(options.epochs),
            "--data-seed",
            str(seed),
            "--pytorch-seed",
            str(seed),
            "--num-workers",
            "0",
            "--accelerator",
            "cpu",
            "--devices",
            "1",
            "--output-dir",
            str(model_dir),
            *options.extra_args,
        ],  # fmt: skip
        threads=threads,
        what="train",
    )
    predictions_file = work / "predictions.csv"
    _run(
        [
            executable,
            "predict",
            "--test-path",
            str(table),
            "--smiles-columns",
            "smiles",
            "--model-paths",
            str(model_dir / "model_0" / "best.pt"),
            "--preds-path",
            str(predictions_file),
            "--num-workers",
            "0",
            "--accelerator",
            "cpu",
            "--devices",
            "1",
        ],  # fmt: skip
        threads=threads,
        what="predict",
    )
    predicted = _read_predictions(
        predictions_file, columns=columns, rows=sum(len(data[name]) for name in SUBSETS)
    )
    subsets, offset = {}, 0
    for name in SUBSETS:
        n = len(data[name])
        subsets[name] = (
            data[name].rows,
            data[name].smiles,
            data[name].labels,
            predicted[offset : offset + n],
        )
        offset += n
    metrics = write_result(
        out_dir,
        run=RUN_NAME,
        benchmark=benchmark,
        split_kind=data.kind,
        seed=seed,
        task=dataset.task,
        targets=dataset.targets,
        subsets=subsets,
        missing=data.missing,
        seconds=time.perf_counter() - started,
        kind=KIND_BASELINE,
        label_fraction=data.label_fraction,
        extra={"baseline": {"chemprop": options.model_dump(mode="json"), "executable": executable}},
    )
    log.info(
        "%s on %s, seed %d: %s %s",
        RUN_NAME,
        benchmark,
        seed,
        metrics["metric"],
        {s: metrics[s] for s in SUBSETS},
    )
    return metrics


def _read_predictions(path: Path, *, columns: list[str], rows: int) -> np.ndarray:
    """``[rows, targets]`` from ``chemprop predict``'s output, in input order.

    Raises:
        ChempropError: the file lacks a target column or has another number of rows.
    """
    with path.open(newline="") as handle:
        records = list(csv.DictReader(handle))
    if len(records) != rows or (records and not set(columns) <= set(records[0])):
        found = sorted(records[0]) if records else []
        raise ChempropError(
            f"{path}: expected {rows} rows with columns {columns}, found {len(records)} rows with {found}"
        )
    return np.array([[float(record[column]) for column in columns] for record in records], dtype=np.float64)
