"""``semmol split``: train/valid/test row indices of a downloaded benchmark, as JSON."""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from semmol.cli.common import json_model
from semmol.config import DatasetConfig, SplitConfig

HELP = (
    "split a downloaded benchmark into train/valid/test source rows (scaffold, balanced_scaffold, random,"
    " a split column, or none: a final model's early-stopping hold-out)"
)

log = logging.getLogger(__name__)


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--name", required=True, help="the benchmark's name, for messages")
    parser.add_argument("--manifest", type=Path, required=True, help="the download stage's manifest.json")
    parser.add_argument("--dataset", type=json_model(DatasetConfig), required=True, help="DatasetConfig JSON")
    parser.add_argument("--split", type=json_model(SplitConfig), required=True, help="SplitConfig JSON")
    parser.add_argument("--seed", type=int, required=True, help="seed of the seeded kinds (recorded for all)")
    parser.add_argument("--out", type=Path, required=True, help="split JSON file to write")


def run(args: argparse.Namespace) -> None:
    from semmol.data.splits import make_split, write_split
    from semmol.data.tables import manifest_table_path

    try:
        manifest = json.loads(args.manifest.read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f"{args.manifest}: not a JSON manifest ({error})") from None
    if not isinstance(manifest, dict) or "file" not in manifest:
        raise ValueError(f"{args.manifest}: manifest lacks the data file name ('file')")
    record = make_split(
        manifest_table_path(args.manifest),
        smiles_column=args.dataset.smiles_column,
        kind=args.split.kind,
        fractions=args.split.fractions,
        seed=args.seed,
        max_rows=args.dataset.max_rows,
        sha256=manifest.get("sha256"),
        name=args.name,
        column=args.split.column,
    )
    write_split(record, args.out)
    sizes = record["sizes"]
    log.info(
        "%s split of %s (seed %d): train %d, valid %d, test %d, dropped %d -> %s",
        args.split.kind,
        record["source"]["file"],
        args.seed,
        sizes["train"],
        sizes["valid"],
        sizes["test"],
        sizes["dropped"],
        args.out,
    )
