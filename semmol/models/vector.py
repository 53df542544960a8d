"""Encoders of per-molecule vectors stored in the shards: ECFP bits and RDKit descriptors."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch_geometric.data import Batch

from semmol.config import VectorEncoderConfig
from semmol.models.base import EncoderOutput
from semmol.models.corruption import CorruptionKey
from semmol.models.layers import mlp

#: Largest magnitude of a standardized feature.
CLIP = 6.0


def scaling(mean: np.ndarray, std: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """``float32`` shift and scale of a standardization from features' mean and standard
    deviation; a constant feature keeps scale 1 (it then standardizes to 0)."""
    std = torch.as_tensor(np.asarray(std, dtype=np.float64))
    std = torch.where(std > 1e-6, std, torch.ones_like(std))
    return torch.as_tensor(np.asarray(mean, dtype=np.float64)).float(), std.float()


def standardize(x: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """``x`` shifted and scaled by :func:`scaling`'s statistics, clipped to ``[-CLIP, CLIP]``."""
    return ((x - mean) / std).clamp(-CLIP, CLIP)


class VectorMLP(nn.Module):
    """MLP over ``batch.<field>`` ``[B, width]`` -> ``hidden`` ``[B, dim]``. No reconstruction loss.

    With ``standardize``, each input feature is shifted and scaled by statistics fitted on
    training data (:meth:`fit_input_scaling`: the corpus for pretraining, the train subset for
    a fine-tuning from scratch) and clipped to ``[-CLIP, CLIP]``; the statistics are buffers, so
    a saved model carries them to prediction.

    Args:
        cfg: the encoder's options (dim, layers, dropout).
        field: the batch attribute holding the vector (``"ecfp"``, ``"descriptors"``).
        width: the vector's length.
        standardize: standardize the input (real-valued features of mixed scale); default False.
    """

    def __init__(self, cfg: VectorEncoderConfig, *, field: str, width: int, standardize: bool = False):
        super().__init__()
        self.dim, self.field, self.standardize = cfg.dim, field, standardize
        if standardize:
            self.register_buffer("input_mean", torch.zeros(width))
            self.register_buffer("input_std", torch.ones(width))
        self.net = mlp(width, cfg.dim, cfg.dim, layers=max(1, cfg.layers), dropout=cfg.dropout)

    def fit_input_scaling(self, features: np.ndarray) -> None:
        """Set the standardization from training inputs ``[n, width]``."""
        values = np.asarray(features, dtype=np.float64)
        self.set_input_scaling(values.mean(axis=0), values.std(axis=0, ddof=1))

    @torch.no_grad()
    def set_input_scaling(self, mean: np.ndarray, std: np.ndarray) -> None:
        """Set the standardization from the training inputs' mean and standard deviation."""
        if not self.standardize:
            return
        mean, std = scaling(mean, std)
        self.input_mean.copy_(mean)
        self.input_std.copy_(std)

    def forward(self, batch: Batch, corrupt: CorruptionKey | None = None) -> EncoderOutput:
        x = getattr(batch, self.field)
        if self.standardize:
            x = standardize(x, self.input_mean, self.input_std)
        hidden = self.net(x)
        valid = torch.ones(hidden.shape[0], dtype=torch.bool, device=hidden.device)
        return EncoderOutput(hidden=hidden, valid=valid)
