"""The fingerprint baseline: a random forest on ECFP4 bits, one forest per target.

Trained on the train subset of the same split and seed as every run, so the results table
always shows what a classical model reaches. Classification forests are fit on each task's
labelled rows and score class 1; a task whose training labels hold one class predicts that
class as a constant score. A multiclass target gets one forest over its classes, predicting
every class's probability (0 for a class absent from the training labels). Regression forests
predict in the target's units.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from rdkit import Chem
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
from tqdm import tqdm

from semmol.config import BaselineConfig, DatasetConfig, TaskType
from semmol.data.benchmark import SUBSETS, load_benchmark_split
from semmol.data.featurize import ecfp_bits
from semmol.evaluate.records import KIND_BASELINE, write_result

log = logging.getLogger(__name__)

#: Run name of the baseline in result files and the results table.
RUN_NAME = "rf_ecfp4"


class BaselineError(ValueError):
    """The baseline cannot be trained on this benchmark split."""


def ecfp_matrix(smiles: Sequence[str], *, radius: int, n_bits: int, source: str | Path) -> np.ndarray:
    """ECFP bit vectors ``[n, n_bits]`` (uint8) of canonical SMILES.

    Args:
        smiles: SMILES to featurize.
        radius: Morgan radius (2 = ECFP4).
        n_bits: fingerprint length.
        source: file the SMILES come from, named in errors.

    Raises:
        BaselineError: a SMILES does not parse.
    """
    matrix = np.zeros((len(smiles), n_bits), dtype=np.uint8)
    for index, text in enumerate(smiles):
        mol = Chem.MolFromSmiles(text)
        if mol is None:
            raise BaselineError(f"{source}: SMILES '{text}' does not parse with RDKit")
        matrix[index] = ecfp_bits(mol, radius=radius, n_bits=n_bits)
    return matrix


def _forest(task: TaskType, *, options: BaselineConfig, seed: int, threads: int):
    forest = RandomForestRegressor if task == "regression" else RandomForestClassifier
    return forest(n_estimators=options.n_estimators, random_state=seed, n_jobs=threads)


def fit_predict(
    train_x: np.ndarray,
    train_y: np.ndarray,
    inputs: dict[str, np.ndarray],
    *,
    task: TaskType,
    targets: Sequence[str],
    options: BaselineConfig,
    seed: int,
    threads: int = 1,
    classes: Sequence[str] | None = None,
) -> dict[str, np.ndarray]:
    """Fit one forest per target on its labelled training rows and predict every input.

    Args:
        train_x: training features ``[n, d]``.
        train_y: training labels ``[n, T]``, NaN where missing (multiclass: class numbers).
        inputs: feature matrices to predict, by name.
        task: 'classification' (class-1 probability), 'multiclass' (class probabilities) or
            'regression' (value).
        targets: target names, for errors and progress.
        options: forest size (``n_estimators``).
        seed: ``random_state`` of every forest.
        threads: ``n_jobs`` of every forest (default: 1).
        classes: a multiclass target's class names (needed for multiclass).

    Returns:
        Per input name, predictions ``[n, T]``; multiclass: probabilities ``[n, K]``.

    Raises:
        BaselineError: a target has no labelled training row, or a classification label is not 0/1.
    """
    if task == "multiclass" and (classes is None or len(targets) != 1):
        raise BaselineError("a multiclass forest needs one target and its class names")
    width = len(classes) if task == "multiclass" else len(targets)
    predictions = {name: np.zeros((len(x), width)) for name, x in inputs.items()}
    for column, target in enumerate(tqdm(targets, desc="random forests", unit="target")):
        labelled = ~np.isnan(train_y[:, column])
        if not labelled.any():
            raise BaselineError(f"target '{target}' has no labelled molecule in the train subset")
        labels = train_y[labelled, column]
        classes = np.unique(labels)
        if task == "classification" and not np.isin(classes, (0.0, 1.0)).all():
            raise BaselineError(f"target '{target}': classification labels must be 0 or 1, found {classes}")
        if task == "classification" and len(classes) == 1:
            log.warning(
                "target '%s': every training label is %g; predicting that constant", target, classes[0]
            )
            for name in inputs:
                predictions[name][:, column] = classes[0]
            continue
        forest = _forest(task, options=options, seed=seed, threads=threads)
        forest.fit(train_x[labelled], labels if task == "regression" else labels.astype(int))
        # Parallel prediction adds the trees' outputs in the order threads finish, which changes
        # the last bits of the sum from run to run; one thread keeps predictions reproducible.
        forest.set_params(n_jobs=1)
        for name, x in inputs.items():
            if len(x) == 0:
                continue
            if task == "multiclass":  # a class absent from the training labels keeps probability 0
                predictions[name][:, forest.classes_.astype(int)] = forest.predict_proba(x)
            elif task == "classification":
                predictions[name][:, column] = forest.predict_proba(x)[:, list(forest.classes_).index(1)]
            else:
                predictions[name][:, column] = forest.predict(x)
    return predictions


def run_baseline(
    molecules: str | Path,
    split: str | Path,
    *,
    dataset: DatasetConfig,
    options: BaselineConfig,
    benchmark: str,
    seed: int,
    out_dir: str | Path,
    threads: int = 1,
) -> dict[str, Any]:
    """Train and score the baseline on one benchmark split; write its result directory.

    Args:
        molecules: the benchmark's ``molecules.parquet``.
        split: the split JSON file.
        dataset: the benchmark's dataset config (targets, task).
        options: the baseline section of the config.
        benchmark: benchmark name recorded in the results.
        seed: random state of the forests, recorded as the result's seed.
        out_dir: result directory (``metrics.json``, ``predictions.parquet``).
        threads: CPU threads of each forest (default: 1).

    Returns:
        The metrics written to ``metrics.json``.
    """
    if dataset.task is None:
        raise BaselineError(f"benchmark '{benchmark}' has no task type; the baseline needs one")
    started = time.perf_counter()
    data = load_benchmark_split(molecules, split, targets=dataset.targets, task=dataset.task)
    if len(data["train"]) == 0:
        raise BaselineError(f"{split}: no molecule of the train subset is in {molecules}")
    features = {
        name: ecfp_matrix(
            data[name].smiles, radius=options.ecfp_radius, n_bits=options.ecfp_bits, source=molecules
        )
        for name in SUBSETS
    }
    predictions = fit_predict(
        features["train"],
        data["train"].labels,
        features,
        task=dataset.task,
        targets=dataset.targets,
        options=options,
        seed=seed,
        threads=threads,
        classes=data.classes,
    )
    metrics = write_result(
        out_dir,
        run=RUN_NAME,
        benchmark=benchmark,
        split_kind=data.kind,
        seed=seed,
        task=dataset.task,
        targets=dataset.targets,
        subsets={
            name: (data[name].rows, data[name].smiles, data[name].labels, predictions[name])
            for name in SUBSETS
        },
        missing=data.missing,
        seconds=time.perf_counter() - started,
        kind=KIND_BASELINE,
        extra={"baseline": options.model_dump(mode="json")},
        classes=data.classes,
        label_fraction=data.label_fraction,
    )
    scores = {subset: metrics[subset] for subset in SUBSETS}
    log.info("%s on %s, seed %d: %s %s", RUN_NAME, benchmark, seed, metrics["metric"], scores)
    return metrics
