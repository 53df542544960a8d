"""Memory bank: a FIFO queue of recent target features, extra negatives for the pseudo-pair loss.

Each step pushes the valid target features of the whole global batch, gathered from every
rank and sorted by molecule key, so every rank holds the same queue and one process with
batch ``G`` holds the same queue as ``W`` processes with ``G / W`` each. The molecule keys are
kept beside the features so that a molecule is never its own negative.
"""

from __future__ import annotations

import torch
from torch import nn

from semmol.methods.shared.gather import gather_rows_by_key


class MemoryBank(nn.Module):
    """A ring buffer of ``size`` feature rows and their molecule keys (buffers: saved and resumed).

    Args:
        size: rows kept, ``>= 1``.
        dim: feature size.
    """

    def __init__(self, *, size: int, dim: int):
        super().__init__()
        if size < 1:
            raise ValueError(f"memory bank size must be >= 1, got {size}")
        self.size = size
        self.register_buffer("features", torch.zeros(size, dim))
        self.register_buffer("keys", torch.full((size,), -1, dtype=torch.long))
        self.register_buffer("position", torch.tensor(0))  # next slot to write
        self.register_buffer("filled", torch.tensor(0))

    def __len__(self) -> int:
        return int(self.filled)

    def entries(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Copies of the stored ``(features [n, dim], keys [n])`` (slot order; n <= size)."""
        n = int(self.filled)
        return self.features[:n].clone(), self.keys[:n].clone()

    @torch.no_grad()
    def push(self, features: torch.Tensor, keys: torch.Tensor, valid: torch.Tensor) -> None:
        """Enqueue the valid rows of the global batch, dropping the oldest rows when full.

        A collective: every rank calls it once per step with its own rows.

        Args:
            features: ``[B, dim]`` this rank's features.
            keys: ``[B]`` int64 molecule keys.
            valid: ``[B]`` bool; invalid rows are not enqueued.
        """
        rows, row_keys = gather_rows_by_key(features, keys, valid)
        rows, row_keys = rows[-self.size :], row_keys[-self.size :]  # more than fits: keep the newest
        slots = (int(self.position) + torch.arange(rows.shape[0], device=self.keys.device)) % self.size
        self.features[slots] = rows.to(self.features.device)
        self.keys[slots] = row_keys.to(self.keys.device)
        self.position.fill_((int(self.position) + rows.shape[0]) % self.size)
        self.filled.fill_(min(self.size, int(self.filled) + rows.shape[0]))
