"""Property prediction: encoders of the chosen modalities, their fusion, and a task head."""

from __future__ import annotations

import torch
from torch import nn
from torch_geometric.data import Batch

from semmol.models.layers import mlp
from semmol.models.multimodal import MultiModalEncoder
from semmol.semantic.objective import SemMolObjective


class PropertyModel(nn.Module):
    """Concatenation fusion of per-modality representations, then an MLP head.

    A molecule without a view (no conformer) gets a learned "missing" vector for it. In the
    SemMol fine-tuning mode the head also sees the anchor's projection and its fused soft
    positive against the frozen pretrained center libraries: ``[... || anchor || positive]``.

    Args:
        encoder: encoders of (at least) ``modalities``.
        modalities: views fused by the head.
        n_tasks: outputs (targets).
        head_hidden: hidden size of the head.
        dropout: dropout of the head.
        objective: pretrained SemMol objective (center libraries) for the SemMol mode;
            default none (plain encoder fine-tuning).
        anchor: the anchor modality of ``objective``; default none.
    """

    def __init__(
        self,
        encoder: MultiModalEncoder,
        *,
        modalities: list[str],
        n_tasks: int,
        head_hidden: int,
        dropout: float,
        objective: SemMolObjective | None = None,
        anchor: str | None = None,
    ):
        super().__init__()
        self.encoder, self.modalities = encoder, list(modalities)
        self.objective, self.anchor = objective, anchor
        if objective is not None:
            objective.requires_grad_(False)  # frozen centers (and temperature)
        dims = {m: encoder.encoders[m].dim for m in self.modalities}
        self.missing = nn.ParameterDict({m: nn.Parameter(torch.zeros(d)) for m, d in dims.items()})
        width = sum(dims.values()) + (2 * encoder.cfg.proj_dim if objective is not None else 0)
        self.head = mlp(width, head_hidden, n_tasks, layers=2, dropout=dropout)

    def used_modalities(self) -> list[str]:
        return list(dict.fromkeys(self.modalities + ([self.anchor] if self.objective is not None else [])))

    def forward(self, batch: Batch) -> torch.Tensor:
        """Logits (classification) or standardised values (regression), ``[B, n_tasks]``."""
        outputs = self.encoder(batch, modalities=self.used_modalities())
        features = [
            torch.where(
                outputs[m].valid.unsqueeze(1), outputs[m].hidden, self.missing[m].expand_as(outputs[m].hidden)
            )
            for m in self.modalities
        ]
        if self.objective is not None:
            anchor = outputs[self.anchor].projected
            features += [anchor, self.objective.fused_positive(anchor)]
        return self.head(torch.cat(features, dim=1))
