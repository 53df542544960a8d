"""Reading source tables (CSV/TSV, gzipped or not, Parquet, SDF) in file order, as text.

Row ``i`` of the returned frame is the ``i``-th data record of the file (header excluded);
every later stage and every split refers to records by that index. Values are read as
strings so that label validation can quote the offending text.
"""

from __future__ import annotations

import difflib
import json
from pathlib import Path
from typing import TYPE_CHECKING

# polars is imported where tables are read: the checks below serve readers without it
# (semmol.data.benchmark, on the GPU check's bare machine).
if TYPE_CHECKING:
    import polars as pl

#: Column added to SDF tables when a record has no ``smiles`` property.
SDF_SMILES_COLUMN = "smiles"


class TableError(ValueError):
    """A source table is unreadable, empty, or lacks a configured column."""


def _suffixes(path: Path) -> str:
    name = path.name.lower()
    return name[:-3] if name.endswith(".gz") else name


def _read_sdf(path: Path) -> pl.DataFrame:
    import gzip

    import polars as pl
    from rdkit import Chem

    opener = gzip.open if path.name.lower().endswith(".gz") else open
    records: list[dict[str, str | None]] = []
    with opener(path, "rb") as handle:
        for mol in Chem.ForwardSDMolSupplier(handle, sanitize=False, removeHs=False):
            if mol is None:  # keep the record: its position is its row index
                records.append({})
                continue
            # GetProp keeps the text as written ('0.50' stays '0.50'; GetPropsAsDict converts)
            props = {key: mol.GetProp(key) for key in mol.GetPropNames()}
            props.setdefault(SDF_SMILES_COLUMN, Chem.MolToSmiles(mol))
            records.append(props)
    columns = sorted({key for record in records for key in record})
    return pl.DataFrame(
        {c: [r.get(c) for r in records] for c in columns}, schema={c: pl.Utf8 for c in columns}
    )


def read_table(path: str | Path, *, max_rows: int | None = None) -> pl.DataFrame:
    """Read a source table with every column as text, in file order.

    Args:
        path: a ``.csv``/``.tsv`` (optionally ``.gz``), ``.parquet`` or ``.sdf`` file.
        max_rows: keep only the first ``max_rows`` records (default: all).

    Raises:
        TableError: naming the file, when it cannot be parsed or holds no records.
    """
    import polars as pl

    path = Path(path)
    kind = _suffixes(path)
    try:
        if kind.endswith((".csv", ".tsv", ".txt")):
            frame = pl.read_csv(
                path,
                separator="\t" if kind.endswith(".tsv") else ",",
                infer_schema=False,
                n_rows=max_rows,
                truncate_ragged_lines=False,
            )
        elif kind.endswith(".parquet"):
            frame = pl.read_parquet(path, n_rows=max_rows).cast(pl.Utf8)
        elif kind.endswith(".sdf"):
            frame = _read_sdf(path)
        else:
            raise TableError(f"{path}: unsupported file type (expected .csv, .tsv, .parquet or .sdf)")
    except (pl.exceptions.PolarsError, OSError, UnicodeDecodeError) as error:
        # Polars appends hints about its own options on further lines; the first line says what is wrong.
        first_line = str(error).strip().partition("\n")[0]
        raise TableError(f"{path}: cannot read table: {first_line}") from None
    if max_rows is not None:
        frame = frame.head(max_rows)
    if frame.height == 0:
        raise TableError(f"{path}: no data rows")
    return frame


def require_columns(present: list[str], columns: list[str], *, path: str | Path) -> None:
    """Raise :class:`TableError` naming the file and, among the ``present`` column names, the
    closest to each missing one of ``columns``."""
    for column in columns:
        if column in present:
            continue
        close = difflib.get_close_matches(column, present, n=1, cutoff=0.5)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        raise TableError(f"{path}: column '{column}' not found{hint} (columns: {', '.join(present)})")


def manifest_table_path(manifest: str | Path) -> Path:
    """The data file a download ``manifest.json`` describes (stored beside it)."""
    manifest = Path(manifest)
    try:
        record = json.loads(manifest.read_text())
    except json.JSONDecodeError as error:
        raise TableError(f"{manifest}: not a JSON manifest ({error})") from None
    if not isinstance(record, dict) or "file" not in record:
        raise TableError(f"{manifest}: manifest lacks the data file name ('file')")
    return manifest.parent / record["file"]
