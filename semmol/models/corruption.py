"""Random corruption (masking, coordinate noise) keyed by molecule, not by batch.

A random draw for "token 7 of molecule 1234 at step 50" is a hash of those numbers, so it is
the same whichever rank, batch layout or padding the molecule meets. This is what lets one
process with batch ``G`` and two processes with ``G / 2`` each compute the same losses.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

_MASK32 = 0xFFFFFFFF
# Multipliers below 2**31 keep every product of a 32-bit value inside int64.
_M1, _M2, _M3 = 0x7FEB352D, 0x68E31DA4, 0x5BD1E995


def _mix(x: torch.Tensor) -> torch.Tensor:
    """A 32-bit integer hash (xorshift-multiply rounds) of an int64 tensor of 32-bit values."""
    x = x & _MASK32
    x = ((x ^ (x >> 16)) * _M1) & _MASK32
    x = ((x ^ (x >> 15)) * _M2) & _MASK32
    x = ((x ^ (x >> 16)) * _M3) & _MASK32
    return x ^ (x >> 15)


@dataclass(frozen=True)
class CorruptionKey:
    """The seed and step that, with molecule and position, determine every random draw.

    Args:
        seed: the run's seed.
        step: the optimizer step (a new draw each step).
    """

    seed: int
    step: int

    def uniform(self, stream: int, mol_index: torch.Tensor, position: torch.Tensor) -> torch.Tensor:
        """Uniform numbers in ``[0, 1)``, one per element of the (broadcast) ``mol_index`` and ``position``.

        Args:
            stream: which kind of draw (distinct per use, so draws are independent).
            mol_index: int64 molecule ids.
            position: int64 position inside the molecule (token, atom, atom * 3 + axis).
        """
        h = _mix(torch.full_like(mol_index, (self.seed * 1_000_003 + stream) & _MASK32))
        h = _mix(h ^ (self.step & _MASK32))
        h = _mix(h ^ (mol_index & _MASK32))
        h = _mix(h ^ (position & _MASK32))
        # The top 24 bits: float32 holds them exactly, so no draw rounds up to 1.
        return (h >> 8).to(torch.float32) / 2.0**24

    def normal(self, stream: int, mol_index: torch.Tensor, position: torch.Tensor) -> torch.Tensor:
        """Standard normal numbers (Box-Muller over two uniform draws per position, same stream)."""
        u1 = self.uniform(stream, mol_index, 2 * position).clamp_min(1e-7)
        u2 = self.uniform(stream, mol_index, 2 * position + 1)
        return torch.sqrt(-2.0 * torch.log(u1)) * torch.cos(2.0 * math.pi * u2)


#: Stream ids of the corruptions, one per use.
STREAM_SMILES_MASK = 1
STREAM_ATOM_MASK = 2
STREAM_COORD_NOISE = 3
STREAM_SMILES_ORDER = 4
