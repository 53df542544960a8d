from __future__ import annotations

import json
import math

import numpy as np
import polars as pl
import pytest
from rdkit import Chem, RDLogger

from semmol.config import BaselineConfig, DatasetConfig
from semmol.evaluate.baseline import RUN_NAME, BaselineError, fit_predict, run_baseline

ESOL_TARGET = "measured log solubility in mols per litre"
OPTIONS = BaselineConfig(n_estimators=50, ecfp_radius=2, ecfp_bits=1024)


def _benchmark(directory, csv_path, *, targets: list[str], n_rows: int):
    """``molecules.parquet`` of the first records of a MoleculeNet CSV (unparsable ones rejected, as
    standardization does) and a split file over every record: rows ending in 8 valid, 9 test."""
    RDLogger.DisableLog("rdApp.*")
    source = pl.read_csv(csv_path, n_rows=n_rows, infer_schema=False)
    records = []
    for row, record in enumerate(source.iter_rows(named=True)):
        mol = Chem.MolFromSmiles(record["smiles"])
        if mol is None:
            continue
        labels = {t: float(record[t]) if record[t] not in (None, "") else math.nan for t in targets}
        canonical = Chem.MolToSmiles(mol)
        records.append({"row": row, "smiles_input": record["smiles"], "smiles": canonical, **labels})
    directory.mkdir(parents=True, exist_ok=True)
    molecules, split = directory / "molecules.parquet", directory / "split.json"
    pl.DataFrame(records).with_columns(duplicate_of=pl.lit(None, pl.Int64)).write_parquet(molecules)
    subsets = {"train": [], "valid": [], "test": []}
    for row in range(n_rows):
        subsets["valid" if row % 10 == 8 else "test" if row % 10 == 9 else "train"].append(row)
    split.write_text(json.dumps({"kind": "random", "seed": 0, "fractions": [0.8, 0.1, 0.1], **subsets}))
    return molecules, split


def _dataset(targets: list[str], task: str) -> DatasetConfig:
    return DatasetConfig.model_validate(
        {"source": {"kind": "local", "path": "unused"}, "targets": targets, "task": task}
    )


@pytest.fixture(scope="module")
def bbbp(moleculenet_dir, tmp_path_factory):
    directory = tmp_path_factory.mktemp("bbbp")
    return _benchmark(directory, moleculenet_dir / "bbbp.csv", targets=["p_np"], n_rows=300)


def test_classification_baseline_end_to_end_and_seeded(bbbp, tmp_path):
    molecules, split = bbbp
    options = dict(dataset=_dataset(["p_np"], "classification"), options=OPTIONS, benchmark="bbbp", threads=2)
    first = run_baseline(molecules, split, seed=1, out_dir=tmp_path / "a", **options)
    again = run_baseline(molecules, split, seed=1, out_dir=tmp_path / "b", **options)
    other = run_baseline(molecules, split, seed=2, out_dir=tmp_path / "c", **options)

    identity = (first["run"], first["kind"], first["split"], first["metric"])
    assert identity == (RUN_NAME, "baseline", "random", "roc_auc")
    assert 0.5 < first["train"] <= 1.0
    assert all(0.0 <= first[subset] <= 1.0 for subset in ("valid", "test"))
    # Source rows 59 and 61 of bbbp.csv do not parse: one test, one train molecule missing.
    assert first["missing"] == {"train": 1, "valid": 0, "test": 1}
    assert first["n"] == {"train": 239, "valid": 30, "test": 29}
    assert first["baseline"] == OPTIONS.model_dump()
    keep = ["row", "subset", "smiles", "p_np", "p_np__pred"]
    predictions = [pl.read_parquet(tmp_path / name / "predictions.parquet") for name in "abc"]
    assert predictions[0].columns == keep
    assert predictions[0].equals(predictions[1])
    assert all(first[subset] == again[subset] for subset in ("train", "valid", "test"))
    assert not predictions[0]["p_np__pred"].equals(predictions[2]["p_np__pred"])  # the seed is used
    assert other["seed"] == 2


def test_regression_baseline_predicts_in_target_units(moleculenet_dir, tmp_path):
    csv_path = moleculenet_dir / "esol.csv"
    molecules, split = _benchmark(tmp_path / "esol", csv_path, targets=[ESOL_TARGET], n_rows=200)
    metrics = run_baseline(
        molecules,
        split,
        dataset=_dataset([ESOL_TARGET], "regression"),
        options=OPTIONS,
        benchmark="esol",
        seed=0,
        out_dir=tmp_path / "out",
    )
    labels = pl.read_parquet(molecules)[ESOL_TARGET].to_numpy()
    assert metrics["metric"] == "rmse" and metrics["higher_is_better"] is False
    assert 0.0 < metrics["train"] < labels.std()  # a forest fits its training set
    assert math.isfinite(metrics["test"]) and math.isfinite(metrics["valid"])
    predictions = pl.read_parquet(tmp_path / "out" / "predictions.parquet")
    predicted = predictions[f"{ESOL_TARGET}__pred"].to_numpy()
    assert labels.min() <= predicted.min() and predicted.max() <= labels.max()  # averages of training labels


def test_multitask_forests_mask_missing_labels_and_keep_single_class_constant():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 2, (60, 64)).astype(np.uint8)
    y = np.stack([x[:, 0].astype(float), np.zeros(60)], axis=1)
    y[::3, 0] = np.nan
    inputs = {"train": x, "empty": x[:0]}
    targets = ["bit0", "never"]
    predictions = fit_predict(x, y, inputs, task="classification", targets=targets, options=OPTIONS, seed=0)
    train = predictions["train"]
    assert train.shape == (60, 2) and predictions["empty"].shape == (0, 2)
    assert (train[:, 1] == 0.0).all()
    labelled = ~np.isnan(y[:, 0])
    assert ((train[labelled, 0] > 0.5) == (y[labelled, 0] == 1)).all()


def test_target_without_training_labels_is_an_error():
    x = np.ones((4, 8), dtype=np.uint8)
    y = np.array([[1.0, np.nan], [0.0, np.nan], [1.0, np.nan], [0.0, np.nan]])
    targets = ["a", "b"]
    with pytest.raises(BaselineError, match="target 'b' has no labelled molecule in the train subset"):
        fit_predict(x, y, {"train": x}, task="regression", targets=targets, options=OPTIONS, seed=0)
    with pytest.raises(BaselineError, match="target 'a': classification labels must be 0 or 1"):
        fit_predict(x, 2 * y, {"train": x}, task="classification", targets=targets, options=OPTIONS, seed=0)


def test_a_multiclass_forest_predicts_every_class_probability():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 2, (80, 64)).astype(np.uint8)
    y = (x[:, 0] + 2.0 * x[:, 1])[:, None]  # classes 0..3 from two bits; class 4 is never seen in training
    y[::5] = np.nan
    classes = ["a", "b", "c", "d", "unseen"]
    inputs = {"train": x, "empty": x[:0]}
    predictions = fit_predict(
        x, y, inputs, task="multiclass", targets=["k"], options=OPTIONS, seed=0, classes=classes
    )
    train = predictions["train"]
    assert train.shape == (80, 5) and predictions["empty"].shape == (0, 5)
    np.testing.assert_allclose(train.sum(axis=1), 1.0)
    assert (train[:, 4] == 0.0).all()  # a class absent from the training labels
    labelled = ~np.isnan(y[:, 0])
    assert (train[labelled].argmax(axis=1) == y[labelled, 0]).all()
    with pytest.raises(BaselineError, match="needs one target and its class names"):
        fit_predict(x, y, {"train": x}, task="multiclass", targets=["k"], options=OPTIONS, seed=0)
