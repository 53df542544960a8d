"""Helpers shared by the subcommands."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter, ValidationError


def json_model(model: Any, *, name: str | None = None):
    """An argparse ``type=`` that parses a pydantic model (or any type pydantic validates, such
    as the union of data sources) from JSON text or ``@file.json``; ``name`` names it in errors."""
    adapter = TypeAdapter(model)
    name = name or model.__name__

    def parse(text: str) -> Any:
        if text.startswith("@"):
            text = Path(text[1:]).read_text()
        try:
            return adapter.validate_json(text)
        except ValidationError as error:
            first = error.errors()[0]
            where = ".".join(str(part) for part in first["loc"]) or "(top level)"
            more = f" (and {error.error_count() - 1} more)" if error.error_count() > 1 else ""
            raise argparse.ArgumentTypeError(f"invalid {name}: {where}: {first['msg']}{more}") from None

    parse.__name__ = name  # argparse names the type in its error messages
    return parse


def add_molecule_input(parser: argparse.ArgumentParser) -> None:
    """``--input FILE [--smiles-column NAME]`` or ``--smiles S [S ...]``, and ``--output``."""
    given = parser.add_mutually_exclusive_group(required=True)
    given.add_argument("--input", type=Path, help="a table of molecules (CSV/TSV, Parquet or SDF)")
    given.add_argument("--smiles", nargs="+", help="SMILES given on the command line")
    parser.add_argument(
        "--smiles-column", default="smiles", help="column of --input holding the SMILES (default smiles)"
    )
    parser.add_argument("--threads", type=int, default=1, help="featurization worker processes (default 1)")


def read_molecule_input(args: argparse.Namespace):
    """The input table (``--input``'s columns as text, or one ``smiles`` column) and its SMILES."""
    import polars as pl

    from semmol.data.tables import read_table, require_columns

    if args.smiles is not None:
        table = pl.DataFrame({"smiles": args.smiles})
        return table, args.smiles
    table = read_table(args.input)
    require_columns(table.columns, [args.smiles_column], path=args.input)
    return table, table.get_column(args.smiles_column).to_list()


def join_outputs(inputs, outputs):
    """The input columns (a polars frame), then the output columns (an Arrow table), as an Arrow
    table with one row per input record.

    Raises:
        ValueError: an output column has the name of an input column.
    """
    clash = sorted(set(inputs.columns) & set(outputs.column_names))
    if clash:
        raise ValueError(f"the input has columns named like outputs ({clash}); rename them")
    table = inputs.to_arrow()
    for name in outputs.column_names:
        table = table.append_column(name, outputs.column(name))
    return table
