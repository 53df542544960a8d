"""``semmol standardize``: molecules.parquet + rejected.parquet from a downloaded table."""

from __future__ import annotations

import argparse
from pathlib import Path

from semmol.cli.common import json_model
from semmol.config import DatasetConfig, StandardizeConfig

HELP = "parse, clean up and canonicalize a downloaded table; validate its labels"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--manifest", type=Path, required=True, help="the download stage's manifest.json")
    parser.add_argument(
        "--dataset", type=json_model(DatasetConfig), required=True, help="dataset entry as JSON"
    )
    parser.add_argument(
        "--options", type=json_model(StandardizeConfig), required=True, help="standardize section as JSON"
    )
    parser.add_argument("--benchmark", action="store_true", help="keep duplicates, no size filters")
    parser.add_argument("--out-dir", type=Path, required=True, help="where the three outputs go")
    parser.add_argument(
        "--split-column",
        default=None,
        help="the column naming each row's subset (split kind column): carried through as 'split', "
        "rows naming no subset rejected",
    )
    parser.add_argument(
        "--rejected-copy",
        type=Path,
        default=None,
        help="where the rejected rows go when too many are rejected (default: OUT_DIR/rejected.parquet); "
        "a path Snakemake does not delete after the failed job",
    )


def run(args: argparse.Namespace) -> None:
    from semmol.data.standardize import standardize
    from semmol.data.tables import manifest_table_path

    standardize(
        manifest_table_path(args.manifest),
        dataset=args.dataset,
        options=args.options,
        benchmark=args.benchmark,
        out_dir=args.out_dir,
        rejected_copy=args.rejected_copy,
        split_column=args.split_column,
    )
