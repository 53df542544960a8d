"""The standardize stage: parse, sanitize, clean up and canonicalize molecules; validate labels.

Every source record ends up in exactly one place: ``molecules.parquet`` (accepted) or
``rejected.parquet`` (with a reason). A bad label cell is recorded in ``rejected.parquet`` as
well, and the molecule is kept with that label missing, so one typo does not cost a molecule.

Corpus and benchmarks differ in two ways: the corpus drops repeated molecules and molecules
outside the heavy-atom bounds, while a benchmark keeps every parseable row (duplicates are
flagged in ``duplicate_of``) so that split row indices and dataset sizes match the literature.

A benchmark split by a column of its own (split kind ``column``) carries that column through as
``split`` (train, valid or test); a row whose cell names no subset is rejected with a reason.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
from rdkit import Chem
from rdkit.Chem.MolStandardize import rdMolStandardize
from tqdm import tqdm

from semmol.config import DatasetConfig, StandardizeConfig
from semmol.data.chem import parse_smiles, quiet_rdkit
from semmol.data.classes import ClassIndex, mapped_number, parse_class, with_classes_metadata
from semmol.data.schema import REJECTED_SCHEMA
from semmol.data.splits import split_column_subset, unknown_split_value_reason
from semmol.data.tables import read_table, require_columns

log = logging.getLogger(__name__)

STAGE = "standardize"
#: Column of ``molecules.parquet`` holding each row's subset under a split column.
SPLIT_COLUMN = "split"
#: Reason of a record none of whose target cells holds a usable label.
NO_LABEL_REASON = "no usable label in any target column"


class MoleculeCleaner:
    """Fragment choice, neutralisation and canonical SMILES, configured once.

    Args:
        options: the ``standardize`` section of the config.
        size_filter: reject molecules outside ``[min_heavy_atoms, max_heavy_atoms]`` (corpus).
    """

    def __init__(self, options: StandardizeConfig, *, size_filter: bool):
        self.options = options
        self.size_filter = size_filter
        self._fragment = rdMolStandardize.LargestFragmentChooser(preferOrganic=True)
        self._uncharger = rdMolStandardize.Uncharger()

    def __call__(self, smiles: str | None) -> tuple[str | None, str | None]:
        """``(canonical SMILES, None)`` or ``(None, reason)``."""
        mol, reason = parse_smiles(smiles)
        if mol is None:
            return None, reason
        if self.options.largest_fragment and len(Chem.GetMolFrags(mol)) > 1:
            mol = self._fragment.choose(mol)
        if self.options.neutralize:
            mol = self._uncharger.uncharge(mol)
        heavy = mol.GetNumHeavyAtoms()
        if heavy == 0:
            return None, "no heavy atoms"
        if self.size_filter and not self.options.min_heavy_atoms <= heavy <= self.options.max_heavy_atoms:
            bounds = f"[{self.options.min_heavy_atoms}, {self.options.max_heavy_atoms}]"
            return None, f"heavy atoms outside {bounds} ({heavy})"
        return Chem.MolToSmiles(mol), None


def parse_label(text: str | None, *, task: str, label_map: dict[str, float]) -> tuple[float, str | None]:
    """A label cell as a number: ``(value, None)``, ``(nan, None)`` when missing, ``(nan, reason)`` when bad."""
    if text is None or not text.strip():
        return math.nan, None
    value = mapped_number(text.strip(), label_map)
    if value is None:
        hint = " (map textual labels with label_map)" if task == "classification" else ""
        return math.nan, f"label is not a number{hint}"
    if math.isnan(value):
        return math.nan, None
    if not math.isfinite(value):
        return math.nan, "label is not finite"
    if task == "classification" and value not in (0.0, 1.0):
        return math.nan, "classification label is not 0 or 1"
    return value, None


@dataclass
class StandardizeResult:
    """What the stage produced: accepted molecules, rejected records and a summary."""

    molecules: pl.DataFrame
    rejected: list[dict] = field(default_factory=list)
    report: dict = field(default_factory=dict)
    #: Per multiclass target, its class names in numbering order (empty for other tasks).
    classes: dict[str, list[str]] = field(default_factory=dict)


def standardize_table(
    table: pl.DataFrame,
    *,
    dataset: DatasetConfig,
    options: StandardizeConfig,
    benchmark: bool,
    source: str = "<table>",
    split_column: str | None = None,
) -> StandardizeResult:
    """Standardize every record of a source table (all columns text, in file order).

    A multiclass target's cells are read as classes (:mod:`semmol.data.classes`) and stored as
    class numbers; its class names and counts go to the report and :attr:`StandardizeResult.classes`.

    Args:
        table: the source table as read by :func:`semmol.data.tables.read_table`.
        dataset: its config entry (SMILES column, targets, task, label map).
        options: the ``standardize`` section.
        benchmark: keep duplicates and skip size filters (a benchmark), or not (the corpus).
        source: file name used in messages.
        split_column: the column naming each row's subset (split kind ``column``), carried
            through as :data:`SPLIT_COLUMN` (default: none).
    """
    started = time.perf_counter()
    text_columns = [dataset.text_column] if dataset.text_column else []
    split_columns = [split_column] if split_column else []
    require_columns(
        table.columns, [dataset.smiles_column, *dataset.targets, *text_columns, *split_columns], path=source
    )
    if split_columns and SPLIT_COLUMN in dataset.targets:
        raise ValueError(f"{source}: a target named '{SPLIT_COLUMN}' clashes with the carried split column")
    cleaner = MoleculeCleaner(options, size_filter=not benchmark)
    dedupe = options.deduplicate and not benchmark
    accepted: dict[str, list] = {"row": [], "smiles_input": [], "smiles": [], "duplicate_of": []}
    if text_columns:
        accepted["text"] = []
        texts = table.get_column(dataset.text_column).to_list()
    if split_columns:
        accepted[SPLIT_COLUMN] = []
        split_cells = table.get_column(split_column).to_list()
    multiclass = dataset.task == "multiclass"
    labels: dict[str, list] = {target: [] for target in dataset.targets}  # classes as read, for multiclass
    rejected: list[dict] = []
    first_row: dict[str, int] = {}
    bad_labels = 0

    def reject(row: int, column: str, value: str | None, reason: str) -> None:
        rejected.append({"row": row, "column": column, "value": value, "reason": reason, "stage": STAGE})

    smiles_column = table.get_column(dataset.smiles_column).to_list()
    target_columns = [table.get_column(target).to_list() for target in dataset.targets]
    progress = tqdm(smiles_column, desc=f"standardize {source}", mininterval=5)
    for row, smiles_input in enumerate(progress):
        with quiet_rdkit():
            canonical, reason = cleaner(smiles_input)
        if canonical is None:
            reject(row, dataset.smiles_column, smiles_input, reason)
            continue
        subset = split_column_subset(split_cells[row]) if split_columns else None
        if split_columns and subset is None:
            reject(row, split_column, split_cells[row], unknown_split_value_reason(split_cells[row]))
            continue
        duplicate_of = first_row.get(canonical, row)
        if duplicate_of != row and dedupe:
            reject(row, dataset.smiles_column, smiles_input, f"duplicate of row {duplicate_of}")
            continue
        values, bad_cells = [], []
        for target, column in zip(dataset.targets, target_columns):
            if multiclass:
                value, reason = parse_class(column[row], label_map=dataset.label_map)
            else:
                value, reason = parse_label(column[row], task=dataset.task, label_map=dataset.label_map)
            if reason is not None:
                bad_cells.append((target, column[row], reason))
            values.append(value)
        kept = not dataset.targets or not all(_missing(value) for value in values)
        for target, text, reason in bad_cells:
            bad_labels += 1
            reject(
                row, target, text, f"{reason}; kept the molecule with this label missing" if kept else reason
            )
        if not kept:
            reject(row, ",".join(dataset.targets), None, NO_LABEL_REASON)
            continue
        first_row.setdefault(canonical, row)  # duplicates point at a molecule that was kept
        accepted["row"].append(row)
        accepted["smiles_input"].append(smiles_input)
        accepted["smiles"].append(canonical)
        accepted["duplicate_of"].append(None if duplicate_of == row else duplicate_of)
        if text_columns:
            accepted["text"].append(texts[row] or None)
        if split_columns:
            accepted[SPLIT_COLUMN].append(subset)
        for target, value in zip(dataset.targets, values):
            labels[target].append(value)

    classes, class_counts = {}, {}
    if multiclass:
        for target in dataset.targets:
            try:
                index = ClassIndex.of(labels[target], label_map=dataset.label_map)
            except ValueError as error:
                raise ValueError(f"{source}: column '{target}': {error}") from None
            classes[target], class_counts[target] = list(index.names), index.counts(labels[target])
            labels[target] = index.codes(labels[target])
    unlabelled = sum(1 for r in rejected if r["reason"] == NO_LABEL_REASON)
    if unlabelled:
        log.warning(
            "%s: %d records have no usable label in column(s) %s; rejected, each with its reason",
            source,
            unlabelled,
            ", ".join(f"'{target}'" for target in dataset.targets),
        )
    molecules = pl.DataFrame(
        {**accepted, **labels},
        schema={
            "row": pl.Int64,
            "smiles_input": pl.Utf8,
            "smiles": pl.Utf8,
            "duplicate_of": pl.Int64,
            **({"text": pl.Utf8} if text_columns else {}),
            **({SPLIT_COLUMN: pl.Utf8} if split_columns else {}),
            **{target: pl.Float64 for target in dataset.targets},
        },
    )
    rejected_rows = {r["row"] for r in rejected if not r["reason"].endswith("label missing")}
    report = {
        "source": source,
        "records": table.height,
        "accepted": molecules.height,
        "rejected_records": len(rejected_rows),
        "bad_label_cells": bad_labels,
        "duplicates_kept": int(molecules.get_column("duplicate_of").is_not_null().sum()),
        "reasons": dict(Counter(_reason_kind(r["reason"]) for r in rejected).most_common()),
        **({"classes": classes, "class_counts": class_counts} if multiclass else {}),
        "seconds": round(time.perf_counter() - started, 3),
    }
    if molecules.height + len(rejected_rows) != table.height:  # the promise of this stage
        raise AssertionError(
            f"{source}: {table.height} records but {molecules.height} + {len(rejected_rows)} out"
        )
    return StandardizeResult(molecules=molecules, rejected=rejected, report=report, classes=classes)


def _missing(value: float | int | str | None) -> bool:
    """Whether a parsed label is missing: NaN (numbers) or None (classes)."""
    return value is None or (isinstance(value, float) and math.isnan(value))


def _reason_kind(reason: str) -> str:
    """A reason without its record-specific details, for counting."""
    return reason.split(" (")[0].split(" of row")[0].split(";")[0]


def write_rejected(rejected: list[dict], path: Path) -> None:
    """The rejected records as a Parquet file of :data:`REJECTED_SCHEMA` (parent created)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rejected, schema=REJECTED_SCHEMA), path)


def write_outputs(result: StandardizeResult, out_dir: Path) -> None:
    """``molecules.parquet`` (with the class names of multiclass targets in its metadata),
    ``rejected.parquet`` and ``standardize.json`` in ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    if result.classes:
        table = with_classes_metadata(result.molecules.to_arrow(), result.classes)
        pq.write_table(table, out_dir / "molecules.parquet")
    else:
        result.molecules.write_parquet(out_dir / "molecules.parquet")
    write_rejected(result.rejected, out_dir / "rejected.parquet")
    (out_dir / "standardize.json").write_text(json.dumps(result.report, indent=2) + "\n")


def rejection_error(report: dict, *, max_fraction: float) -> str | None:
    """Why the stage must stop (nothing accepted, more than ``max_fraction`` of the records
    rejected, or a multiclass target with fewer than two classes), or ``None`` when it may go on.

    Args:
        report: :attr:`StandardizeResult.report`.
        max_fraction: ``standardize.max_rejected_fraction``.
    """
    if report["accepted"] == 0:
        return f"{report['source']}: no molecule survived standardization"
    fraction = report["rejected_records"] / report["records"]
    if fraction > max_fraction:
        return (
            f"{report['source']}: {report['rejected_records']} of {report['records']} records rejected "
            f"({fraction:.1%}), more than standardize.max_rejected_fraction {max_fraction:g}"
        )
    for target, names in report.get("classes", {}).items():
        if len(names) < 2:
            return (
                f"{report['source']}: multiclass column '{target}' holds the single class '{names[0]}' in "
                f"all {report['accepted']} labelled rows; a multiclass target needs at least two classes"
            )
    return None


def standardize_file(
    table_path: Path,
    *,
    dataset: DatasetConfig,
    options: StandardizeConfig,
    benchmark: bool,
    split_column: str | None = None,
) -> StandardizeResult:
    """Read a source table (its first ``dataset.max_rows`` records) and standardize it; nothing is
    written. Arguments as :func:`standardize_table`'s."""
    table = read_table(table_path, max_rows=dataset.max_rows)
    return standardize_table(
        table,
        dataset=dataset,
        options=options,
        benchmark=benchmark,
        source=str(table_path),
        split_column=split_column,
    )


def standardize(
    table_path: Path,
    *,
    dataset: DatasetConfig,
    options: StandardizeConfig,
    benchmark: bool,
    out_dir: Path,
    rejected_copy: Path | None = None,
    split_column: str | None = None,
) -> StandardizeResult:
    """Read ``table_path``, standardize it and write the stage's three outputs to ``out_dir``.

    Args:
        table_path: the downloaded table.
        dataset: its config entry.
        options: the ``standardize`` section.
        benchmark: a benchmark (keeps duplicates, no size filter) or the corpus.
        out_dir: where the three outputs go.
        rejected_copy: where the rejected records go when the stage stops instead of writing
            its outputs (default: ``out_dir/rejected.parquet``). The workflow passes a path
            outside the declared outputs, which Snakemake deletes after a failed job. Deleted
            when the stage succeeds, so that it only ever describes a failure.
        split_column: see :func:`standardize_table`.

    Raises:
        ValueError: no molecule survived, or more than ``options.max_rejected_fraction`` of the
            records were rejected; the message names ``rejected_copy``.
    """
    result = standardize_file(
        table_path, dataset=dataset, options=options, benchmark=benchmark, split_column=split_column
    )
    report = result.report
    log.info(
        "%s: %d records -> %d molecules, %d rejected, %d bad label cells (%s)",
        table_path,
        report["records"],
        report["accepted"],
        report["rejected_records"],
        report["bad_label_cells"],
        ", ".join(f"{k}: {v}" for k, v in report["reasons"].items()) or "no rejections",
    )
    error = rejection_error(report, max_fraction=options.max_rejected_fraction)
    if error is not None:
        copy = out_dir / "rejected.parquet" if rejected_copy is None else rejected_copy
        write_rejected(result.rejected, copy)
        raise ValueError(f"{error}; the rejected rows are in {copy}")
    write_outputs(result, out_dir)
    if rejected_copy is not None:
        rejected_copy.unlink(missing_ok=True)  # left by an earlier failure
    return result
