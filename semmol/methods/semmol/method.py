"""SemMol as a pretraining method: the center-library objective (plus an optional InfoNCE term).

After pretraining it offers a fine-tuning head the anchor's projection and its fused soft
positive against the frozen center libraries (``finetune.mode: method``).
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from semmol.config import PretrainJob, SemanticConfig
from semmol.methods.base import Logs, LossTerms, PretrainMethod
from semmol.methods.semmol.objective import SemMolObjective
from semmol.methods.shared.contrastive import view_pairs_infonce
from semmol.models.multimodal import ModalityOutput


class SemMolHeadInput(nn.Module):
    """Frozen: ``[anchor || fused soft positive]`` (``[B, 2 dim]``) from the anchor's projection.

    Args:
        objective: the trained objective (its center libraries and temperature).
        anchor: the modality whose projection it reads.
    """

    def __init__(self, objective: SemMolObjective, *, anchor: str):
        super().__init__()
        self.objective, self.anchor = objective, anchor
        self.out_dim = 2 * objective.dim
        self.requires_grad_(False)

    def forward(self, anchor: torch.Tensor) -> torch.Tensor:
        return torch.cat([anchor, self.objective.fused_positive(anchor)], dim=1)

    def spec(self) -> dict:
        return {"objective": self.objective.spec(), "anchor": self.anchor}

    @classmethod
    def from_spec(cls, spec: dict) -> SemMolHeadInput:
        """A fresh module of ``spec``'s shape; load its state dict for the trained centers."""
        return cls(SemMolObjective.from_spec(spec["objective"]), anchor=spec["anchor"])


class SemMolMethod(PretrainMethod):
    """``SemMol(DCL + ACSM)`` (+ ``semantic.w_infonce * InfoNCE(anchor, targets)``); see
    :mod:`semmol.methods.semmol.objective`.

    The matching terms send gradient to the anchor alone; the targets' encoders learn from
    their own reconstruction terms (weighted by ``semantic.reconstruction_weights``) and,
    only with ``w_infonce > 0``, from the InfoNCE.
    """

    name = "semmol"
    options_section = "semantic"
    head_input_class = SemMolHeadInput

    def __init__(self, job: PretrainJob):
        super().__init__(job)
        self.objective = SemMolObjective(
            job.semantic,
            dim=job.model.proj_dim,
            targets=job.pretrain.targets,
            seed=job.pretrain.seed,
            total_steps=job.pretrain.steps,
        )

    @property
    def semantic(self) -> SemanticConfig:
        return self.job.semantic

    @classmethod
    def trained_views(cls, job: PretrainJob) -> list[str]:
        if job.semantic.w_infonce > 0:
            return cls.views(job)
        return [job.pretrain.anchor]

    def reconstruction_weight(self, view: str) -> float:
        return self.semantic.reconstruction_weights.get(view, 1.0)

    def forward(
        self, outputs: dict[str, ModalityOutput], keys: torch.Tensor, step: int
    ) -> tuple[LossTerms, Logs]:
        cfg = self.job.pretrain
        semantic, logs = self.objective(
            outputs[cfg.anchor].projected,
            {t: (outputs[t].projected, outputs[t].valid) for t in cfg.targets},
            keys,
            step,
        )
        terms = {"semantic": semantic}
        if self.semantic.w_infonce > 0:
            pairs = [(cfg.anchor, target) for target in cfg.targets]
            contrastive = view_pairs_infonce(outputs, pairs, temperature=cfg.temperature)
            terms["infonce"] = self.semantic.w_infonce * contrastive
        return terms, logs

    @property
    def snapshot_every(self) -> int:
        return self.semantic.snapshot_every

    def save_snapshot(self, prefix: Path) -> None:
        self.objective.save_snapshot(prefix)

    def head_input(self) -> SemMolHeadInput:
        return SemMolHeadInput(self.objective, anchor=self.job.pretrain.anchor)
