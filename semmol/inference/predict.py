"""Predictions of fine-tuned models on new molecules, alone or as a seed ensemble.

Each model file is self-contained (:meth:`semmol.methods.property.PropertyModel.save`): its
architecture, weights, targets, task, class names, label scaling and featurization. Several
models of one benchmark (e.g. its fine-tuning seeds) give the mean of their predictions and
the spread; for a multiclass target, of each class's probability, and the predicted class is
the most probable one under that mean.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl
import torch

from semmol.config import ConformerConfig, StandardizeConfig
from semmol.data.classes import probability_column
from semmol.data.reader import make_loader
from semmol.inference.molecules import PreparedMolecules, prepare_molecules
from semmol.methods.property import PropertyModel, to_target_units
from semmol.runtime.precision import default_device

log = logging.getLogger(__name__)

#: Suffixes of the prediction columns: the ensemble mean (or the one model's value) and the
#: spread over the models (standard deviation, only with several models).
PRED_SUFFIX, STD_SUFFIX = "__pred", "__std"


def model_file(path: str | Path) -> Path:
    """``path`` itself, or the ``model.pt`` inside a result directory."""
    path = Path(path)
    return path / "model.pt" if path.is_dir() else path


@dataclass
class Predictor:
    """A fine-tuned model and what it needs to predict."""

    path: Path
    model: PropertyModel
    metadata: dict

    @classmethod
    def load(cls, path: str | Path) -> Predictor:
        """A fine-tuned model from a ``model.pt`` or a ``results/finetune/...`` directory."""
        file = model_file(path)
        model, metadata = PropertyModel.load(file)
        return cls(path=file, model=model, metadata=metadata)

    @property
    def targets(self) -> list[str]:
        return self.metadata["targets"]

    @property
    def classes(self) -> list[str] | None:
        """A multiclass model's class names, in the order of its outputs (``None`` otherwise)."""
        return self.metadata.get("classes")  # absent from models of other tasks written before multiclass

    @property
    def modalities(self) -> list[str]:
        """The views the model reads."""
        return self.model.used_modalities()

    @torch.no_grad()
    def predict(self, prepared: PreparedMolecules, *, batch_size: int) -> np.ndarray:
        """``[usable inputs, targets]``: class-1 probabilities or values in the targets' units;
        ``[usable inputs, classes]`` class probabilities for a multiclass model."""
        device = default_device()
        self.model.to(device).eval()
        task = self.metadata["task"]
        mean, std = torch.tensor(self.metadata["label_mean"]), torch.tensor(self.metadata["label_std"])
        loader = make_loader(prepared.dataset, batch_size=batch_size, shuffle=False)
        outputs = [
            to_target_units(self.model(batch.to(device)), task=task, mean=mean, std=std) for batch in loader
        ]
        return torch.cat(outputs).numpy().astype(np.float64)


def check_ensemble(predictors: list[Predictor]) -> None:
    """Models predicted together must agree on targets, task, classes and featurization.

    Raises:
        ValueError: naming the first model that differs.
    """
    first = predictors[0]
    for other in predictors[1:]:
        for key in ("targets", "task", "classes", "featurization"):
            if other.metadata.get(key) != first.metadata.get(key):
                raise ValueError(
                    f"{other.path}: its '{key}' differs from {first.path}'s ({other.metadata.get(key)!r} vs "
                    f"{first.metadata.get(key)!r}); an ensemble needs models of one benchmark and "
                    "featurization"
                )


def predict_smiles(
    predictors: list[Predictor], smiles: list[str | None], *, threads: int = 1, batch_size: int = 64
) -> pl.DataFrame:
    """One row per input: canonical SMILES, each target's prediction (and spread), status, reason.

    Args:
        predictors: one model, or several of one benchmark (a seed ensemble).
        smiles: the input SMILES, in order.
        threads: worker processes of the featurization; default 1.
        batch_size: molecules per forward pass; default 64.

    Returns:
        Columns ``smiles_canonical``, ``<target>__pred`` (mean over the models), with several
        models ``<target>__std``, then ``status`` (``ok``, ``no_3d`` or ``rejected``) and
        ``reason``. A multiclass target has ``<target>__pred``, the name of the most probable
        class, then per class ``<target>__prob_<class>`` (mean over the models; with several
        models also ``<target>__prob_<class>__std``). Rejected inputs have null predictions.
    """
    check_ensemble(predictors)
    started = time.perf_counter()
    featurization = predictors[0].metadata["featurization"]
    prepared = prepare_molecules(
        smiles,
        standardize=StandardizeConfig.model_validate(featurization["standardize"]),
        conformers=ConformerConfig.model_validate(featurization["conformers"]),
        modalities=list(dict.fromkeys(m for predictor in predictors for m in predictor.modalities)),
        threads=threads,
    )
    classes = predictors[0].classes
    per_model = []
    for predictor in predictors:
        values = np.full((len(smiles), len(classes or predictor.targets)), np.nan)
        if prepared.dataset is not None:
            values[prepared.usable] = predictor.predict(prepared, batch_size=batch_size)
        per_model.append(values)
    stacked = np.stack(per_model)  # [models, inputs, targets or classes]
    columns: dict[str, object] = {"smiles_canonical": prepared.canonical}
    usable = np.array([position is not None for position in prepared.positions])
    if classes is None:
        value_columns = [target + PRED_SUFFIX for target in predictors[0].targets]
    else:
        (target,) = predictors[0].targets
        best = stacked.mean(axis=0).argmax(axis=1)
        columns[target + PRED_SUFFIX] = pl.Series([classes[k] for k in best], dtype=pl.Utf8).scatter(
            np.flatnonzero(~usable), None
        )
        value_columns = [probability_column(target, name) for name in classes]
    for k, column in enumerate(value_columns):
        columns[column] = _nullable(stacked[:, :, k].mean(axis=0), usable)
        if len(predictors) > 1:
            spread = column.removesuffix(PRED_SUFFIX) + STD_SUFFIX  # <target>__std, <target>__prob_<c>__std
            columns[spread] = _nullable(stacked[:, :, k].std(axis=0), usable)
    columns["status"], columns["reason"] = prepared.status, prepared.reason
    seconds = time.perf_counter() - started
    log.info(
        "%d molecules x %d models in %.1f s (%.1f molecules/s)",
        len(smiles),
        len(predictors),
        seconds,
        len(smiles) / max(seconds, 1e-9),
    )
    return pl.DataFrame(columns, schema_overrides={"reason": pl.Utf8, "smiles_canonical": pl.Utf8})


def _nullable(values: np.ndarray, usable: np.ndarray) -> pl.Series:
    """Values as a float column, null where the input was rejected."""
    return pl.Series(values.astype(np.float64)).scatter(np.flatnonzero(~usable), None)
