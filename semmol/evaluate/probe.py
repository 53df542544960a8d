"""Probes on frozen features: a linear model and k-nearest neighbours, fit on train, tuned on valid.

The protocol of MolGraphEval (Wang et al., NeurIPS 2023 Datasets and Benchmarks, arXiv
2206.08005) and of the linear evaluation of SimCLR-style papers: the features stay fixed and
only a cheap, deterministic model is fit on them, so a score measures the representation rather
than a fine-tuning recipe. Each target is probed on its own labelled rows (missing labels, as in
Tox21, are masked):

linear
    Classification: L2-regularised logistic regression; regression: ridge regression. The
    features are standardised with the train subset's mean and std; the regularisation strength
    is the grid value with the best validation score of that target.
knn
    Cosine k-nearest neighbours on the features as given: the mean label of the k nearest
    training molecules (for classification, the fraction of class 1); k is chosen on valid.
    Equally similar training molecules are taken in their train order.

Ties on valid go to the first grid value (the strongest regularisation, the fewest neighbours),
and the test subset is never read before the choice is made.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression, Ridge

from semmol.config import TaskType
from semmol.data.benchmark import SUBSETS
from semmol.data.label_fractions import kept_positions
from semmol.evaluate.metrics import TASK_METRIC, evaluate

log = logging.getLogger(__name__)

#: Probe kinds, in the order they are reported.
PROBES = ("linear", "knn")
#: Inverse regularisation strengths ``C`` of the logistic probe, strongest regularisation first.
#: Down to 1e-5 because standardised ECFP4 bits (2,048 columns) chose 1e-3, the old edge, on every
#: Tox21 target; as C falls further the ranking tends to a fixed direction, so ROC-AUC settles.
LOGISTIC_C = (1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0)
#: Regularisation strengths ``alpha`` of the ridge probe, strongest regularisation first.
RIDGE_ALPHA = (1000.0, 100.0, 10.0, 1.0, 0.1, 0.01, 0.001)
#: Neighbour counts of the kNN probe, fewest first (50, the old edge, was often chosen on Tox21).
KNN_K = (1, 3, 5, 10, 20, 50, 100)


class ProbeError(ValueError):
    """Features and labels cannot be probed (shapes differ, a target has no training label)."""


@dataclass(frozen=True)
class ProbeResult:
    """One probe on one feature set.

    Attributes:
        predictions: per subset, class-1 scores or values ``[n, T]``.
        chosen: per target, the hyperparameter picked on valid (``C``, ``alpha`` or ``k``), or
            ``None`` where the target needed no fit (one class in train: a constant score).
    """

    predictions: dict[str, np.ndarray]
    chosen: dict[str, float | None]


def label_fraction(
    features: Mapping[str, np.ndarray], labels: Mapping[str, np.ndarray], *, fraction: float, seed: int
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Features and labels with the train subset cut to ``fraction`` of its molecules
    (:func:`semmol.data.label_fractions.kept_positions`: nested, the same molecules that
    fine-tuning and the baselines learn from at that share); valid and test whole, so that
    every fraction is chosen and scored alike.

    Args:
        features: per subset, features ``[n, d]``.
        labels: per subset, labels ``[n, T]``.
        fraction: share of the train subset kept, in (0, 1].
        seed: seed of the permutation (the split's).

    Raises:
        ProbeError: ``fraction`` outside (0, 1].
    """
    try:
        kept = kept_positions(len(labels["train"]), fraction, seed=seed)
    except ValueError as error:
        raise ProbeError(str(error)) from None
    return (
        {**features, "train": np.asarray(features["train"])[kept]},
        {**labels, "train": np.asarray(labels["train"])[kept]},
    )


def standardized(features: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Every subset's features scaled by the train subset's mean and std (constant columns: std 1)."""
    train = np.asarray(features["train"], dtype=np.float64)
    mean, std = train.mean(axis=0), train.std(axis=0)
    std[std == 0] = 1.0
    return {name: (np.asarray(x, dtype=np.float64) - mean) / std for name, x in features.items()}


def _check(
    features: Mapping[str, np.ndarray], labels: Mapping[str, np.ndarray], targets: Sequence[str]
) -> None:
    if sorted(features) != sorted(SUBSETS) or sorted(labels) != sorted(SUBSETS):
        raise ProbeError(f"a probe needs features and labels of {list(SUBSETS)}")
    for name in SUBSETS:
        x, y = np.asarray(features[name]), np.asarray(labels[name])
        if x.ndim != 2 or y.shape != (len(x), len(targets)):
            raise ProbeError(
                f"subset '{name}': features {x.shape} and labels {y.shape} do not fit {len(targets)} targets"
            )


def _predict(model, task: TaskType, x: np.ndarray) -> np.ndarray:
    """Class-1 scores or values; an empty subset gives an empty array (scikit-learn refuses it)."""
    if len(x) == 0:
        return np.zeros(0)
    if task == "classification":
        return model.predict_proba(x)[:, list(model.classes_).index(1)]
    return model.predict(x)


def _valid_score(task: TaskType, labels: np.ndarray, predicted: np.ndarray) -> float:
    """The benchmark metric on valid, oriented so that higher is better (NaN: not scorable)."""
    value = evaluate(task, labels, predicted)["value"]
    return value if TASK_METRIC[task][1] else -value


#: ``candidates(x, y, labelled)`` yields ``(grid value, {subset: predictions})`` for one target:
#: ``x``/``y`` its labelled training rows, ``labelled`` their mask over the train subset.
Candidates = Callable[[np.ndarray, np.ndarray, np.ndarray], Iterator[tuple[float, dict[str, np.ndarray]]]]


def _fit(
    features: Mapping[str, np.ndarray],
    labels: Mapping[str, np.ndarray],
    *,
    task: TaskType,
    targets: Sequence[str],
    candidates: Candidates,
) -> ProbeResult:
    """Per target: score every candidate on valid, keep the best one's predictions."""
    _check(features, labels, targets)
    predictions = {name: np.zeros((len(features[name]), len(targets))) for name in SUBSETS}
    chosen: dict[str, float | None] = {}
    for column, target in enumerate(targets):
        labelled = ~np.isnan(labels["train"][:, column])
        if not labelled.any():
            raise ProbeError(f"target '{target}' has no labelled molecule in the train subset")
        x, y = features["train"][labelled], labels["train"][labelled, column]
        if task == "classification" and len(np.unique(y)) == 1:
            log.warning("target '%s': every training label is %g; predicting that constant", target, y[0])
            for name in SUBSETS:
                predictions[name][:, column] = y[0]
            chosen[target] = None
            continue
        valid_labelled = ~np.isnan(labels["valid"][:, column])
        best_predicted, best_value, best_score = None, None, -math.inf
        for value, predicted in candidates(x, y, labelled):
            score = _valid_score(task, labels["valid"][valid_labelled, column], predicted["valid"][valid_labelled])
            if best_predicted is None or score > best_score:  # NaN never wins: the first value stays
                best_predicted, best_value, best_score = predicted, value, score
        chosen[target] = best_value
        for name in SUBSETS:
            predictions[name][:, column] = best_predicted[name]
    return ProbeResult(predictions=predictions, chosen=chosen)


def linear_probe(
    features: Mapping[str, np.ndarray],
    labels: Mapping[str, np.ndarray],
    *,
    task: TaskType,
    targets: Sequence[str],
    seed: int = 0,
) -> ProbeResult:
    """Logistic (classification) or ridge (regression) regression on standardised features.

    The logistic fits run along the grid from the strongest regularisation, each starting from
    the previous optimum (a warm start: the same convex problems, solved in fewer iterations).

    Args:
        features: per subset ('train', 'valid', 'test'), features ``[n, d]``.
        labels: per subset, labels ``[n, T]``, NaN where missing.
        task: 'classification' or 'regression'.
        targets: target names, the label columns' order.
        seed: ``random_state`` of the logistic solver (default 0).
    """
    # float32, the encoders' own precision: half the solver's time, the same choices
    scaled = {name: x.astype(np.float32) for name, x in standardized(features).items()}

    if task == "classification":
        parameter, grid = "C", LOGISTIC_C
    else:
        parameter, grid = "alpha", RIDGE_ALPHA

    def candidates(x, y, labelled):
        if task == "classification":
            model, y = LogisticRegression(max_iter=2000, random_state=seed, warm_start=True), y.astype(int)
        else:
            model = Ridge()  # solved directly: nothing to warm-start
        for strength in grid:
            model.set_params(**{parameter: strength}).fit(x, y)
            yield strength, {name: _predict(model, task, scaled[name]) for name in SUBSETS}

    return _fit(scaled, labels, task=task, targets=targets, candidates=candidates)


def _cosine_similarity(query: np.ndarray, train: np.ndarray) -> np.ndarray:
    """``[n_query, n_train]`` cosine similarities; a zero vector is at 0 from everything (as
    scikit-learn's cosine)."""

    def unit(x: np.ndarray) -> np.ndarray:
        norms = np.linalg.norm(x, axis=1, keepdims=True)
        return x / np.where(norms == 0, 1.0, norms)

    return unit(query) @ unit(train).T


class NeighbourRanking:
    """The training molecules of each query row by decreasing similarity, ties to the earlier
    train row (a stable sort of the whole row), computed only as deep as needed.

    A full sort of every row costs most of the kNN probe on a large benchmark, yet a probe reads
    only the first ``max(KNN_K)`` labelled neighbours. So each row's ``depth`` most similar are
    sorted, and a row is sorted whole only where that prefix cannot be trusted: where values
    equal to the last kept one run past it (a tie across the cut), or where it holds too few
    labelled molecules for a target.

    Args:
        similarity: ``[n_query, n_train]`` similarities.
        depth: how many neighbours a row's prefix keeps (at least the deepest k read).
    """

    def __init__(self, similarity: np.ndarray, *, depth: int) -> None:
        self.similarity = similarity
        self._whole: dict[int, np.ndarray] = {}  # row -> its whole order, sorted once for every target
        depth = min(depth, similarity.shape[1])
        if depth == similarity.shape[1]:
            self.prefix = np.argsort(-similarity, axis=1, kind="stable")
            self.trusted = np.ones(len(similarity), dtype=bool)
            return
        top = np.sort(np.argpartition(-similarity, depth - 1, axis=1)[:, :depth], axis=1)
        values = np.take_along_axis(similarity, top, axis=1)
        order = np.argsort(-values, axis=1, kind="stable")  # equal values keep the train order
        self.prefix = np.take_along_axis(top, order, axis=1)
        cut = np.take_along_axis(values, order[:, -1:], axis=1)  # the last kept value
        self.trusted = (similarity >= cut).sum(axis=1) == depth

    def nearest(self, labelled: np.ndarray, count: int) -> np.ndarray:
        """``[n_query, count]`` train rows: per query row, its ``count`` most similar among the
        ``labelled`` ones, in ranking order.

        Args:
            labelled: ``[n_train]`` mask of the training molecules to rank.
            count: how many to return; at most ``labelled.sum()``.
        """
        hits = labelled[self.prefix]
        whole_rows = ~self.trusted | (hits.sum(axis=1) < count)
        nearest = np.empty((len(self.prefix), count), dtype=np.int64)
        good = ~whole_rows
        if good.any():
            # a row's first ``count`` labelled entries: a stable sort of "not labelled"
            first = np.argsort(~hits[good], axis=1, kind="stable")[:, :count]
            nearest[good] = np.take_along_axis(self.prefix[good], first, axis=1)
        if whole_rows.any():  # ties across the cut, or too few labelled in the prefix
            whole = self._whole_orders(np.flatnonzero(whole_rows))
            nearest[whole_rows] = whole[labelled[whole]].reshape(len(whole), -1)[:, :count]
        return nearest

    def _whole_orders(self, rows: np.ndarray) -> np.ndarray:
        """The stable order of each of ``rows`` over all train rows."""
        missing = [row for row in rows.tolist() if row not in self._whole]
        if missing:
            orders = np.argsort(-self.similarity[missing], axis=1, kind="stable")
            self._whole.update(zip(missing, orders))
        return np.stack([self._whole[row] for row in rows.tolist()])


def knn_probe(
    features: Mapping[str, np.ndarray],
    labels: Mapping[str, np.ndarray],
    *,
    task: TaskType,
    targets: Sequence[str],
) -> ProbeResult:
    """Cosine k-nearest neighbours; arguments as :func:`linear_probe`. Values of k above a
    target's labelled training molecules are skipped.

    The neighbours of every molecule are ranked once for all targets and values of k (what
    scikit-learn's ``KNeighbors*`` would compute again for each), :class:`NeighbourRanking`
    deep enough for the largest k; a target then reads its labelled training molecules in that
    order, and a prediction is the mean label of the first k.
    """
    dense = {name: np.asarray(x, dtype=np.float64) for name, x in features.items()}
    _check(dense, labels, targets)
    # twice the deepest k: a target missing half its training labels still finds them in the prefix
    ranking = {
        name: NeighbourRanking(_cosine_similarity(dense[name], dense["train"]), depth=2 * max(KNN_K))
        for name in SUBSETS
    }

    def candidates(x, y, labelled):
        values = [k for k in KNN_K if k <= len(y)]
        # y's positions among the labelled training rows, per train row
        position = np.cumsum(labelled) - 1
        running_means = {}
        for name, ranked in ranking.items():
            nearest = ranked.nearest(labelled, values[-1])
            running_means[name] = np.cumsum(y[position[nearest]], axis=1) / np.arange(1, values[-1] + 1)
        for k in values:
            yield k, {name: means[:, k - 1] for name, means in running_means.items()}

    return _fit(dense, labels, task=task, targets=targets, candidates=candidates)


def probe_row(
    features: Mapping[str, np.ndarray],
    labels: Mapping[str, np.ndarray],
    *,
    name: str,
    probe: str,
    task: TaskType,
    targets: Sequence[str],
    seed: int = 0,
) -> dict[str, Any]:
    """One probe on one feature set, scored with the benchmark metric on every subset.

    Args:
        features: per subset, features ``[n, d]``.
        labels: per subset, labels ``[n, T]``, NaN where missing.
        name: what the features are ('pretrained', 'random_init', 'ecfp4', 'rdkit2d').
        probe: 'linear' or 'knn'.
        task: 'classification' or 'regression'.
        targets: target names.
        seed: seed of the logistic solver (default 0).

    Returns:
        ``{"features", "probe", "dim", "train", "valid", "test", "per_task_test", "chosen"}``;
        a score is None when no target could be scored.
    """
    if probe not in PROBES:
        raise ProbeError(f"unknown probe '{probe}'; expected one of {list(PROBES)}")
    if probe == "linear":
        result = linear_probe(features, labels, task=task, targets=targets, seed=seed)
    else:
        result = knn_probe(features, labels, task=task, targets=targets)
    scores = {
        subset: evaluate(task, labels[subset], result.predictions[subset], targets=targets)
        for subset in SUBSETS
    }
    return {
        "features": name,
        "probe": probe,
        "dim": int(np.shape(features["train"])[1]),
        **{subset: _finite_or_none(scores[subset]["value"]) for subset in SUBSETS},
        "per_task_test": scores["test"]["per_task"],
        "chosen": result.chosen,
    }


def _finite_or_none(value: float) -> float | None:
    return None if math.isnan(value) else float(value)
