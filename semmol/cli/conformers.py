"""``semmol conformers``: one shard of 2D features, fingerprints and RDKit conformers."""

from __future__ import annotations

import argparse
from pathlib import Path

from semmol.cli.common import json_model
from semmol.config import ConformerConfig

HELP = "embed conformers and featurize one shard of a dataset's molecules.parquet"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--molecules", type=Path, required=True, help="the standardize stage's molecules.parquet"
    )
    parser.add_argument("--shard", type=int, required=True, help="which shard to build (0-based)")
    parser.add_argument("--n-shards", type=int, required=True, help="number of shards")
    parser.add_argument(
        "--options", type=json_model(ConformerConfig), required=True, help="conformers section as JSON"
    )
    parser.add_argument(
        "--conformer-fraction",
        type=float,
        default=1.0,
        help="share of the molecules embedded; the others keep 2D features only (default 1)",
    )
    parser.add_argument("--out", type=Path, required=True, help="the shard's Parquet file")
    parser.add_argument("--threads", type=int, default=1, help="worker processes (default 1)")


def run(args: argparse.Namespace) -> None:
    from semmol.data.conformers import build_shard

    build_shard(
        args.molecules,
        shard=args.shard,
        n_shards=args.n_shards,
        options=args.options,
        out=args.out,
        conformer_fraction=args.conformer_fraction,
        threads=args.threads,
    )
