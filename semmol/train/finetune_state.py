"""Where a fine-tuning run stands between epochs, and the checkpoint that lets a killed run resume.

:class:`FinetuneProgress` is early stopping's bookkeeping: the epochs done, their history, the
best validation epoch and its weights. :class:`FinetuneCheckpoint` saves it after every epoch to
``{out_dir}/_ckpt/last.pt`` with the model, optimizer, scheduler and random streams, atomically;
a re-run of the same job continues after the last completed epoch and ends, on the CPU, with the
weights and metrics of a run that was never killed. Like pretraining's ``_ckpt/``, the folder is
not a declared output, so Snakemake leaves it when it re-runs a killed job. Unlike pretraining's,
it is deleted once the job's outputs are written: a workflow holds a fine-tuning job per run,
benchmark, split and seed, and each checkpoint is several times the size of its model.
"""

from __future__ import annotations

import copy
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import torch
from torch import nn

from semmol.runtime.atomic import file_sha256
from semmol.runtime.checkpoint import load_if_exists, rng_state, save_atomic, set_rng_state

log = logging.getLogger(__name__)

#: The checkpoint, relative to the job's result directory.
CHECKPOINT = "_ckpt/last.pt"
#: The layout of what a checkpoint holds; a change makes older checkpoints start afresh, not fail.
CHECKPOINT_FORMAT = 1


@dataclass
class FinetuneProgress:
    """Epochs done and early stopping's state.

    Args:
        higher_is_better: whether a larger validation score is better (ROC-AUC) or not (RMSE).
        patience: epochs without a better validation score after which training stops.
        max_epochs: epochs at most.
    """

    higher_is_better: bool
    patience: int
    max_epochs: int
    epoch: int = 0
    history: list[dict[str, float]] = field(default_factory=list)
    best_score: float | None = None
    best_epoch: int = 0
    best_weights: dict[str, torch.Tensor] | None = None
    waited: int = 0

    @property
    def done(self) -> bool:
        """Every epoch run, or ``patience`` epochs in a row without improvement."""
        return self.epoch >= self.max_epochs or self.waited >= self.patience

    def better(self, score: float) -> bool:
        """Whether a validation score beats the best so far (a NaN score never does)."""
        if math.isnan(score):
            return False
        if self.best_score is None:
            return True
        return score > self.best_score if self.higher_is_better else score < self.best_score

    def record(self, *, train_loss: float, valid: float, model: nn.Module) -> None:
        """Count one more epoch; keep a copy of the model's weights when it is the best so far
        (or the first: a run whose every score is NaN still ends with some weights).

        Args:
            train_loss: the epoch's mean training loss.
            valid: the validation score after the epoch.
            model: the model trained.
        """
        self.epoch += 1
        self.history.append({"epoch": self.epoch, "train_loss": train_loss, "valid": valid})
        if self.better(valid) or self.best_weights is None:
            self.best_score, self.best_epoch, self.waited = valid, self.epoch, 0
            self.best_weights = copy.deepcopy(model.state_dict())
        else:
            self.waited += 1

    def state_dict(self) -> dict[str, Any]:
        """What a checkpoint keeps of it (tensors and plain data)."""
        return {
            "epoch": self.epoch,
            "history": self.history,
            "best_score": self.best_score,
            "best_epoch": self.best_epoch,
            "best_weights": self.best_weights,
            "waited": self.waited,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from what :meth:`state_dict` returned.

        Args:
            state: a dict from :meth:`state_dict`.
        """
        for name in self.state_dict():
            setattr(self, name, state[name])


class Stateful(Protocol):
    """A part of the loop with a state: a module, an optimizer, a scheduler, the progress."""

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> Any: ...


def resume_key(job: dict, *, seed: int, inputs: dict[str, Path | None]) -> dict[str, Any]:
    """What a checkpoint must share with a job to be resumed by it: the checkpoint's format, the
    job's options, the seed, and the checksums of its input files (a split or pretrained model
    made again differs).

    Args:
        job: the fine-tuning job, as JSON-able data.
        seed: the fine-tuning seed.
        inputs: name -> input file, or ``None`` for an input the job does without (no
            pretrained model).
    """
    return {
        "format": CHECKPOINT_FORMAT,
        "job": job,
        "seed": seed,
        "inputs": {name: None if path is None else file_sha256(path) for name, path in inputs.items()},
    }


class FinetuneCheckpoint:
    """The checkpoint of one fine-tuning job.

    Args:
        path: the checkpoint file (``{out_dir}/`` :data:`CHECKPOINT`).
        key: the job's :func:`resume_key`.
        parts: name -> everything with a state that the loop changes (model, optimizer,
            scheduler, :class:`FinetuneProgress`), saved and restored in place.
    """

    def __init__(self, path: Path, *, key: dict[str, Any], parts: dict[str, Stateful]):
        self.path, self.key, self.parts = Path(path), key, parts

    def save(self) -> None:
        """Write the parts' state, the random streams and the key, atomically."""
        state = {name: part.state_dict() for name, part in self.parts.items()}
        save_atomic({"key": self.key, "rng": rng_state(), "parts": state}, self.path)

    def resume(self) -> bool:
        """Restore the parts and random streams from the checkpoint, if there is one of this job;
        True when the run continues from it.

        A checkpoint with another key (the options or inputs changed, and Snakemake re-runs
        the job) is not resumed: the run starts afresh and replaces it after its first epoch.
        """
        checkpoint = load_if_exists(self.path)
        if checkpoint is None:
            return False
        if checkpoint["key"] != self.key:
            log.warning("%s was written with other options or inputs; starting afresh", self.path)
            return False
        for name, part in self.parts.items():
            part.load_state_dict(checkpoint["parts"][name])
        set_rng_state(checkpoint["rng"])
        return True

    def remove(self) -> None:
        """Delete the checkpoint, and its folder when nothing else is in it."""
        self.path.unlink(missing_ok=True)
        if self.path.parent.is_dir() and not any(self.path.parent.iterdir()):
            self.path.parent.rmdir()
