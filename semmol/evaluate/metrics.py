"""Benchmark metrics with missing labels masked: ROC-AUC (classification) and RMSE (regression).

Multi-task scores are the mean over tasks, each task scored on its labelled rows only. A
classification task whose labelled rows hold a single class has no ROC-AUC; it is left out of
the mean and reported as ``None``, as in the MoleculeNet literature (chemprop, Uni-Mol).
ROC-AUC is a fraction in [0, 1]; RMSE is in the target's original units.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.metrics import roc_auc_score

from semmol.config import TaskType

log = logging.getLogger(__name__)

#: Metric of each task type and whether a higher value is better.
TASK_METRIC: dict[str, tuple[str, bool]] = {
    "classification": ("roc_auc", True),
    "regression": ("rmse", False),
}
#: Whether a higher value of each metric is better.
HIGHER_IS_BETTER: dict[str, bool] = dict(TASK_METRIC.values())
_METRIC_NAME = {"roc_auc": "ROC-AUC", "rmse": "RMSE"}


def metric_label(metric: str) -> str:
    """The metric as printed in tables and plots, with an arrow to better scores: 'ROC-AUC ↑', 'RMSE ↓'."""
    return f"{_METRIC_NAME[metric]} {'↑' if HIGHER_IS_BETTER[metric] else '↓'}"


class MetricError(ValueError):
    """Labels and predictions do not fit together or cannot be scored."""


def _as_matrix(values: np.ndarray | Sequence, name: str) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim == 1:
        array = array[:, None]
    if array.ndim != 2:
        raise MetricError(f"{name} must be [n] or [n, n_tasks], got shape {array.shape}")
    return array


def _prepare(
    y_true: np.ndarray | Sequence, y_pred: np.ndarray | Sequence, targets: Sequence[str] | None
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Labels and predictions as ``[n, T]`` float arrays, and the task names."""
    true, pred = _as_matrix(y_true, "y_true"), _as_matrix(y_pred, "y_pred")
    if true.shape != pred.shape:
        raise MetricError(f"labels have shape {true.shape} but predictions {pred.shape}")
    names = list(targets) if targets is not None else [str(task) for task in range(true.shape[1])]
    if len(names) != true.shape[1]:
        raise MetricError(f"{len(names)} target names for {true.shape[1]} label columns")
    unscorable = ~np.isnan(true) & ~np.isfinite(pred)
    if unscorable.any():
        row, column = np.argwhere(unscorable)[0]
        raise MetricError(f"prediction for task '{names[column]}' at row {row} is {pred[row, column]}")
    return true, pred, names


def _mean(per_task: dict[str, float | None]) -> float:
    scores = [score for score in per_task.values() if score is not None]
    return float(np.mean(scores)) if scores else math.nan


def masked_roc_auc(
    y_true: np.ndarray | Sequence,
    y_score: np.ndarray | Sequence,
    *,
    targets: Sequence[str] | None = None,
) -> tuple[float, dict[str, float | None]]:
    """Mean ROC-AUC over the tasks that have both classes among their labelled rows.

    Args:
        y_true: 0/1 labels ``[n]`` or ``[n, T]``, NaN where missing.
        y_score: scores of class 1, same shape.
        targets: task names (default: '0', '1', ...).

    Returns:
        The mean (NaN when no task can be scored) and, per task, its ROC-AUC or ``None``
        when skipped.

    Raises:
        MetricError: shapes differ, a label is not 0/1, or a labelled row has no finite score.
    """
    true, score, names = _prepare(y_true, y_score, targets)
    per_task: dict[str, float | None] = {}
    for column, name in enumerate(names):
        labelled = ~np.isnan(true[:, column])
        labels = true[labelled, column]
        if not np.isin(labels, (0.0, 1.0)).all():
            odd = labels[~np.isin(labels, (0.0, 1.0))][0]
            raise MetricError(f"task '{name}': classification labels must be 0 or 1, found {odd}")
        if len(np.unique(labels)) < 2:
            log.info("ROC-AUC of task '%s' skipped: its %d labelled rows hold one class", name, len(labels))
            per_task[name] = None
            continue
        per_task[name] = float(roc_auc_score(labels, score[labelled, column]))
    return _mean(per_task), per_task


def rmse(
    y_true: np.ndarray | Sequence,
    y_pred: np.ndarray | Sequence,
    *,
    targets: Sequence[str] | None = None,
) -> tuple[float, dict[str, float | None]]:
    """Root-mean-square error per task on its labelled rows, and the mean over tasks.

    Args:
        y_true: values ``[n]`` or ``[n, T]``, NaN where missing.
        y_pred: predictions, same shape and units.
        targets: task names (default: '0', '1', ...).

    Returns:
        The mean over tasks with labels (NaN when none has) and, per task, its RMSE or
        ``None`` when the task has no labelled row.

    Raises:
        MetricError: shapes differ, or a labelled row has no finite prediction.
    """
    true, pred, names = _prepare(y_true, y_pred, targets)
    per_task: dict[str, float | None] = {}
    for column, name in enumerate(names):
        labelled = ~np.isnan(true[:, column])
        if not labelled.any():
            per_task[name] = None
            continue
        error = true[labelled, column] - pred[labelled, column]
        per_task[name] = float(np.sqrt(np.mean(error**2)))
    return _mean(per_task), per_task


def evaluate(
    task: TaskType,
    y_true: np.ndarray | Sequence,
    y_pred: np.ndarray | Sequence,
    *,
    targets: Sequence[str] | None = None,
) -> dict[str, Any]:
    """The benchmark metric of a task type.

    Args:
        task: 'classification' (ROC-AUC of class-1 scores) or 'regression' (RMSE).
        y_true: labels ``[n]`` or ``[n, T]``, NaN where missing.
        y_pred: class-1 scores or predicted values, same shape.
        targets: task names (default: '0', '1', ...).

    Returns:
        ``{"metric", "value", "higher_is_better", "per_task"}``; ``value`` is NaN when no
        task can be scored (e.g. an empty subset).
    """
    if task not in TASK_METRIC:
        raise MetricError(f"unknown task type '{task}'; expected one of {sorted(TASK_METRIC)}")
    metric, higher_is_better = TASK_METRIC[task]
    score = masked_roc_auc if metric == "roc_auc" else rmse
    value, per_task = score(y_true, y_pred, targets=targets)
    return {"metric": metric, "value": value, "higher_is_better": higher_is_better, "per_task": per_task}
