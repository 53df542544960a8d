"""``semmol gather``: check a dataset's shards and write shards/manifest.json."""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = "check that conformer shards form a complete set and write their manifest"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, required=True, help="manifest.json to write")
    parser.add_argument("shards", type=Path, nargs="+", help="the shard files")


def run(args: argparse.Namespace) -> None:
    from semmol.data.shards import gather

    gather(args.shards, out=args.out)
