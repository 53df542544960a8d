"""``semmol schema``: write the JSON schema and the option reference generated from the typed config."""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = "write workflow/schemas/config.schema.json and the options of config/README.md from semmol.config"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, help="schema file to write; default: standard output")
    parser.add_argument("--docs", type=Path, help="config README whose generated option tables to rewrite")


def run(args: argparse.Namespace) -> None:
    from semmol.config import options_doc, schema_text

    if args.out is None:
        print(schema_text(), end="")
    else:
        args.out.write_text(schema_text())
    if args.docs is not None:
        args.docs.write_text(options_doc(args.docs.read_text()))
