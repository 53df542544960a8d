from __future__ import annotations

import json
import math

import numpy as np
import polars as pl
import pytest

from semmol.evaluate.metrics import evaluate
from semmol.evaluate.records import (
    KIND_BASELINE,
    MetricsFileError,
    SubsetPredictions,
    read_metrics,
    write_result,
)

NAN = math.nan
TARGETS = ["NR-AR", "SR-p53"]


def _subsets() -> dict[str, SubsetPredictions]:
    rng = np.random.default_rng(0)

    def part(rows: list[int], labels: list[list[float]]) -> SubsetPredictions:
        smiles = ["C" * (row + 1) for row in rows]
        return SubsetPredictions(np.asarray(rows), smiles, np.asarray(labels), rng.random((len(rows), 2)))

    return {
        "train": part([0, 1, 2, 3], [[0, 1], [1, 0], [0, NAN], [1, 1]]),
        "valid": part([4, 5], [[1, 0], [1, NAN]]),  # NR-AR one class, SR-p53 one label: no score
        "test": part([6, 7, 8], [[0, 1], [1, 0], [NAN, 1]]),
    }


def _write(out_dir, **options):
    settings = dict(
        run="semmol",
        benchmark="tox21",
        split_kind="scaffold",
        seed=2,
        task="classification",
        targets=TARGETS,
        subsets=_subsets(),
        missing={"train": 1, "valid": 0, "test": 0},
        seconds=1.5,
    )
    return write_result(out_dir, **{**settings, **options})


def test_metrics_and_predictions_round_trip(tmp_path):
    history = [{"epoch": 0, "train_loss": 0.7, "valid": 0.6}, {"epoch": 1, "train_loss": 0.5, "valid": NAN}]
    subsets = _subsets()
    extra = {"modalities": ["smiles"]}
    written = _write(tmp_path, subsets=subsets, history=history, best_epoch=0, extra=extra)

    stored = json.loads((tmp_path / "metrics.json").read_text())
    assert stored == written
    for name in ("train", "test"):
        expected = evaluate("classification", subsets[name].y_true, subsets[name].y_pred)["value"]
        assert stored[name] == pytest.approx(expected)
    assert stored["valid"] is None  # no task of the valid subset has both classes
    assert stored["per_task_test"]["NR-AR"] == pytest.approx(
        evaluate("classification", subsets["test"].y_true[:, 0], subsets["test"].y_pred[:, 0])["value"]
    )
    assert stored["n"] == {"train": 4, "valid": 2, "test": 3}
    assert stored["missing"] == {"train": 1, "valid": 0, "test": 0}
    assert stored["history"][1] == {"epoch": 1, "train_loss": 0.5, "valid": None}
    assert (stored["metric"], stored["higher_is_better"], stored["best_epoch"]) == ("roc_auc", True, 0)
    identity = (stored["run"], stored["split"], stored["seed"], stored["kind"])
    assert identity == ("semmol", "scaffold", 2, "pipeline")
    assert stored["modalities"] == ["smiles"]

    predictions = pl.read_parquet(tmp_path / "predictions.parquet")
    columns = ["row", "subset", "smiles", "NR-AR", "NR-AR__pred", "SR-p53", "SR-p53__pred"]
    assert predictions.columns == columns
    assert predictions["row"].to_list() == list(range(9))
    assert predictions["subset"].to_list() == ["train"] * 4 + ["valid"] * 2 + ["test"] * 3
    np.testing.assert_array_equal(predictions["SR-p53__pred"].to_numpy()[6:], subsets["test"].y_pred[:, 1])
    assert math.isnan(predictions["NR-AR"][8])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metrics.json", "predictions.parquet"]

    read = read_metrics(tmp_path / "metrics.json")
    assert math.isnan(read["valid"]) and read["test"] == pytest.approx(stored["test"])


def test_regression_baseline_record(tmp_path):
    def part(rows, true, pred):
        return (np.asarray(rows), ["CO"] * len(rows), np.asarray(true)[:, None], np.asarray(pred)[:, None])

    subsets = {
        "train": part([0, 1], [1.0, 2.0], [1.0, 2.0]),
        "valid": part([2], [3.0], [2.0]),
        "test": part([3, 4], [0.0, 0.0], [3.0, 4.0]),
    }
    metrics = _write(tmp_path, task="regression", targets=["logS"], subsets=subsets, kind=KIND_BASELINE)
    assert (metrics["metric"], metrics["higher_is_better"], metrics["kind"]) == ("rmse", False, "baseline")
    assert (metrics["train"], metrics["valid"]) == (0.0, 1.0)
    assert metrics["test"] == pytest.approx(math.sqrt(12.5))
    assert metrics["history"] is None and metrics["best_epoch"] is None


def test_inconsistent_results_are_refused(tmp_path):
    with pytest.raises(ValueError, match="would replace standard keys"):
        _write(tmp_path, extra={"test": 1.0})
    with pytest.raises(ValueError, match="best_epoch 3 is not an epoch"):
        _write(tmp_path, history=[{"epoch": 0}], best_epoch=3)
    subsets = _subsets()
    del subsets["valid"]
    with pytest.raises(ValueError, match="need the subsets"):
        _write(tmp_path, subsets=subsets)
    subsets = _subsets()
    subsets["test"] = subsets["test"]._replace(y_pred=np.zeros((3, 1)))
    with pytest.raises(ValueError, match=r"subset 'test': y_pred has shape \(3, 1\), expected \(3, 2\)"):
        _write(tmp_path, subsets=subsets)
    assert not (tmp_path / "metrics.json").exists()


def test_read_metrics_names_the_file_and_key(tmp_path):
    path = tmp_path / "metrics.json"
    metrics = _write(tmp_path)
    path.write_text("[1, 2")
    with pytest.raises(MetricsFileError, match=r"metrics\.json: not a JSON metrics file"):
        read_metrics(path)
    path.write_text(json.dumps({key: value for key, value in metrics.items() if key != "seed"}))
    with pytest.raises(MetricsFileError, match=r"metrics\.json: key 'seed' missing"):
        read_metrics(path)
    path.write_text(json.dumps({**metrics, "test": "0.7"}))
    with pytest.raises(MetricsFileError, match="key 'test' has an invalid value '0.7'"):
        read_metrics(path)
    path.write_text(json.dumps({**metrics, "metric": "rmse"}))
    with pytest.raises(MetricsFileError, match="does not belong to task 'classification'"):
        read_metrics(path)
    with pytest.raises(FileNotFoundError, match="metrics file not found"):
        read_metrics(tmp_path / "absent.json")


def test_the_label_fraction_is_recorded_and_read_as_1_where_absent(tmp_path):
    path = tmp_path / "metrics.json"
    assert _write(tmp_path, label_fraction=0.25)["label_fraction"] == 0.25
    assert read_metrics(path)["label_fraction"] == 0.25
    metrics = _write(tmp_path)
    assert metrics["label_fraction"] == 1.0
    path.write_text(json.dumps({key: value for key, value in metrics.items() if key != "label_fraction"}))
    assert read_metrics(path)["label_fraction"] == 1.0  # written before label fractions
    for bad in (0, 1.5, "0.5", None):
        path.write_text(json.dumps({**metrics, "label_fraction": bad}))
        message = r"metrics\.json: key 'label_fraction' is .*, not in \(0, 1\]"
        with pytest.raises(MetricsFileError, match=message):
            read_metrics(path)


CLASSES = ["alcohol", "amine", "arene"]


def _multiclass_subsets() -> dict[str, tuple]:
    def part(rows, labels, proba):
        labels = np.asarray(labels, dtype=np.float64)[:, None]
        return (np.asarray(rows), ["CO"] * len(rows), labels, np.asarray(proba, dtype=np.float64))

    return {
        "train": part([0, 1, 2], [0, 1, 2], np.eye(3) * 0.7 + 0.1),
        "valid": part([3, 4], [0, 1], [[0.6, 0.3, 0.1], [0.2, 0.7, 0.1]]),
        # the hand-worked example of test_metrics: arene absent, one row unlabelled
        "test": part(
            [5, 6, 7, 8, 9],
            [0, 0, 1, 1, NAN],
            [[0.6, 0.3, 0.1], [0.3, 0.4, 0.3], [0.2, 0.5, 0.3], [0.5, 0.1, 0.4], [0.1, 0.1, 0.8]],
        ),
    }


def test_a_multiclass_record_holds_every_class_probability_and_the_class_names(tmp_path):
    subsets = _multiclass_subsets()
    metrics = _write(tmp_path, task="multiclass", targets=["kind"], subsets=subsets, classes=CLASSES)
    assert (metrics["metric"], metrics["higher_is_better"]) == ("roc_auc_ovr", True)
    assert metrics["test"] == pytest.approx(0.625) and metrics["per_task_test"] == {"kind": metrics["test"]}
    assert metrics["classes"] == CLASSES
    per_class = {"alcohol": pytest.approx(0.75), "amine": pytest.approx(0.5), "arene": None}
    assert metrics["per_class_test"] == per_class
    assert metrics["accuracy"] == {"train": 1.0, "valid": 1.0, "test": pytest.approx(0.5)}
    predictions = pl.read_parquet(tmp_path / "predictions.parquet")
    probabilities = ["kind__prob_alcohol", "kind__prob_amine", "kind__prob_arene"]
    assert predictions.columns == ["row", "subset", "smiles", "kind", "kind__pred", *probabilities]
    assert predictions["kind__pred"].to_list()[5:] == [0.0, 1.0, 1.0, 0.0, 2.0]  # the most probable class
    np.testing.assert_array_equal(predictions["kind__prob_arene"].to_numpy()[5:], subsets["test"][3][:, 2])
    assert read_metrics(tmp_path / "metrics.json")["classes"] == CLASSES


def test_class_names_go_with_multiclass_results_only(tmp_path):
    with pytest.raises(ValueError, match="class names are needed for a multiclass result and only then"):
        _write(tmp_path, task="multiclass", targets=["kind"], subsets=_multiclass_subsets())
    with pytest.raises(ValueError, match="class names are needed for a multiclass result and only then"):
        _write(tmp_path, classes=CLASSES)
    subsets = _multiclass_subsets()
    subsets["test"] = (*subsets["test"][:3], subsets["test"][3][:, :2])
    with pytest.raises(ValueError, match=r"subset 'test': y_pred has shape \(5, 2\), expected \(5, 3\)"):
        _write(tmp_path, task="multiclass", targets=["kind"], subsets=subsets, classes=CLASSES)
    subsets = _multiclass_subsets()
    metrics = _write(tmp_path, task="multiclass", targets=["kind"], subsets=subsets, classes=CLASSES)
    path = tmp_path / "metrics.json"
    path.write_text(json.dumps({key: value for key, value in metrics.items() if key != "classes"}))
    with pytest.raises(MetricsFileError, match=r"metrics\.json: a multiclass result needs 'classes'"):
        read_metrics(path)
