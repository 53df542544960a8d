"""What a pretraining method is to the loops: the views it needs, its loss, its state.

A method is an ``nn.Module`` built from the run's :class:`~semmol.config.PretrainJob`. The
pretraining loop (:mod:`semmol.train.pretrain`) encodes a batch with the shared encoders
(:class:`~semmol.models.multimodal.MultiModalEncoder`) of :attr:`PretrainMethod.modalities`,
adds the encoders' own reconstruction terms, and asks the method for the rest of the loss;
it never names a method. Everything a method learns or remembers is in its ``state_dict``
(parameters, and buffers such as center libraries and memory banks), so checkpoints and the
pretrained ``model.pt`` carry it without the loop knowing what it is.

Distributed training: the method lives outside ``DistributedDataParallel``; the loop averages
its parameters' gradients over ranks after the backward pass. A method's loss terms follow
the ``global_mean`` convention (each rank's share of a mean over the global batch) and its
buffers must be updated from all-reduced statistics, so that ``W`` processes with batch
``G / W`` follow the curve of one process with batch ``G``.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import torch
from torch import nn

from semmol.config import PretrainJob
from semmol.models.multimodal import ModalityOutput

#: Named loss terms (each a scalar in the graph) and named log values (floats, equal on every rank).
LossTerms = dict[str, torch.Tensor]
Logs = dict[str, float]


class PretrainMethod(nn.Module):
    """Base class of the pretraining methods; see the module docstring.

    Args:
        job: the run's model, pretraining and method options.
    """

    #: The name ``pretrain.method`` selects it by.
    name: ClassVar[str]
    #: The config section of the method's own options (``semantic``, ``mmsa``), or ``None``; a
    #: run's pretraining depends on this section and on no other method's.
    options_section: ClassVar[str | None] = None
    #: The class of the frozen input this method offers a fine-tuning head
    #: (``finetune.mode: method``); ``None`` when it offers none.
    head_input_class: ClassVar[type[nn.Module] | None] = None

    def __init__(self, job: PretrainJob):
        super().__init__()
        self.job = job

    @classmethod
    def views(cls, job: PretrainJob) -> list[str]:
        """The views the encoders must produce for ``job``: the anchor, then the targets."""
        return [job.pretrain.anchor, *job.pretrain.targets]

    @property
    def modalities(self) -> list[str]:
        return self.views(self.job)

    @classmethod
    def trained_views(cls, job: PretrainJob) -> list[str]:
        """The views whose encoders the method's own terms send gradient to (the encoders'
        reconstruction terms aside); by default every view it encodes."""
        return cls.views(job)

    @property
    def token_views(self) -> list[str]:
        """Text views whose projected token states the method reads (``projected_tokens``): none."""
        return []

    def reconstruction_weight(self, view: str) -> float:
        """Factor on ``view``'s own reconstruction term (times ``pretrain.w_reconstruction``): 1."""
        return 1.0

    def forward(
        self, outputs: dict[str, ModalityOutput], keys: torch.Tensor, step: int
    ) -> tuple[LossTerms, Logs]:
        """The method's loss terms of one step (a collective: every rank calls it once per step).

        Args:
            outputs: per modality of :attr:`modalities`, the encoders' output on this rank's rows.
            keys: ``[B]`` int64 molecule keys of the rows.
            step: the optimizer step (0-based).
        """
        raise NotImplementedError

    @property
    def snapshot_every(self) -> int | None:
        """Steps between :meth:`save_snapshot` calls during training; ``None``: the method keeps none."""
        return None

    def save_snapshot(self, prefix: Path) -> None:
        """Write what the method wants inspected later (e.g. center libraries) to ``prefix.*``."""

    def head_input(self) -> nn.Module:
        """The frozen fine-tuning input of a trained method (see :attr:`head_input_class`).

        Raises:
            ValueError: the method offers none.
        """
        raise ValueError(f"pretraining method '{self.name}' offers no fine-tuning head input")
