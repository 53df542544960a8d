"""The cross-modal contrastive baseline: InfoNCE between the anchor view and each target view."""

from __future__ import annotations

import torch

from semmol.methods.base import Logs, LossTerms, PretrainMethod
from semmol.methods.shared.contrastive import view_pairs_infonce
from semmol.models.multimodal import ModalityOutput


class InfoNCEMethod(PretrainMethod):
    """``w_contrastive * InfoNCE(anchor, targets)``: the instance-level term every SemMol row builds on."""

    name = "infonce"

    def forward(
        self, outputs: dict[str, ModalityOutput], keys: torch.Tensor, step: int
    ) -> tuple[LossTerms, Logs]:
        cfg = self.job.pretrain
        pairs = [(cfg.anchor, target) for target in cfg.targets]
        contrastive = view_pairs_infonce(outputs, pairs, temperature=cfg.temperature)
        return {"infonce": cfg.w_contrastive * contrastive}, {}
