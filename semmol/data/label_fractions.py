"""Label fractions: nested shares of a split's train subset, for label-efficiency curves.

A share ``f`` keeps the first ``ceil(f * n)`` of the ``n`` train molecules in one permutation
drawn from the split's seed, so that 10 % of the labels are among the 25 %, and every row of a
table (a fine-tuned run, a baseline, a probe) learns from the same molecules. Valid and test stay
whole: every share is stopped, chosen and scored on the same molecules.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from semmol.data.benchmark import read_split_file


def kept_positions(n: int, fraction: float, *, seed: int) -> np.ndarray:
    """Ascending positions, among ``n`` train molecules, of those a share ``fraction`` keeps.

    Args:
        n: train molecules.
        fraction: the share kept, in (0, 1]; 1 keeps every molecule.
        seed: seed of the permutation (the split's).

    Raises:
        ValueError: ``fraction`` outside (0, 1].
    """
    if not 0 < fraction <= 1:
        raise ValueError(f"a label fraction is in (0, 1], got {fraction}")
    order = np.random.default_rng(seed).permutation(n)
    return np.sort(order[: math.ceil(fraction * n)])


def label_fraction_split(split: str | Path, molecules: str | Path, *, fraction: float) -> dict[str, Any]:
    """A split record whose train subset is cut to ``fraction`` of its molecules.

    The share is drawn among the train rows that ``molecules.parquet`` holds (those a model
    reads; standardization may have rejected others), in split-file order, so that the probe
    stage, which cuts the loaded train subset with :func:`kept_positions`, keeps the same ones.

    Args:
        split: the split JSON (split stage); its ``seed`` draws the permutation.
        molecules: the benchmark's ``molecules.parquet`` (its ``row`` column is read).
        fraction: the share of the train subset kept, in (0, 1].

    Returns:
        The split record with ``train`` cut, ``sizes['train']`` updated and ``label_fraction``
        and ``train_before_fraction`` (the molecules it was drawn from) added.
    """
    record = read_split_file(Path(split))
    present = set(pl.read_parquet(molecules, columns=["row"])["row"].to_list())
    train = [row for row in record["train"] if row in present]
    kept = [train[i] for i in kept_positions(len(train), fraction, seed=int(record["seed"]))]
    return {
        **record,
        "train": kept,
        "sizes": {**record.get("sizes", {}), "train": len(kept)},
        "label_fraction": fraction,
        "train_before_fraction": len(train),
    }

