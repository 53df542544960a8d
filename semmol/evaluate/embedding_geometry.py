"""How spread out an embedding is: the signs of a collapsed representation, beside the probes.

A probe scores what a linear model or the nearest neighbours can read from the features; these
figures say whether the features have room for it at all. An encoder whose outputs all point
one way (mean cosine near 1) or span a handful of directions (effective rank near 1) has
collapsed, whatever its pretraining loss says.
"""

from __future__ import annotations

import numpy as np


def spectrum_effective_rank(singular_values: np.ndarray) -> float:
    """``exp`` of the entropy of the normalised squared singular values; 0 for no variance."""
    power = np.asarray(singular_values, dtype=np.float64) ** 2
    if power.sum() <= 0:
        return 0.0
    share = power / power.sum()
    share = share[share > 0]  # after the division: a tiny direction beside a huge one rounds to 0
    return float(np.exp(-(share * np.log(share)).sum()))


def embedding_geometry(features: np.ndarray) -> dict[str, float | int | None]:
    """Spread statistics of ``features`` ``[n, d]`` (one row per molecule, ``n >= 2``).

    Returns:
        ``effective_rank``: ``exp`` of the entropy of the centred features' normalised squared
        singular values (Roy and Vetterli, EUSIPCO 2007): 1 when every row lies on one line,
        ``min(n, d)`` when the variance is spread evenly; ``mean_cosine``: the mean cosine
        similarity of two different rows (zero rows left out; None with fewer than two others);
        ``constant_dims``: columns whose values do not vary (std below 1e-6 of the largest
        column's std, or all zero); ``dim``.
    """
    x = np.asarray(features, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] < 2:
        raise ValueError(f"expected features [n >= 2, d], got shape {x.shape}")
    effective_rank = spectrum_effective_rank(np.linalg.svd(x - x.mean(axis=0), compute_uv=False))
    norms = np.linalg.norm(x, axis=1)
    unit = x[norms > 0] / norms[norms > 0, None]
    n = unit.shape[0]
    # sum over pairs i != j of u_i . u_j = |sum u|^2 - n
    mean_cosine = float((np.square(unit.sum(axis=0)).sum() - n) / (n * (n - 1))) if n > 1 else None
    spread = x.std(axis=0)
    constant = int((spread <= 1e-6 * spread.max()).sum()) if spread.max() > 0 else x.shape[1]
    return {
        "effective_rank": effective_rank,
        "mean_cosine": mean_cosine,
        "constant_dims": constant,
        "dim": int(x.shape[1]),
    }
