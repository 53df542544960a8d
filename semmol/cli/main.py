"""Entry point of the ``semmol`` command.

Each subcommand lives in ``semmol/cli/<name>.py`` and defines ``HELP``, ``configure(parser)``
and ``run(args)``; modules are found by name, so adding a pipeline stage touches no other file
(a command for users is also named in ``USER_COMMANDS``, which ``semmol --help`` lists first).
Modules import only argparse-level code at the top and their heavy dependencies (torch,
RDKit) inside ``run``, so ``semmol --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import pkgutil
import sys
import textwrap

import semmol.cli

#: Modules of ``semmol.cli`` that are helpers, not subcommands.
_NOT_SUBCOMMANDS = {"main", "common"}

#: Subcommands for people using semmol, in the order ``semmol --help`` lists them; every other
#: subcommand is a pipeline stage, which the workflow's rules run.
USER_COMMANDS = ("train", "predict", "embed", "download-model", "lock", "aggregate", "bench", "schema")

DESCRIPTION = (
    "semmol: semantic-level multimodal molecular representation learning (SemMol, MMSA, LGM-CL,"
    " Meta-MM) as a Snakemake pipeline, and the commands that use its models."
)


def subcommands() -> list[str]:
    """Names of the subcommand modules, sorted."""
    names = (info.name for info in pkgutil.iter_modules(semmol.cli.__path__))
    return sorted(name.replace("_", "-") for name in names if name not in _NOT_SUBCOMMANDS)


def pipeline_stages() -> list[str]:
    """Names of the subcommands that are not user commands, sorted."""
    return [name for name in subcommands() if name not in USER_COMMANDS]


#: Width of ``semmol --help``'s text, and the column at which a command's help starts.
_WIDTH, _HELP_COLUMN = 100, 18


def _command_list(title: str, helps: dict[str, str]) -> str:
    """A titled list of commands, each with its help wrapped beside the name."""
    lines = [f"{title}:"]
    for name, help_text in helps.items():
        first = f"  {name}".ljust(_HELP_COLUMN)
        lines.append(
            textwrap.fill(
                help_text,
                _WIDTH,
                initial_indent=first,
                subsequent_indent=" " * _HELP_COLUMN,
                break_on_hyphens=False,
            )
        )
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    modules = {name: importlib.import_module(f"semmol.cli.{name.replace('-', '_')}") for name in subcommands()}
    epilog = "\n\n".join(
        [
            _command_list("commands", {name: modules[name].HELP for name in USER_COMMANDS}),
            _command_list(
                "pipeline stages (the workflow's rules run these; see docs/cli.md)",
                {name: modules[name].HELP for name in pipeline_stages()},
            ),
            "semmol COMMAND --help gives a command's options.",
        ]
    )
    parser = argparse.ArgumentParser(
        prog="semmol",
        description=textwrap.fill(DESCRIPTION, _WIDTH),
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    # The commands are listed in the epilog, grouped; add_parser without help= keeps argparse
    # from listing them again, alphabetically and ungrouped.
    subparsers = parser.add_subparsers(
        dest="command", required=True, metavar="COMMAND", help="a command or pipeline stage below"
    )
    for name, module in modules.items():
        sub = subparsers.add_parser(name, description=module.HELP)
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
