"""``semmol aggregate``: the results table (CSV, Markdown) and plots over every run, benchmark and seed."""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = "write summary.csv, summary.md and plots/*.png from fine-tuning and baseline metrics.json files"


def _run_and_path(text: str) -> tuple[str, Path]:
    run, sep, path = text.partition("=")
    if not sep or not run or not path:
        raise argparse.ArgumentTypeError(f"expected RUN=PATH, got '{text}'")
    return run, Path(path)


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--out-dir", type=Path, required=True, help="directory of summary.csv, summary.md and plots/"
    )
    parser.add_argument(
        "--pretrain-metrics",
        type=_run_and_path,
        action="append",
        default=[],
        metavar="RUN=PATH",
        help="a pretraining run's metrics.jsonl, for the loss curves (repeatable)",
    )
    parser.add_argument(
        "--center-snapshots",
        type=_run_and_path,
        action="append",
        default=[],
        metavar="RUN=DIR",
        help="a SemMol run's directory of center-library snapshots, for the centers plot (repeatable)",
    )
    parser.add_argument(
        "--no-published",
        dest="published",
        action="store_false",
        help="leave out the published reference figures",
    )
    parser.add_argument(
        "metrics", type=Path, nargs="+", metavar="METRICS.json", help="fine-tuning and baseline results"
    )


def run(args: argparse.Namespace) -> None:
    from semmol.evaluate.aggregate import aggregate

    for option, pairs in (
        ("--pretrain-metrics", args.pretrain_metrics),
        ("--center-snapshots", args.center_snapshots),
    ):
        runs = [run for run, _ in pairs]
        repeated = sorted({run for run in runs if runs.count(run) > 1})
        if repeated:
            raise ValueError(f"{option} names run(s) {repeated} more than once")
    aggregate(
        args.metrics,
        out_dir=args.out_dir,
        pretrain_logs=dict(args.pretrain_metrics),
        center_snapshots=dict(args.center_snapshots),
        include_published=args.published,
    )
