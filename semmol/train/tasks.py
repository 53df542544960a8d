"""What fine-tuning does differently per task type: the head's width, the labels, the loss.

classification
    One logit per target; binary cross-entropy over the labelled entries only (missing labels,
    as in Tox21, are masked).
multiclass
    One target of K classes: K logits, a softmax over them, cross-entropy over the labelled
    molecules; the labels are class numbers 0..K-1 (:mod:`semmol.data.classes`).
regression
    One value per target, learnt standardised with the training mean and std (mean squared
    error), reported in the original units.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from semmol.data.benchmark import BenchmarkSplit
from semmol.methods.property import to_target_units


def head_width(task: str, *, n_targets: int, classes: list[str] | None) -> int:
    """Outputs of the head: one per class of a multiclass target, else one per target.

    Args:
        task: the dataset's task.
        n_targets: number of targets.
        classes: a multiclass target's class names (``None`` for the other tasks).
    """
    if task == "multiclass":
        if classes is None or n_targets != 1:
            raise ValueError("a multiclass head needs one target and its class names")
        return len(classes)
    return n_targets


class TaskLabels:
    """Labels by ``mol_index``, standardised for regression (train mean/std).

    Args:
        split: the benchmark split (every subset's labels are stored).
        n_molecules: rows of the label table (the largest ``mol_index`` + 1).
        task: the dataset's task.
    """

    def __init__(self, split: BenchmarkSplit, *, n_molecules: int, task: str):
        n_tasks = len(split.targets)
        self.task = task
        self.table = torch.full((n_molecules, n_tasks), math.nan)
        for subset in split.subsets.values():
            self.table[torch.as_tensor(subset.mol_index)] = torch.as_tensor(
                subset.labels, dtype=torch.float32
            )
        train = split["train"].labels
        self.mean = torch.zeros(n_tasks)
        self.std = torch.ones(n_tasks)
        if task == "regression":
            self.mean = torch.as_tensor(np.nanmean(train, axis=0), dtype=torch.float32)
            self.std = torch.as_tensor(np.nanstd(train, axis=0), dtype=torch.float32).clamp_min(1e-6)

    def of(self, mol_index: torch.Tensor) -> torch.Tensor:
        """Training targets of a batch, on the batch's device."""
        return ((self.table[mol_index.cpu()] - self.mean) / self.std).to(mol_index.device)

    def to_output(self, raw: torch.Tensor) -> torch.Tensor:
        """Model outputs -> class-1 probabilities, class probabilities or values in the targets'
        units (on the CPU)."""
        return to_target_units(raw, task=self.task, mean=self.mean, std=self.std)


def masked_loss(raw: torch.Tensor, target: torch.Tensor, *, task: str) -> torch.Tensor:
    """The task's loss over the labelled entries of a batch (zero, with a gradient, when none is).

    Args:
        raw: the head's outputs ``[B, width]``.
        target: :meth:`TaskLabels.of` of the batch, ``[B, n_targets]``, NaN where missing.
        task: the dataset's task.
    """
    labelled = ~torch.isnan(target)
    if not labelled.any():
        return raw.sum() * 0.0
    if task == "multiclass":
        rows = labelled[:, 0]
        return nn.functional.cross_entropy(raw[rows], target[rows, 0].long())
    if task == "regression":
        return nn.functional.mse_loss(raw[labelled], target[labelled])
    return nn.functional.binary_cross_entropy_with_logits(raw[labelled], target[labelled])
