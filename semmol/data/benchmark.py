"""A benchmark's labelled molecules, grouped by the subsets of one split file.

A split file (split stage) lists source rows per subset; ``molecules.parquet`` (standardize)
holds the accepted records. A split row absent from ``molecules.parquet`` was rejected at
standardization: it is skipped and counted in :attr:`BenchmarkSplit.missing`, so every model
sees the same molecules and the count is reported beside its scores.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from semmol.data.classes import read_classes
from semmol.data.tables import TableError, require_columns

log = logging.getLogger(__name__)

#: Subsets of a split, in the order they are reported.
SUBSETS = ("train", "valid", "test")


class BenchmarkError(ValueError):
    """A split file or a ``molecules.parquet`` does not fit the benchmark."""


@dataclass(frozen=True)
class Subset:
    """The molecules of one subset (train, valid or test) that passed standardization.

    Attributes:
        rows: record indices in the source file, int64, in split-file order.
        mol_index: positions of those records in ``molecules.parquet``, int64.
        smiles: canonical SMILES.
        labels: float64 ``[n, n_targets]``; NaN marks a missing label.
    """

    rows: np.ndarray
    mol_index: np.ndarray
    smiles: list[str]
    labels: np.ndarray

    def __len__(self) -> int:
        return len(self.rows)


@dataclass(frozen=True)
class BenchmarkSplit:
    """A benchmark's train/valid/test subsets under one split.

    Attributes:
        kind: split kind recorded in the split file (e.g. 'scaffold').
        seed: seed recorded in the split file.
        targets: label columns, the order of ``Subset.labels`` columns.
        subsets: ``train``, ``valid`` and ``test``.
        missing: per subset, split rows absent from ``molecules.parquet`` (skipped).
        classes: a multiclass target's class names, in the order of their numbers (the labels);
            ``None`` for the other tasks.
        label_fraction: the share of the train subset the split file keeps
            (:mod:`semmol.data.label_fractions`); 1 for a split stage's file.
    """

    kind: str
    seed: int
    targets: list[str]
    subsets: dict[str, Subset]
    missing: dict[str, int]
    classes: list[str] | None = None
    label_fraction: float = 1.0

    def __getitem__(self, subset: str) -> Subset:
        return self.subsets[subset]


def read_split_file(path: Path) -> dict:
    """A split file's record, checked: its keys, integer rows, no row in two subsets.

    Raises:
        BenchmarkError: naming the file and the key, when it is not such a file.
        FileNotFoundError: the file does not exist.
    """
    try:
        split = json.loads(path.read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: split file not found") from None
    except json.JSONDecodeError as error:
        raise BenchmarkError(f"{path}: not a JSON split file: {error}") from None
    if not isinstance(split, dict):
        raise BenchmarkError(f"{path}: a split file holds a JSON object, got {type(split).__name__}")
    for key in ("kind", "seed", *SUBSETS):
        if key not in split:
            raise BenchmarkError(f"{path}: split file lacks the key '{key}'")
    for subset in SUBSETS:
        rows = split[subset]
        integers = isinstance(rows, list) and all(type(row) is int for row in rows)  # bool is no row
        if not integers:
            raise BenchmarkError(f"{path}: '{subset}' must be a list of integer source rows")
    seen: dict[int, str] = {}
    for subset in SUBSETS:
        for row in split[subset]:
            if row in seen:  # a molecule in two subsets would leak labels into evaluation
                raise BenchmarkError(f"{path}: source row {row} is in both '{seen[row]}' and '{subset}'")
            seen[row] = subset
    return split


def _read_molecules(path: Path, targets: list[str]) -> tuple[list[int], list[str], np.ndarray]:
    """The source rows, SMILES and float64 labels ``[n, len(targets)]`` of ``molecules.parquet``.

    Read with pyarrow, not polars: fine-tuning runs on the GPU check's bare machine too.
    """
    try:
        table = pq.read_table(path)
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: molecules file not found") from None
    except (pa.ArrowException, OSError) as error:
        raise BenchmarkError(f"{path}: not a readable Parquet file: {error}") from None
    try:
        require_columns(table.column_names, ["row", "smiles", *targets], path=path)
    except TableError as error:
        raise BenchmarkError(str(error)) from None
    rows = table["row"].to_pylist()
    counts = Counter(rows)
    duplicated = [row for row in rows if counts[row] > 1]
    if duplicated:
        raise BenchmarkError(f"{path}: source row {duplicated[0]} appears more than once in column 'row'")
    columns = []
    for target in targets:
        dtype = table.schema.field(target).type
        if not (pa.types.is_integer(dtype) or pa.types.is_floating(dtype) or pa.types.is_decimal(dtype)):
            raise BenchmarkError(f"{path}: target column '{target}' holds {dtype}, not numbers")
        # a missing label (null) becomes NaN
        columns.append(pc.cast(table[target], pa.float64()).to_numpy(zero_copy_only=False))
    labels = np.stack(columns, axis=1)  # targets is not empty: load_benchmark_split checks
    return rows, table["smiles"].to_pylist(), labels


def _class_names(path: Path, targets: list[str], labels: np.ndarray) -> list[str]:
    """A multiclass target's class names stored with ``molecules.parquet``, checked against its labels."""
    names = read_classes(path).get(targets[0]) if len(targets) == 1 else None
    if names is None:
        raise BenchmarkError(
            f"{path}: holds no class names for multiclass target {targets}: standardize the benchmark with "
            "task 'multiclass' (one target)"
        )
    codes = labels[~np.isnan(labels)]
    if ((codes < 0) | (codes >= len(names)) | (codes != np.round(codes))).any():
        raise BenchmarkError(f"{path}: labels of '{targets[0]}' are not class numbers 0..{len(names) - 1}")
    return names


def load_benchmark_split(
    molecules: str | Path, split: str | Path, *, targets: list[str], task: str | None = None
) -> BenchmarkSplit:
    """The labelled molecules of each subset of a split.

    Args:
        molecules: ``molecules.parquet`` of the benchmark (standardize stage).
        split: the split JSON file (split stage).
        targets: label columns to read, in order (the dataset's ``targets``).
        task: the dataset's task; 'multiclass' reads the class names stored with the molecules
            (default: none read).

    Raises:
        BenchmarkError: a file is malformed, a target column is absent (the closest existing
            column is suggested), a source row sits in two subsets, or a multiclass benchmark's
            molecules lack their class names.
        FileNotFoundError: a file does not exist.
    """
    molecules, split = Path(molecules), Path(split)
    if not targets:
        raise BenchmarkError(f"{molecules}: no target columns given for the benchmark")
    layout = read_split_file(split)
    rows, smiles, labels = _read_molecules(molecules, targets)
    position = {int(row): index for index, row in enumerate(rows)}
    classes = _class_names(molecules, targets, labels) if task == "multiclass" else None
    subsets: dict[str, Subset] = {}
    missing: dict[str, int] = {}
    for name in SUBSETS:
        found = [row for row in layout[name] if row in position]
        absent = [row for row in layout[name] if row not in position]
        if absent:
            shown = ", ".join(map(str, absent[:10])) + (", ..." if len(absent) > 10 else "")
            log.warning(
                "%d %s row(s) of %s are not in %s (rejected at standardization) and are skipped: %s",
                len(absent),
                name,
                split,
                molecules,
                shown,
            )
        index = np.asarray([position[row] for row in found], dtype=np.int64)
        subsets[name] = Subset(
            rows=np.asarray(found, dtype=np.int64),
            mol_index=index,
            smiles=[smiles[i] for i in index],
            labels=labels[index],
        )
        missing[name] = len(absent)
    return BenchmarkSplit(
        kind=str(layout["kind"]),
        seed=int(layout["seed"]),
        targets=list(targets),
        subsets=subsets,
        missing=missing,
        classes=classes,
        label_fraction=float(layout.get("label_fraction", 1.0)),
    )
