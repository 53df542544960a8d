from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from semmol.evaluate.probe import (
    LOGISTIC_C,
    ProbeError,
    knn_probe,
    label_fraction,
    linear_probe,
    probe_row,
    standardized,
)

SIZES = {"train": 200, "valid": 80, "test": 80}


def _separable(rng: np.random.Generator) -> tuple[dict, dict]:
    """Two Gaussian clusters far apart along one direction: class = which cluster."""
    features, labels = {}, {}
    for name, n in SIZES.items():
        y = rng.integers(0, 2, n).astype(float)
        x = rng.normal(size=(n, 8))
        x[:, 0] += np.where(y == 1, 6.0, -6.0)
        features[name], labels[name] = x, y[:, None]
    return features, labels


def test_a_linearly_separable_embedding_scores_full_roc_auc():
    features, labels = _separable(np.random.default_rng(0))
    for probe in ("linear", "knn"):
        row = probe_row(features, labels, name="toy", probe=probe, task="classification", targets=["y"])
        assert row["test"] == 1.0 and row["valid"] == 1.0, probe


def test_a_random_embedding_scores_about_chance():
    rng = np.random.default_rng(1)
    sizes = {"train": 400, "valid": 200, "test": 2000}
    features = {name: rng.normal(size=(n, 16)) for name, n in sizes.items()}
    labels = {name: rng.integers(0, 2, (n, 1)).astype(float) for name, n in sizes.items()}
    for probe in ("linear", "knn"):
        row = probe_row(features, labels, name="noise", probe=probe, task="classification", targets=["y"])
        assert abs(row["test"] - 0.5) < 0.06, (probe, row["test"])


def test_ridge_on_a_linear_target_has_near_zero_rmse():
    rng = np.random.default_rng(2)
    weights = rng.normal(size=5)
    features = {name: rng.normal(size=(n, 5)) for name, n in SIZES.items()}
    labels = {name: (x @ weights + 3.0)[:, None] for name, x in features.items()}
    row = probe_row(features, labels, name="toy", probe="linear", task="regression", targets=["y"])
    assert row["test"] < 0.02 and row["chosen"]["y"] <= 0.01


def test_regularisation_is_chosen_on_valid_whatever_test_holds():
    """Few noisy training molecules in many dimensions, so that C matters; valid and test are
    drawn apart, and the test labels are then flipped: the choice follows valid alone."""
    rng = np.random.default_rng(3)
    direction = rng.normal(size=40)
    features = {name: rng.normal(size=(n, 40)) for name, n in {"train": 30, "valid": 60, "test": 60}.items()}
    labels = {
        name: ((x @ direction + rng.normal(scale=4.0, size=len(x))) > 0).astype(float)[:, None]
        for name, x in features.items()
    }
    scaled = standardized(features)
    valid_auc = [
        roc_auc_score(
            labels["valid"][:, 0],
            LogisticRegression(C=c, max_iter=2000, random_state=0)
            .fit(scaled["train"], labels["train"][:, 0])
            .predict_proba(scaled["valid"])[:, 1],
        )
        for c in LOGISTIC_C
    ]
    expected = LOGISTIC_C[int(np.argmax(valid_auc))]  # argmax keeps the first of ties, as the probe
    chosen = linear_probe(features, labels, task="classification", targets=["y"]).chosen
    flipped = {**labels, "test": 1.0 - labels["test"]}
    assert chosen == {"y": expected}
    assert linear_probe(features, flipped, task="classification", targets=["y"]).chosen == chosen


def test_valid_labels_decide_k():
    """Noisy train labels: one neighbour copies the noise, many neighbours average it out."""
    rng = np.random.default_rng(4)
    features, labels = _separable(rng)
    noisy = labels["train"].copy()
    flip = rng.random(len(noisy)) < 0.3
    noisy[flip] = 1.0 - noisy[flip]
    result = knn_probe({**features}, {**labels, "train": noisy}, task="classification", targets=["y"])
    assert result.chosen["y"] > 1


def test_each_target_is_probed_on_its_own_labelled_rows():
    rng = np.random.default_rng(5)
    features, labels = _separable(rng)
    # Task 'b' is the opposite of 'a', and half its labels are missing; task 'c' has one class in train.
    two = {}
    for name, y in labels.items():
        b = 1.0 - y[:, 0]
        b[::2] = np.nan
        c = np.ones(len(y)) if name == "train" else y[:, 0]
        two[name] = np.stack([y[:, 0], b, c], axis=1)
    row = probe_row(features, two, name="toy", probe="linear", task="classification", targets=["a", "b", "c"])
    assert row["per_task_test"]["a"] == 1.0 and row["per_task_test"]["b"] == 1.0
    assert row["per_task_test"]["c"] == 0.5 and row["chosen"]["c"] is None  # constant score


def test_a_target_without_training_labels_is_an_error():
    features, labels = _separable(np.random.default_rng(6))
    labels = {**labels, "train": np.full_like(labels["train"], np.nan)}
    with pytest.raises(ProbeError, match="target 'y' has no labelled molecule"):
        linear_probe(features, labels, task="classification", targets=["y"])


def test_mismatched_shapes_are_an_error():
    features, labels = _separable(np.random.default_rng(7))
    with pytest.raises(ProbeError, match="subset 'valid'"):
        knn_probe({**features, "valid": features["valid"][:3]}, labels, task="classification", targets=["y"])


def test_label_fractions_cut_train_alone_and_nest():
    features, labels = _separable(np.random.default_rng(8))
    kept = {}
    for fraction in (0.1, 0.5, 1.0):
        cut_features, cut_labels = label_fraction(features, labels, fraction=fraction, seed=3)
        assert len(cut_features["train"]) == len(cut_labels["train"]) == math.ceil(fraction * SIZES["train"])
        assert cut_features["valid"] is features["valid"] and cut_labels["test"] is labels["test"]
        kept[fraction] = {tuple(row) for row in cut_features["train"]}
    assert kept[0.1] < kept[0.5] < kept[1.0]
    again, _ = label_fraction(features, labels, fraction=0.1, seed=3)
    assert {tuple(row) for row in again["train"]} == kept[0.1]
    with pytest.raises(ProbeError, match=r"in \(0, 1\]"):
        label_fraction(features, labels, fraction=0.0, seed=3)


@pytest.mark.parametrize("task", ["classification", "regression"])
def test_knn_predicts_what_scikit_learn_predicts_for_every_k(task):
    """The ranked-once neighbours give scikit-learn's cosine kNN predictions, missing labels
    and a zero vector included (continuous features: no ties in similarity)."""
    from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor

    from semmol.evaluate.probe import KNN_K

    rng = np.random.default_rng(9)
    features = {name: rng.normal(size=(n, 6)) for name, n in SIZES.items()}
    features["test"][0] = 0.0
    labels = {
        name: (rng.integers(0, 2, (n, 1)) if task == "classification" else rng.normal(size=(n, 1))).astype(float)
        for name, n in SIZES.items()
    }
    labels["train"][::3] = np.nan
    labelled = ~np.isnan(labels["train"][:, 0])
    result = knn_probe(features, labels, task=task, targets=["y"])
    k = result.chosen["y"]
    assert k in KNN_K
    if task == "classification":
        model = KNeighborsClassifier(n_neighbors=k, metric="cosine", algorithm="brute")
        model.fit(features["train"][labelled], labels["train"][labelled, 0].astype(int))
        predict = lambda x: model.predict_proba(x)[:, 1]  # noqa: E731
    else:
        model = KNeighborsRegressor(n_neighbors=k, metric="cosine", algorithm="brute")
        model.fit(features["train"][labelled], labels["train"][labelled, 0])
        predict = model.predict
    for name, x in features.items():
        np.testing.assert_allclose(result.predictions[name][:, 0], predict(x), err_msg=name)


@pytest.mark.parametrize("depth", [3, 12, 1000])
def test_a_shallow_neighbour_ranking_equals_the_whole_stable_sort(depth):
    """Ties everywhere (features of few distinct values, duplicated rows) and a sparse label
    mask: the prefix, its fallbacks (ties across the cut, too few labelled) and the whole-row
    path all give what a stable sort of each whole row gives."""
    from semmol.evaluate.probe import NeighbourRanking

    rng = np.random.default_rng(11)
    train = rng.integers(0, 3, size=(60, 4)).astype(float)
    query = np.concatenate([train[:10], rng.integers(0, 3, size=(15, 4)).astype(float)])
    similarity = query @ train.T
    labelled = rng.random(60) < 0.4
    whole = np.argsort(-similarity, axis=1, kind="stable")
    expected = whole[labelled[whole]].reshape(len(query), -1)
    ranking = NeighbourRanking(similarity, depth=depth)
    for count in (1, 5, int(labelled.sum())):
        np.testing.assert_array_equal(ranking.nearest(labelled, count), expected[:, :count])


def test_warm_started_logistic_fits_match_cold_ones():
    rng = np.random.default_rng(10)
    features, labels = _separable(rng)
    features = {name: x + rng.normal(scale=4.0, size=x.shape) for name, x in features.items()}
    result = linear_probe(features, labels, task="classification", targets=["y"])
    scaled = standardized(features)
    cold = LogisticRegression(C=result.chosen["y"], max_iter=2000, random_state=0)
    cold.fit(scaled["train"], labels["train"][:, 0])
    np.testing.assert_allclose(result.predictions["test"][:, 0], cold.predict_proba(scaled["test"])[:, 1], atol=1e-3)


@pytest.mark.parametrize("probe", ["linear", "knn"])
@pytest.mark.parametrize("task", ["classification", "regression"])
def test_an_empty_test_subset_gives_empty_predictions(probe, task):
    features, labels = _separable(np.random.default_rng(11))
    features = {**features, "test": features["test"][:0]}
    labels = {**labels, "test": labels["test"][:0]}
    fit = linear_probe if probe == "linear" else knn_probe
    result = fit(features, labels, task=task, targets=["y"])
    assert result.predictions["test"].shape == (0, 1)
