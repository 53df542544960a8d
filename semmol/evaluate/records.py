"""The result directory of one model on one benchmark split and seed, and reading it back.

Written by the fingerprint baseline and by neural fine-tuning alike, so the aggregation reads
one format:

``metrics.json``
    run, benchmark, split (kind), seed, task, kind ('pipeline' or 'baseline'), targets,
    metric ('roc_auc', 'roc_auc_ovr' or 'rmse'), higher_is_better, train / valid / test (float,
    or null when no task could be scored), per_task_test ({target: float or null}), n and
    missing (per subset: molecules scored, split rows absent from molecules.parquet), history
    (per-epoch dicts such as {"epoch", "train_loss", "valid"}, or null), best_epoch (or null),
    seconds, label_fraction (the share of the train subset learnt from; absent in files written
    before it was recorded, read as 1); a multiclass result also classes (the class names, in
    the order of the class numbers), accuracy ({subset: float or null}) and per_class_test
    ({class: ROC-AUC or null}); then the caller's ``extra`` keys. Strict JSON: NaN is written as null.
``predictions.parquet``
    row (int64 source row), subset, smiles, and per target ``<target>`` (label, NaN when
    missing) and ``<target>__pred`` (class-1 score, or value in the target's units). A multiclass
    target's label and ``__pred`` are class numbers (the label and the most probable class),
    followed by one probability column per class, ``<target>__prob_<class>``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from semmol.config import TaskType
from semmol.data.benchmark import SUBSETS
from semmol.data.classes import probability_column
from semmol.evaluate.metrics import TASK_METRIC, evaluate
from semmol.runtime.atomic import atomic_path

METRICS_FILE = "metrics.json"
PREDICTIONS_FILE = "predictions.parquet"
#: ``kind`` of a result: a run of the pipeline, or the fingerprint baseline.
KIND_PIPELINE = "pipeline"
KIND_BASELINE = "baseline"
#: Suffix of a prediction column in ``predictions.parquet``.
PRED_SUFFIX = "__pred"
_ID_COLUMNS = ("row", "subset", "smiles")


class SubsetPredictions(NamedTuple):
    """Labels and predictions of one subset.

    Attributes:
        rows: source rows, ``[n]``.
        smiles: canonical SMILES, ``[n]``.
        y_true: labels ``[n, T]``, NaN where missing.
        y_pred: class-1 scores or predicted values ``[n, T]`` (original units); for a multiclass
            target class probabilities ``[n, K]``.
    """

    rows: np.ndarray
    smiles: Sequence[str]
    y_true: np.ndarray
    y_pred: np.ndarray


class MetricsFileError(ValueError):
    """A ``metrics.json`` is unreadable or lacks what the aggregation needs."""


def _json_safe(value: Any) -> Any:
    """``value`` with NaN/inf floats as ``None`` and numpy scalars as Python numbers."""
    if isinstance(value, Mapping):
        return {str(key): _json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(item) for item in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def score_columns(targets: Sequence[str], classes: Sequence[str] | None = None) -> list[str]:
    """The columns of ``predictions.parquet`` that hold the scores a metric reads: each target's
    ``__pred``, or a multiclass target's class probabilities."""
    if classes is not None:
        (target,) = targets
        return [probability_column(target, name) for name in classes]
    return [f"{target}{PRED_SUFFIX}" for target in targets]


def _check_subsets(
    subsets: Mapping[str, SubsetPredictions], targets: Sequence[str], classes: Sequence[str] | None
) -> None:
    if sorted(subsets) != sorted(SUBSETS):
        raise ValueError(f"results need the subsets {list(SUBSETS)}, got {sorted(subsets)}")
    if classes is not None and len(targets) != 1:
        raise ValueError(f"a multiclass result has one target, got {list(targets)}")
    width = len(targets) if classes is None else len(classes)
    for name, (rows, smiles, y_true, y_pred) in subsets.items():
        n = len(rows)
        for what, array, expected in (("y_true", y_true, (n, len(targets))), ("y_pred", y_pred, (n, width))):
            if np.shape(array) != expected:
                raise ValueError(f"subset '{name}': {what} has shape {np.shape(array)}, expected {expected}")
        if len(smiles) != n:
            raise ValueError(f"subset '{name}': {len(smiles)} SMILES for {n} rows")
    clash = set(targets) & {*_ID_COLUMNS, *(f"{column}{PRED_SUFFIX}" for column in _ID_COLUMNS)}
    if clash:
        raise ValueError(f"target names {sorted(clash)} clash with columns of {PREDICTIONS_FILE}")


def _predictions_table(
    subsets: Mapping[str, SubsetPredictions], targets: Sequence[str], classes: Sequence[str] | None
) -> pa.Table:
    parts = [subsets[name] for name in SUBSETS]
    columns: dict[str, pa.Array] = {
        "row": pa.array(np.concatenate([np.asarray(p.rows, dtype=np.int64) for p in parts]), pa.int64()),
        "subset": pa.array([name for name in SUBSETS for _ in range(len(subsets[name].rows))], pa.string()),
        "smiles": pa.array([s for p in parts for s in p.smiles], pa.string()),
    }
    width = len(targets) if classes is None else len(classes)
    true = np.concatenate([np.asarray(p.y_true, dtype=np.float64) for p in parts]).reshape(-1, len(targets))
    pred = np.concatenate([np.asarray(p.y_pred, dtype=np.float64) for p in parts]).reshape(-1, width)
    if classes is None:
        for column, target in enumerate(targets):
            columns[target] = pa.array(true[:, column], pa.float64())
            columns[f"{target}{PRED_SUFFIX}"] = pa.array(pred[:, column], pa.float64())
        return pa.table(columns)
    (target,) = targets  # the label, the most probable class, then every class's probability
    columns[target] = pa.array(true[:, 0], pa.float64())
    columns[f"{target}{PRED_SUFFIX}"] = pa.array(pred.argmax(axis=1).astype(np.float64), pa.float64())
    for column, name in enumerate(score_columns(targets, classes)):
        columns[name] = pa.array(pred[:, column], pa.float64())
    return pa.table(columns)


def write_result(
    out_dir: str | Path,
    *,
    run: str,
    benchmark: str,
    split_kind: str,
    seed: int,
    task: TaskType,
    targets: Sequence[str],
    subsets: Mapping[str, SubsetPredictions | tuple],
    missing: Mapping[str, int],
    seconds: float,
    history: list[dict[str, Any]] | None = None,
    best_epoch: int | None = None,
    kind: str = KIND_PIPELINE,
    extra: Mapping[str, Any] | None = None,
    classes: Sequence[str] | None = None,
    label_fraction: float = 1.0,
) -> dict[str, Any]:
    """Score every subset and write ``metrics.json`` and ``predictions.parquet`` atomically.

    Args:
        out_dir: the result directory (created).
        run: run name ('rf_ecfp4' for the baseline).
        benchmark: benchmark name.
        split_kind: split kind ('scaffold', 'random', 'balanced_scaffold').
        seed: the seed of this result.
        task: 'classification', 'multiclass' or 'regression'.
        targets: label columns, the order of the ``y_true``/``y_pred`` columns.
        subsets: 'train', 'valid' and 'test', each ``(rows, smiles, y_true, y_pred)``.
        missing: per subset, split rows absent from molecules.parquet (``BenchmarkSplit.missing``).
        seconds: wall time of training and prediction.
        history: per-epoch dicts, each with at least 'epoch' (default: none, e.g. the baseline).
        best_epoch: the epoch whose model was kept (default: none).
        kind: 'pipeline' (default) or 'baseline'.
        extra: more keys for ``metrics.json`` (default: none); they may not replace standard keys.
        classes: the class names of a multiclass target (needed then, and only then): ``y_pred``
            holds one probability column per class.
        label_fraction: the share of the train subset learnt from (``BenchmarkSplit.label_fraction``;
            default 1).

    Returns:
        The metrics as written.

    Raises:
        ValueError: missing subsets, shapes that do not match, a clash of ``extra`` with a
            standard key, a ``best_epoch`` absent from ``history``, or class names given for a
            task other than multiclass (or none for multiclass).
    """
    targets = list(targets)
    if (task == "multiclass") != (classes is not None):
        raise ValueError(f"class names are needed for a multiclass result and only then (task '{task}')")
    classes = None if classes is None else list(classes)
    subsets = {name: SubsetPredictions(*parts) for name, parts in subsets.items()}
    _check_subsets(subsets, targets, classes)
    if kind not in (KIND_PIPELINE, KIND_BASELINE):
        raise ValueError(f"kind must be '{KIND_PIPELINE}' or '{KIND_BASELINE}', got '{kind}'")
    if history is not None and any("epoch" not in epoch for epoch in history):
        raise ValueError("every history entry needs an 'epoch'")
    if best_epoch is not None and (history is None or best_epoch not in [e["epoch"] for e in history]):
        raise ValueError(f"best_epoch {best_epoch} is not an epoch of the history")
    scores = {
        name: evaluate(task, part.y_true, part.y_pred, targets=targets, classes=classes)
        for name, part in subsets.items()
    }
    metric, higher_is_better = TASK_METRIC[task]
    metrics: dict[str, Any] = {
        "run": run,
        "benchmark": benchmark,
        "split": split_kind,
        "seed": int(seed),
        "task": task,
        "kind": kind,
        "targets": targets,
        "metric": metric,
        "higher_is_better": higher_is_better,
        **{name: scores[name]["value"] for name in SUBSETS},
        "per_task_test": scores["test"]["per_task"],
        "n": {name: len(subsets[name].rows) for name in SUBSETS},
        "missing": {name: int(missing.get(name, 0)) for name in SUBSETS},
        "history": history,
        "best_epoch": best_epoch,
        "seconds": float(seconds),
        "label_fraction": float(label_fraction),
    }
    if classes is not None:
        metrics["classes"] = classes
        metrics["accuracy"] = {name: scores[name]["accuracy"] for name in SUBSETS}
        metrics["per_class_test"] = scores["test"]["per_class"]
    clash = set(extra or {}) & set(metrics)
    if clash:
        raise ValueError(f"extra keys {sorted(clash)} would replace standard keys of {METRICS_FILE}")
    metrics = _json_safe({**metrics, **(extra or {})})
    out_dir = Path(out_dir)
    with atomic_path(out_dir / PREDICTIONS_FILE) as tmp:
        pq.write_table(_predictions_table(subsets, targets, classes), tmp)
    with atomic_path(out_dir / METRICS_FILE) as tmp:
        tmp.write_text(json.dumps(metrics, indent=2, allow_nan=False) + "\n")
    return metrics


def _number_or_null(value: Any) -> bool:
    return value is None or (isinstance(value, (int, float)) and not isinstance(value, bool))


def read_metrics(path: str | Path) -> dict[str, Any]:
    """A ``metrics.json`` written by :func:`write_result`, checked.

    Scores written as null come back as NaN.

    Raises:
        MetricsFileError: naming the file and the key, when it is not such a file.
        FileNotFoundError: the file does not exist.
    """
    path = Path(path)
    try:
        metrics = json.loads(path.read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: metrics file not found") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise MetricsFileError(f"{path}: not a JSON metrics file: {error}") from None
    if not isinstance(metrics, dict):
        raise MetricsFileError(f"{path}: a metrics file holds a JSON object, got {type(metrics).__name__}")
    checks = {
        "run": lambda v: isinstance(v, str) and v != "",
        "benchmark": lambda v: isinstance(v, str) and v != "",
        "split": lambda v: isinstance(v, str) and v != "",
        "seed": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "task": lambda v: v in TASK_METRIC,
        "kind": lambda v: v in (KIND_PIPELINE, KIND_BASELINE),
        "metric": lambda v: v in {metric for metric, _ in TASK_METRIC.values()},
        "higher_is_better": lambda v: isinstance(v, bool),
        **{name: _number_or_null for name in SUBSETS},
        "history": lambda v: (
            v is None or (isinstance(v, list) and all(isinstance(e, dict) and "epoch" in e for e in v))
        ),
    }
    for key, valid in checks.items():
        if key not in metrics:
            raise MetricsFileError(f"{path}: key '{key}' missing")
        if not valid(metrics[key]):
            raise MetricsFileError(f"{path}: key '{key}' has an invalid value {metrics[key]!r}")
    if TASK_METRIC[metrics["task"]] != (metrics["metric"], metrics["higher_is_better"]):
        raise MetricsFileError(
            f"{path}: metric '{metrics['metric']}' (higher_is_better={metrics['higher_is_better']})"
            f" does not belong to task '{metrics['task']}'"
        )
    classes = metrics.get("classes")
    class_names = isinstance(classes, list) and len(classes) > 1 and all(isinstance(c, str) for c in classes)
    if metrics["task"] == "multiclass" and not class_names:
        raise MetricsFileError(f"{path}: a multiclass result needs 'classes', a list of class names")
    fraction = metrics.setdefault("label_fraction", 1.0)
    if not (isinstance(fraction, (int, float)) and not isinstance(fraction, bool) and 0 < fraction <= 1):
        raise MetricsFileError(f"{path}: key 'label_fraction' is {fraction!r}, not in (0, 1]")
    for name in SUBSETS:
        metrics[name] = math.nan if metrics[name] is None else float(metrics[name])
    return metrics
