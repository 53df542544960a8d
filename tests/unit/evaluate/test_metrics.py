from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.metrics import mean_squared_error, roc_auc_score

from semmol.evaluate.metrics import MetricError, evaluate, masked_roc_auc, metric_label, rmse

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
