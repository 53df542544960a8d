from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.metrics import mean_squared_error, roc_auc_score

from semmol.evaluate.metrics import (
    MetricError,
    evaluate,
    masked_roc_auc,
    metric_label,
    multiclass_scores,
    rmse,
)

NAN = math.nan


def test_roc_auc_by_hand_with_a_masked_row():
    # Positives 0.35, 0.8 against negatives 0.1, 0.6: three of four pairs ranked right.
    # The unlabelled row would rank last; masking it must leave it out.
    mean, per_task = masked_roc_auc([0, 0, 1, 1, NAN], [0.1, 0.6, 0.35, 0.8, 0.0])
    assert mean == pytest.approx(0.75)
    assert per_task == {"0": pytest.approx(0.75)}


def test_multitask_mean_skips_single_class_tasks():
    rng = np.random.default_rng(0)
    third = rng.integers(0, 2, 40).astype(float)
    third[rng.choice(40, 10, replace=False)] = NAN
    score_third = rng.random(40)
    y_true = np.full((40, 3), NAN)
    y_score = rng.random((40, 3))
    y_true[:5, 0], y_score[:5, 0] = [0, 0, 1, 1, 1], [0.2, 0.9, 0.1, 0.8, 0.95]  # 3 of 6 pairs ranked right
    y_true[:6, 1] = 1.0  # one class only: no ROC-AUC
    y_true[:, 2], y_score[:, 2] = third, score_third
    labelled = ~np.isnan(third)
    expected_third = roc_auc_score(third[labelled], score_third[labelled])

    mean, per_task = masked_roc_auc(y_true, y_score, targets=["a", "b", "c"])

    assert per_task["a"] == pytest.approx(3 / 6)
    assert per_task["b"] is None
    assert per_task["c"] == pytest.approx(expected_third)
    assert mean == pytest.approx((3 / 6 + expected_third) / 2)


def test_roc_auc_of_no_scorable_task_is_nan():
    mean, per_task = masked_roc_auc([[1, NAN], [1, 0]], [[0.3, 0.2], [0.4, 0.1]])
    assert math.isnan(mean) and per_task == {"0": None, "1": None}


def test_roc_auc_rejects_non_binary_labels_and_missing_scores():
    with pytest.raises(MetricError, match="must be 0 or 1, found 2"):
        masked_roc_auc([0, 1, 2], [0.1, 0.2, 0.3])
    with pytest.raises(MetricError, match="task 'x' at row 1 is nan"):
        masked_roc_auc([0, 1], [0.1, NAN], targets=["x"])


def test_rmse_by_hand_and_against_sklearn():
    mean, per_task = rmse([1.0, 2.0, NAN], [2.0, 4.0, 100.0])
    assert mean == pytest.approx(math.sqrt(2.5)) and per_task["0"] == pytest.approx(math.sqrt(2.5))

    rng = np.random.default_rng(1)
    y_true, y_pred = rng.normal(size=(30, 2)), rng.normal(size=(30, 2))
    y_true[::4, 1] = NAN
    mask = ~np.isnan(y_true[:, 1])
    first = math.sqrt(mean_squared_error(y_true[:, 0], y_pred[:, 0]))
    second = math.sqrt(mean_squared_error(y_true[mask, 1], y_pred[mask, 1]))
    mean, per_task = rmse(y_true, y_pred, targets=["p", "q"])
    assert per_task == {"p": pytest.approx(first), "q": pytest.approx(second)}
    assert mean == pytest.approx((first + second) / 2)


def test_rmse_of_unlabelled_task_is_none():
    mean, per_task = rmse([[1.0, NAN]], [[1.5, 3.0]])
    assert mean == pytest.approx(0.5) and per_task == {"0": pytest.approx(0.5), "1": None}


def test_evaluate_picks_the_metric_of_the_task():
    classification = evaluate("classification", [0, 1, 1], [0.2, 0.7, 0.1], targets=["t"])
    assert classification == {
        "metric": "roc_auc",
        "value": pytest.approx(0.5),
        "higher_is_better": True,
        "per_task": {"t": pytest.approx(0.5)},
    }
    regression = evaluate("regression", [[1.0], [3.0]], [[1.0], [1.0]])
    assert regression["metric"] == "rmse" and regression["higher_is_better"] is False
    assert regression["value"] == pytest.approx(math.sqrt(2))
    empty = evaluate("regression", np.zeros((0, 2)), np.zeros((0, 2)))
    assert math.isnan(empty["value"])


def test_shape_mismatch_and_unknown_task_are_errors():
    with pytest.raises(MetricError, match=r"shape \(3, 1\) but predictions \(2, 1\)"):
        rmse([1.0, 2.0, 3.0], [1.0, 2.0])
    with pytest.raises(MetricError, match="1 target names for 2 label columns"):
        rmse([[1.0, 2.0]], [[1.0, 2.0]], targets=["a"])
    with pytest.raises(MetricError, match="unknown task type 'ranking'"):
        evaluate("ranking", [1.0], [1.0])


def test_metric_labels_say_which_way_is_better():
    assert metric_label("roc_auc") == "ROC-AUC ↑" and metric_label("rmse") == "RMSE ↓"
    assert metric_label("roc_auc_ovr") == "ROC-AUC one-vs-rest ↑"


def test_multiclass_roc_auc_by_hand_with_a_class_missing_from_the_subset():
    # Classes a, b, c; the labelled rows hold a and b only, the last row is unlabelled.
    labels = [0, 0, 1, 1, NAN]
    proba = [[0.6, 0.3, 0.1], [0.3, 0.4, 0.3], [0.2, 0.5, 0.3], [0.5, 0.1, 0.4], [0.1, 0.1, 0.8]]
    macro, per_class, accuracy = multiclass_scores(labels, proba, classes=["a", "b", "c"])
    # a vs rest: a's 0.6, 0.3 against 0.2, 0.5: three of four pairs right. b vs rest: b's 0.5, 0.1
    # against 0.3, 0.4: two of four. c is not among the labels: no ROC-AUC, left out of the mean.
    assert per_class == {"a": pytest.approx(0.75), "b": pytest.approx(0.5), "c": None}
    assert macro == pytest.approx(0.625)
    assert accuracy == pytest.approx(0.5)  # argmax a, b, b, a against a, a, b, b; c competes but never wins
    classes = ["a", "b", "c"]
    scores = evaluate("multiclass", np.array(labels)[:, None], proba, targets=["kind"], classes=classes)
    assert scores["metric"] == "roc_auc_ovr" and scores["higher_is_better"] is True
    assert scores["per_task"] == {"kind": pytest.approx(0.625)} and scores["accuracy"] == pytest.approx(0.5)


def test_multiclass_roc_auc_with_every_class_present_is_scikit_learn_s_macro_one_vs_rest():
    rng = np.random.default_rng(0)
    labels = np.tile([0, 1, 2, 3], 10)
    proba = rng.dirichlet(np.ones(4), size=len(labels)) + np.eye(4)[labels] * 0.3
    proba /= proba.sum(axis=1, keepdims=True)
    macro, _, _ = multiclass_scores(labels.astype(float), proba)
    assert macro == pytest.approx(roc_auc_score(labels, proba, multi_class="ovr", average="macro"))


def test_multiclass_scores_of_one_class_and_of_bad_labels():
    macro, per_class, accuracy = multiclass_scores([1, 1], [[0.2, 0.8], [0.6, 0.4]])
    assert math.isnan(macro) and per_class == {"0": None, "1": None} and accuracy == pytest.approx(0.5)
    with pytest.raises(MetricError, match=r"class numbers 0\.\.1, found 2\.0"):
        multiclass_scores([0, 2], [[0.5, 0.5], [0.5, 0.5]])
    with pytest.raises(MetricError, match=r"2 labels need probabilities \[2, K >= 2\], got \(2, 1\)"):
        multiclass_scores([0, 1], [[0.5], [0.5]])
