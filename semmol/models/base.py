"""What every modality encoder returns."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class EncoderOutput:
    """One modality's view of a batch of ``B`` molecules.

    Attributes:
        hidden: ``[B, dim]`` pooled representation (zeros where not ``valid``).
        valid: ``[B]`` bool, whether the molecule has this view (e.g. a 3D conformer).
        reconstruction_loss: the encoder's self-supervised loss on corrupted input (this
            rank's share of a global-batch mean), or ``None`` when no corruption was asked for.
        tokens: ``[B, L, dim]`` token states of a sequence encoder (text), else ``None``.
        token_valid: ``[B, L]`` bool, false at padding (with ``tokens``).
    """

    hidden: torch.Tensor
    valid: torch.Tensor
    reconstruction_loss: torch.Tensor | None = None
    tokens: torch.Tensor | None = None
    token_valid: torch.Tensor | None = None
