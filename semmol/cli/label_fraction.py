"""``semmol label-fraction``: a split file whose train subset is cut to a share of its molecules."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

HELP = "cut a split's train subset to a nested share of its molecules (label-efficiency curves)"

log = logging.getLogger(__name__)


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--split", type=Path, required=True, help="split JSON file (split stage)")
    parser.add_argument("--molecules", type=Path, required=True, help="the benchmark's molecules.parquet")
    parser.add_argument(
        "--fraction", type=float, required=True, help="share of the train subset kept, in (0, 1]"
    )
    parser.add_argument("--out", type=Path, required=True, help="split JSON file to write")


def run(args: argparse.Namespace) -> None:
    from semmol.data.label_fractions import label_fraction_split
    from semmol.data.splits import write_split

    record = label_fraction_split(args.split, args.molecules, fraction=args.fraction)
    write_split(record, args.out)
    log.info(
        "%s: %d of %d train molecules (label fraction %g) -> %s",
        args.split,
        record["sizes"]["train"],
        record["train_before_fraction"],
        args.fraction,
        args.out,
    )
