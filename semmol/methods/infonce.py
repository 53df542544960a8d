"""The cross-modal contrastive baseline: InfoNCE between the anchor view and each target view."""

from __future__ import annotations

import torch

from semmol.methods.base import Logs, LossTerms, PretrainMethod
from semmol.methods.shared.contrastive import infonce_loss
from semmol.models.multimodal import ModalityOutput


def anchor_target_infonce(
    outputs: dict[str, ModalityOutput], *, anchor: str, targets: list[str], temperature: float
) -> torch.Tensor:
    """Mean over the targets of the symmetric InfoNCE between the anchor's and the target's
    projections, over the molecules that have both views."""
    terms = [
        infonce_loss(
            outputs[anchor].projected,
            outputs[target].projected,
            outputs[anchor].valid & outputs[target].valid,
            temperature=temperature,
        )
        for target in targets
    ]
    return torch.stack(terms).mean()


class InfoNCEMethod(PretrainMethod):
    """``w_contrastive * InfoNCE(anchor, targets)``: the instance-level term every SemMol row builds on."""

    name = "infonce"

    def forward(
        self, outputs: dict[str, ModalityOutput], keys: torch.Tensor, step: int
    ) -> tuple[LossTerms, Logs]:
        cfg = self.job.pretrain
        contrastive = anchor_target_infonce(
            outputs, anchor=cfg.anchor, targets=cfg.targets, temperature=cfg.temperature
        )
        return {"infonce": cfg.w_contrastive * contrastive}, {}
