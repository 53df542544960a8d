"""Entry point of the ``semmol`` command.

Each subcommand lives in ``semmol/cli/<name>.py`` and defines ``HELP``, ``configure(parser)``
and ``run(args)``; modules are found by name, so adding a subcommand touches no other file.
Modules import only argparse-level code at the top and their heavy dependencies (torch,
RDKit) inside ``run``, so ``semmol --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import pkgutil
import sys

import semmol.cli

#: Modules of ``semmol.cli`` that are helpers, not subcommands.
_NOT_SUBCOMMANDS = {"main", "common"}


def subcommands() -> list[str]:
    """Names of the subcommand modules, sorted."""
    names = (info.name for info in pkgutil.iter_modules(semmol.cli.__path__))
    return sorted(name.replace("_", "-") for name in names if name not in _NOT_SUBCOMMANDS)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="semmol", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in subcommands():
        module = importlib.import_module(f"semmol.cli.{name.replace('-', '_')}")
        sub = subparsers.add_parser(name, help=module.HELP, description=module.HELP)
        module.configure(sub)
        sub.set_defaults(handler=module.run)
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    logging.getLogger("faiss").setLevel(logging.WARNING)  # it reports which CPU build it loaded
    try:
        args.handler(args)
    except (ValueError, FileNotFoundError, KeyError) as error:
        # Input problems: one clear line naming what is wrong, no traceback.
        logging.getLogger("semmol").debug("details", exc_info=True)
        sys.exit(f"semmol {args.command}: error: {error}")
