"""``semmol schema``: print or write the JSON schema generated from the typed config."""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = "write the config JSON schema (workflow/schemas/config.schema.json) generated from semmol.config"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, help="file to write; default: standard output")


def run(args: argparse.Namespace) -> None:
    from semmol.config import schema_text

    if args.out is None:
        print(schema_text(), end="")
    else:
        args.out.write_text(schema_text())
