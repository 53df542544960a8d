"""Up-front checks of a user's table before any job of the workflow starts (``semmol train``).

The pipeline's stages are lenient by design: a bad label cell is recorded and the molecule kept,
an unparsable SMILES rejected with a reason, and a stage stops only when too much is rejected.
A user's own table is checked more strictly before anything runs, so that a wrong column,
a wrong task or a typo in a split column costs seconds, not an hour of pretraining. The checks
run the stages' own code on the table (:func:`semmol.data.standardize.standardize_table` and
:func:`semmol.data.splits.make_split`) and read what they reject; each failure is one line
naming the file, the column and how many rows.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from semmol.config import DatasetConfig, SplitConfig, StandardizeConfig
from semmol.data.splits import make_split
from semmol.data.standardize import NO_LABEL_REASON, rejection_error, standardize_file


class InputError(ValueError):
    """A user's table cannot be trained on; the message is one line."""


@dataclass(frozen=True)
class TableCheck:
    """What a table that passed :func:`check_training_table` holds.

    Attributes:
        records: data records read.
        molecules: records that standardization accepts.
        rejected: records it rejects (each with a reason, in the run's rejected.parquet).
        sizes: per subset (train, valid, test), the source rows of the split with seed 0.
    """

    records: int
    molecules: int
    rejected: int
    sizes: dict[str, int]


def _where(path: Path, row: int) -> str:
    """A record as a person finds it: the line of a delimited text file, else its 1-based number."""
    text_file = any(path.name.lower().removesuffix(".gz").endswith(s) for s in (".csv", ".tsv", ".txt"))
    return f"line {row + 2}" if text_file else f"record {row + 1}"


def _first(path: Path, entries: list[dict], *, reason: bool = True) -> str:
    """Where the first of ``entries`` (rejected records) is, its value and (``reason``) why."""
    entry = entries[0]
    why = f", {entry['reason']}" if reason else ""
    return f"first at {_where(path, entry['row'])}: {entry['value']!r}{why}"


def check_training_table(
    path: str | Path,
    *,
    dataset: DatasetConfig,
    options: StandardizeConfig,
    split: SplitConfig,
) -> TableCheck:
    """Check that a table can be fine-tuned on as ``dataset`` under ``split``.

    Args:
        path: the table (CSV/TSV, Parquet or SDF).
        dataset: its dataset entry (SMILES column, targets, task, ``max_rows``).
        options: the ``standardize`` section the run will use.
        split: the split the run will use.

    Returns:
        Counts of the records, molecules and subsets.

    Raises:
        InputError: one line naming the file, the column and the count of rows, for an
            unreadable table, a missing column, no parseable SMILES, a label cell that is no
            label of the task, a classification target with one class, a split-column value
            naming no subset, too many rejected records, or a split with an empty subset.
    """
    path = Path(path)
    split_column = split.column if split.kind == "column" else None
    try:
        result = standardize_file(
            path, dataset=dataset, options=options, benchmark=True, split_column=split_column
        )
    except ValueError as error:  # TableError included: unreadable, empty, a missing column
        raise InputError(str(error)) from None
    records = result.report["records"]
    by_column: dict[str, list[dict]] = {}
    for entry in result.rejected:
        by_column.setdefault(entry["column"], []).append(entry)

    smiles_rejected = by_column.get(dataset.smiles_column, [])
    if len(smiles_rejected) == records:
        raise InputError(
            f"{path}: column '{dataset.smiles_column}' holds no valid SMILES: all {records} rows rejected "
            f"({_first(path, smiles_rejected)})"
        )
    for target in dataset.targets:
        # rows without any label are rejected and counted like any other; bad cells are errors
        bad = [entry for entry in by_column.get(target, []) if entry["reason"] != NO_LABEL_REASON]
        if bad:
            reasons = Counter(entry["reason"].split(";")[0] for entry in bad)
            raise InputError(
                f"{path}: column '{target}' has {len(bad)} of {records} rows that are no {dataset.task} "
                f"label ({reasons.most_common(1)[0][0]}; {_first(path, bad, reason=False)}); blank cells are "
                "missing labels"
            )
    if split_column is not None and split_column in by_column:
        bad = by_column[split_column]
        raise InputError(
            f"{path}: split column '{split_column}' has {len(bad)} of {records} rows naming no subset "
            f"({_first(path, bad)})"
        )
    if dataset.task != "regression":
        for target in dataset.targets:
            labels = [
                value for value in result.molecules.get_column(target).to_list() if not math.isnan(value)
            ]
            classes = sorted(set(labels))
            if len(classes) < 2:
                found = f"class {classes[0]:g}" if classes else "no class"
                raise InputError(
                    f"{path}: column '{target}' has one class only: all {len(labels)} labelled rows are "
                    f"{found}; a {dataset.task} target needs two classes at least"
                )
    error = rejection_error(result.report, max_fraction=options.max_rejected_fraction)
    if error is not None:
        reasons = ", ".join(f"{reason}: {count}" for reason, count in result.report["reasons"].items())
        raise InputError(f"{error} ({reasons})")
    try:
        record = make_split(
            path,
            smiles_column=dataset.smiles_column,
            kind=split.kind,
            fractions=split.fractions,
            max_rows=dataset.max_rows,
            column=split_column,
        )
    except ValueError as error:
        raise InputError(str(error)) from None
    report = result.report
    return TableCheck(
        records=records,
        molecules=report["accepted"],
        rejected=report["rejected_records"],
        sizes={subset: record["sizes"][subset] for subset in ("train", "valid", "test")},
    )
