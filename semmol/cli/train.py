"""``semmol train``: the workflow on one's own table, from one command line.

It checks the table up front (:mod:`semmol.data.checks`), writes a config overlay that makes the
table the preset's only benchmark (:mod:`semmol.runtime.workflow_run`), runs Snakemake on the
repository's workflow in the output folder, and prints the results table, where the models are
and a ``semmol predict`` command that works as printed.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import logging
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, get_args

from semmol.config import SplitKind, TaskType

if TYPE_CHECKING:
    from semmol.runtime.workflow_run import PreparedRun

HELP = (
    "train and compare models on your own CSV: checks it, writes a config overlay and runs the workflow "
    "(pretrained and scratch rows, baselines), then prints the results table and a predict command"
)

log = logging.getLogger(__name__)

#: Exit status of a table or option that cannot be trained on (argparse's for usage errors).
BAD_INPUT_STATUS = 2
#: Molecules of the printed ``semmol predict`` example (those of ``make demo``).
EXAMPLE_SMILES = ("CCO", "c1ccccc1O")


def split_option(text: str) -> dict[str, str]:
    """``--split``: a split kind, or ``column:NAME``, as the ``split`` section's keys."""
    kind, sep, column = text.partition(":")
    if kind not in get_args(SplitKind) or (kind == "column") != bool(column) or (sep and kind != "column"):
        kinds = ", ".join(k for k in get_args(SplitKind) if k != "column")
        raise argparse.ArgumentTypeError(f"expected one of {kinds} or column:NAME, got '{text}'")
    return {"kind": kind, "column": column} if kind == "column" else {"kind": kind}


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text}")
    return value


def configure(parser: argparse.ArgumentParser) -> None:
    from semmol.runtime.workflow_run import PRESETS

    parser.add_argument(
        "data", type=Path, metavar="DATA.csv", help="the table: a SMILES column and label columns"
    )
    parser.add_argument(
        "--smiles-column", default="smiles", help="column holding the SMILES (default smiles)"
    )
    parser.add_argument(
        "--target-columns", nargs="+", required=True, metavar="Y", help="label columns, one model output each"
    )
    parser.add_argument("--task", required=True, choices=get_args(TaskType), help="what the labels are")
    parser.add_argument(
        "--preset",
        choices=list(PRESETS),
        default="demo",
        help="the experiment the table joins, its corpus, pretraining and runs ("
        + "; ".join(f"{name}: config/{file}" for name, file in PRESETS.items())
        + "; default demo)",
    )
    parser.add_argument(
        "--split",
        type=split_option,
        default={"kind": "scaffold"},
        metavar="KIND",
        help="scaffold (default), random, balanced_scaffold, column:NAME (the subsets column NAME names: "
        "train, valid or val, test) or none (final models on every row but an early-stopping hold-out; "
        "no test score)",
    )
    parser.add_argument(
        "--seeds", type=positive_int, metavar="N", help="fine-tuning seeds 0..N-1 (default: the preset's)"
    )
    parser.add_argument("--cores", type=positive_int, help="Snakemake's --cores (default: the profile's)")
    parser.add_argument(
        "--profile",
        type=Path,
        help="a Snakemake profile directory, e.g. profiles/slurm (default: profiles/default)",
    )
    parser.add_argument(
        "--out-dir",
        type=Path,
        help="the run's folder (default: a folder named after DATA in the current one)",
    )
    parser.add_argument(
        "--config-overlay",
        type=Path,
        action="append",
        default=[],
        metavar="EXTRA.yaml",
        help="a config file layered after the written overlay, e.g. smaller models or fewer epochs "
        "(repeatable; recorded in the re-run command)",
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="write the overlay and show Snakemake's plan only"
    )


def run(args: argparse.Namespace) -> None:
    from semmol.data.checks import InputError
    from semmol.runtime.workflow_run import TrainRequest, prepare_run

    request = TrainRequest(
        data=args.data,
        smiles_column=args.smiles_column,
        targets=args.target_columns,
        task=args.task,
        preset=args.preset,
        split=args.split,
        seeds=args.seeds,
        out_dir=args.out_dir,
        extra_configs=args.config_overlay,
    )
    try:
        # the stages' progress bars and warnings would bury the one line a refusal prints
        logging.disable(logging.WARNING)
        with contextlib.redirect_stderr(io.StringIO()):
            prepared = prepare_run(request)
    except InputError as error:
        print(f"semmol train: error: {error}", file=sys.stderr)
        raise SystemExit(BAD_INPUT_STATUS) from None
    finally:
        logging.disable(logging.NOTSET)
    check = prepared.check
    sizes = ", ".join(f"{subset} {size}" for subset, size in check.sizes.items())
    rejected = f"results/data/{prepared.name}/rejected.parquet"
    print(
        f"{prepared.data}: {check.records} rows, {check.molecules} molecules ({check.rejected} rejected, "
        f"each with its reason in {rejected}); {prepared.split_kind} split: {sizes}",
        file=sys.stderr,
    )
    print(f"config overlay: {prepared.overlay}", file=sys.stderr)
    command = prepared.snakemake_command(profile=args.profile, cores=args.cores, dry_run=args.dry_run)
    bin_dir = str(Path(sys.executable).parent)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}
    # Snakemake's progress goes to stderr; stdout keeps the summary below.
    status = subprocess.run(command, stdout=2, env=env, check=False).returncode
    if status != 0:
        print(
            f"semmol train: error: snakemake exited with status {status}; the jobs' logs are in "
            f"{_shown(prepared.out_dir / 'logs')}",
            file=sys.stderr,
        )
        raise SystemExit(status)
    if not args.dry_run:
        print_summary(prepared)


def _shown(path: Path) -> str:
    """``path`` relative to the current folder when it lies below it, else absolute."""
    path = path.resolve()
    try:
        return str(path.relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def predict_executable() -> list[str]:
    """How to call this semmol: ``semmol`` when that name on PATH is this environment's, else its
    Python with ``-m semmol``."""
    found = shutil.which("semmol")
    ours = Path(sys.executable).parent / "semmol"
    if found is not None and ours.exists() and Path(found).resolve() == ours.resolve():
        return ["semmol"]
    return [sys.executable, "-m", "semmol"]


def print_summary(prepared: PreparedRun) -> None:
    """The results table, the models and a working ``semmol predict`` command, on stdout."""
    from semmol.runtime.workflow_run import chosen_models

    summary = prepared.out_dir / "results" / "report" / "summary.md"
    lines = summary.read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| benchmark |"))
    end = next((i for i in range(start, len(lines)) if not lines[i].startswith("|")), len(lines))
    print(f"Results table ({_shown(summary)}):")
    print("\n".join(lines[start:end]))
    if prepared.split_kind == "none" or prepared.check.sizes["test"] == 0:
        print(
            "No test score (n/a): the split has no test rows, so these are final models for deployment, "
            "trained on every row but the validation hold-out used for early stopping."
        )
    choice = chosen_models(prepared)
    print("Fine-tuned models (model.pt in each folder):")
    for run, directories in choice.every_run.items():
        print(f"  {run}: " + " ".join(map(_shown, directories)))
    print(f"Predict new molecules with {choice.run} ({choice.why}):")
    command = [*predict_executable(), "predict", "--model", *map(_shown, choice.directories)]
    print("  " + shlex.join([*command, "--smiles", *EXAMPLE_SMILES]))
    print(f"  (or --input NEW.csv --smiles-column {prepared.smiles_column} --output predictions.csv)")
