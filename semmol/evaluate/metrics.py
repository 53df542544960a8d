"""Benchmark metrics with missing labels masked: ROC-AUC (classification), one-vs-rest ROC-AUC
and accuracy (multiclass) and RMSE (regression).

Multi-task scores are the mean over tasks, each task scored on its labelled rows only. A
classification task whose labelled rows hold a single class has no ROC-AUC; it is left out of
the mean and reported as ``None``, as in the MoleculeNet literature (chemprop, Uni-Mol).
A multiclass target is scored by the macro mean of its classes' one-vs-rest ROC-AUCs, over
the classes its labelled rows hold (:func:`multiclass_scores`).
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
    "multiclass": ("roc_auc_ovr", True),
    "regression": ("rmse", False),
}
#: Whether a higher value of each metric is better.
HIGHER_IS_BETTER: dict[str, bool] = dict(TASK_METRIC.values())
_METRIC_NAME = {"roc_auc": "ROC-AUC", "roc_auc_ovr": "ROC-AUC one-vs-rest", "rmse": "RMSE"}


def metric_label(metric: str) -> str:
    """The metric as printed in tables and plots, with an arrow to better scores: 'ROC-AUC ↑', 'RMSE ↓',
    'ROC-AUC one-vs-rest ↑'."""
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


def multiclass_scores(
    y_true: np.ndarray | Sequence,
    y_proba: np.ndarray | Sequence,
    *,
    classes: Sequence[str] | None = None,
) -> tuple[float, dict[str, float | None], float]:
    """Macro one-vs-rest ROC-AUC, per-class ROC-AUC and accuracy of one multiclass target.

    Class ``k``'s ROC-AUC ranks the labelled rows by their probability of ``k``, rows of ``k``
    against rows of every other class. Only a class that the labelled rows hold can be scored
    so (and only when they hold another class too): a class absent from a small valid or test
    subset is left out of the macro mean and reported as ``None``, where scikit-learn's
    ``roc_auc_score(..., multi_class="ovr")`` would fail. With every class present the mean
    is scikit-learn's macro one-vs-rest score. Accuracy: the share of labelled rows whose most
    probable class is their label, every class competing.

    Args:
        y_true: class numbers ``[n]`` or ``[n, 1]``, NaN where missing.
        y_proba: class probabilities ``[n, K]``.
        classes: the K class names (default: '0', '1', ...).

    Returns:
        The macro ROC-AUC (NaN when the labelled rows hold fewer than two classes), per class
        its ROC-AUC or ``None``, and the accuracy (NaN without labelled rows).

    Raises:
        MetricError: shapes differ, a label is not a class number, or a labelled row has no
            finite probabilities.
    """
    true = np.asarray(y_true, dtype=np.float64).reshape(-1)
    proba = np.asarray(y_proba, dtype=np.float64)
    if proba.ndim != 2 or len(proba) != len(true) or proba.shape[1] < 2:
        raise MetricError(f"{len(true)} labels need probabilities [{len(true)}, K >= 2], got {proba.shape}")
    names = list(classes) if classes is not None else [str(k) for k in range(proba.shape[1])]
    if len(names) != proba.shape[1]:
        raise MetricError(f"{len(names)} class names for {proba.shape[1]} probability columns")
    labelled = ~np.isnan(true)
    labels, proba = true[labelled], proba[labelled]
    odd = labels[(labels != np.round(labels)) | (labels < 0) | (labels >= len(names))]
    if len(odd):
        raise MetricError(f"multiclass labels must be class numbers 0..{len(names) - 1}, found {odd[0]}")
    if not np.isfinite(proba).all():
        row = np.argwhere(~np.isfinite(proba))[0][0]
        raise MetricError(f"labelled row {row} has no finite probabilities")
    present = np.unique(labels)
    per_class: dict[str, float | None] = {}
    for k, name in enumerate(names):
        scorable = len(present) > 1 and k in present
        per_class[name] = float(roc_auc_score(labels == k, proba[:, k])) if scorable else None
    accuracy = float(np.mean(proba.argmax(axis=1) == labels)) if len(labels) else math.nan
    return _mean(per_class), per_class, accuracy


def evaluate(
    task: TaskType,
    y_true: np.ndarray | Sequence,
    y_pred: np.ndarray | Sequence,
    *,
    targets: Sequence[str] | None = None,
    classes: Sequence[str] | None = None,
) -> dict[str, Any]:
    """The benchmark metric of a task type.

    Args:
        task: 'classification' (ROC-AUC of class-1 scores), 'multiclass' (one-vs-rest ROC-AUC
            of class probabilities) or 'regression' (RMSE).
        y_true: labels ``[n]`` or ``[n, T]``, NaN where missing (multiclass: class numbers, T = 1).
        y_pred: class-1 scores or predicted values, same shape; multiclass: probabilities ``[n, K]``.
        targets: task names (default: '0', '1', ...).
        classes: multiclass: the class names (default: '0', '1', ...).

    Returns:
        ``{"metric", "value", "higher_is_better", "per_task"}``, for multiclass also
        ``"accuracy"`` and ``"per_class"`` (:func:`multiclass_scores`); ``value`` is NaN when
        no task can be scored (e.g. an empty subset).
    """
    if task not in TASK_METRIC:
        raise MetricError(f"unknown task type '{task}'; expected one of {sorted(TASK_METRIC)}")
    metric, higher_is_better = TASK_METRIC[task]
    scores: dict[str, Any] = {"metric": metric, "higher_is_better": higher_is_better}
    if task == "multiclass":
        (target,) = targets if targets is not None else ["0"]
        value, per_class, accuracy = multiclass_scores(y_true, y_pred, classes=classes)
        scores |= {"accuracy": accuracy, "per_class": per_class}
        return {**scores, "value": value, "per_task": {target: value}}
    score = masked_roc_auc if metric == "roc_auc" else rmse
    value, per_task = score(y_true, y_pred, targets=targets)
    return {**scores, "value": value, "per_task": per_task}
