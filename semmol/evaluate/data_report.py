"""The data table: per dataset, what standardization kept and rejected, and what got no conformer.

A dataset's directory (``results/data/{name}``) holds the two stage reports read here:
``standardize.json`` (records, accepted, rejected_records, bad_label_cells, reasons; see
:mod:`semmol.data.standardize`) and ``shards/manifest.json`` (statuses over the conformer
shards; see :mod:`semmol.data.shards`).
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from semmol.data.schema import STATUS_EMBED_FAILED, STATUS_TIMEOUT
from semmol.runtime.atomic import atomic_path

#: The two reports, relative to a dataset's directory.
STANDARDIZE_REPORT = "standardize.json"
SHARDS_MANIFEST = "shards/manifest.json"
DATA_COLUMNS = (
    "dataset",
    "records",
    "accepted",
    "rejected_records",
    "bad_label_cells",
    "no_conformer",
    "reasons",
)


class DataReportError(ValueError):
    """A dataset's stage reports are malformed or do not describe the same molecules."""


@dataclass(frozen=True)
class DatasetRow:
    """What the data stages did with one dataset.

    Attributes:
        dataset: dataset name.
        records: records read from the source.
        accepted: molecules kept by standardization.
        rejected_records: records dropped by standardization (each in ``rejected.parquet``).
        bad_label_cells: label cells that could not be read; their molecules are kept with the
            label missing.
        no_conformer: accepted molecules without any conformer (embedding failed or timed out).
        reasons: rejection reason -> count, over rejected records and bad label cells.
    """

    dataset: str
    records: int
    accepted: int
    rejected_records: int
    bad_label_cells: int
    no_conformer: int
    reasons: dict[str, int]


def _read_object(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise FileNotFoundError(f"{path}: not found; re-run the stage that writes it")
    try:
        document = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise DataReportError(f"{path}: not JSON: {error}") from None
    if not isinstance(document, dict):
        raise DataReportError(f"{path}: expected a JSON object")
    return document


def _count(document: dict[str, Any], key: str, path: Path) -> int:
    value = document.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise DataReportError(f"{path}: '{key}' is {value!r}, not a count")
    return value


def read_dataset(name: str, directory: str | Path) -> DatasetRow:
    """The data-table row of one dataset, from the stage reports in its directory.

    Args:
        name: the dataset's name.
        directory: its directory, holding :data:`STANDARDIZE_REPORT` and :data:`SHARDS_MANIFEST`.

    Raises:
        FileNotFoundError: a report is missing.
        DataReportError: a report is malformed, or the shards hold another number of molecules
            than standardization accepted (reports of different runs).
    """
    directory = Path(directory)
    report_path, manifest_path = directory / STANDARDIZE_REPORT, directory / SHARDS_MANIFEST
    report, manifest = _read_object(report_path), _read_object(manifest_path)
    statuses = manifest.get("statuses")
    if not isinstance(statuses, dict):
        raise DataReportError(f"{manifest_path}: 'statuses' missing")
    reasons = report.get("reasons", {})
    if not isinstance(reasons, dict):
        raise DataReportError(f"{report_path}: 'reasons' is {reasons!r}, not an object")
    row = DatasetRow(
        dataset=name,
        records=_count(report, "records", report_path),
        accepted=_count(report, "accepted", report_path),
        rejected_records=_count(report, "rejected_records", report_path),
        bad_label_cells=_count(report, "bad_label_cells", report_path),
        no_conformer=sum(
            _count(statuses, status, manifest_path) for status in (STATUS_EMBED_FAILED, STATUS_TIMEOUT)
        ),
        reasons={str(reason): _count(reasons, reason, report_path) for reason in reasons},
    )
    molecules = _count(manifest, "molecules", manifest_path)
    if molecules != row.accepted:
        raise DataReportError(
            f"{manifest_path}: {molecules} molecules, but {report_path} accepted {row.accepted};"
            " re-run the conformers stage"
        )
    return row


def _reasons_text(reasons: dict[str, int]) -> str:
    return "; ".join(f"{reason}: {count}" for reason, count in reasons.items())


def write_data_csv(rows: list[DatasetRow], path: str | Path) -> None:
    """Write the data table as CSV (columns :data:`DATA_COLUMNS`, reasons ';'-separated), atomically.

    Args:
        rows: from :func:`read_dataset`.
        path: the CSV file to write.
    """
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(DATA_COLUMNS)
        for row in rows:
            writer.writerow(
                [
                    row.dataset,
                    row.records,
                    row.accepted,
                    row.rejected_records,
                    row.bad_label_cells,
                    row.no_conformer,
                    _reasons_text(row.reasons),
                ]
            )


def data_markdown(rows: list[DatasetRow]) -> str:
    """The data table as a Markdown section ('## Data'), one line per dataset.

    Args:
        rows: from :func:`read_dataset`.
    """
    header = [
        "## Data",
        "",
        "Per dataset: records read from the source; molecules accepted by standardization; records "
        "rejected (each listed with its row and reason in `results/data/{dataset}/rejected.parquet`); "
        "bad label cells (a molecule with another usable label is kept with this one missing); accepted "
        "molecules without any conformer (embedding failed or timed out: their 3D view is missing); and "
        "the reasons, counted over rejected records and bad label cells.",
    ]
    table = [
        "| dataset | records | accepted | rejected records | bad label cells | no conformer | reasons |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        share = f" ({100 * row.no_conformer / row.accepted:.1f}%)" if row.accepted else ""
        table.append(
            f"| {row.dataset} | {row.records} | {row.accepted} | {row.rejected_records}"
            f" | {row.bad_label_cells} | {row.no_conformer}{share} | {_reasons_text(row.reasons) or '–'} |"
        )
    return "\n".join([*header, "", *table]) + "\n"
