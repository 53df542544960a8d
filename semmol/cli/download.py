"""``semmol download``: fetch a dataset's file from its source and write ``manifest.json`` beside it."""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from semmol.cli.common import json_model
from semmol.config import DatasetConfig

HELP = "fetch a dataset's file (hf, url, local or package source) into a directory with its manifest.json"

log = logging.getLogger(__name__)


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--name", required=True, help="the dataset's name (recorded in the manifest)")
    parser.add_argument(
        "--dataset",
        required=True,
        type=json_model(DatasetConfig),
        help="the dataset entry (DatasetConfig) as JSON, or @file.json",
    )
    parser.add_argument(
        "--out-dir", required=True, type=Path, help="directory receiving the data file and manifest.json"
    )
    parser.add_argument(
        "--lock",
        type=Path,
        help="sources lock file: the first download records the source's resolved commit and sha256 "
        "there, later ones are fetched at that commit and must match (the workflow passes config/sources.lock)",
    )


def run(args: argparse.Namespace) -> None:
    from semmol.data.lock import SourcesLock
    from semmol.data.sources import fetch

    lock = None if args.lock is None else SourcesLock(args.lock)
    manifest = fetch(args.dataset, name=args.name, out_dir=args.out_dir, lock=lock)
    record = json.loads(manifest.read_text())
    log.info(
        "%s: %s from %s (sha256 %s, %d rows, revision %s)",
        args.name,
        record["file"],
        record["origin"],
        record["sha256"],
        record["rows"],
        record["revision"],
    )
