"""``semmol aggregate``: results and data tables (CSV, Markdown, HTML) and plots over every run and seed."""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = (
    "write summary.csv, summary.md, summary.html, data.csv and plots/*.png from fine-tuning and baseline"
    " metrics.json files"
)


def _name_and_path(text: str) -> tuple[str, Path]:
    name, sep, path = text.partition("=")
    if not sep or not name or not path:
        raise argparse.ArgumentTypeError(f"expected NAME=PATH, got '{text}'")
    return name, Path(path)


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--out-dir",
        type=Path,
        required=True,
        help="directory of summary.csv, summary.md, summary.html, data.csv and plots/",
    )
    parser.add_argument(
        "--pretrain-metrics",
        type=_name_and_path,
        action="append",
        default=[],
        metavar="RUN=PATH",
        help="a pretraining run's metrics.jsonl, for the loss curves (repeatable)",
    )
    parser.add_argument(
        "--center-snapshots",
        type=_name_and_path,
        action="append",
        default=[],
        metavar="RUN=DIR",
        help="a SemMol run's directory of center-library snapshots, for the centers plot (repeatable)",
    )
    parser.add_argument(
        "--dataset-report",
        type=_name_and_path,
        action="append",
        default=[],
        metavar="DATASET=DIR",
        help="a dataset's directory (results/data/DATASET: standardize.json, shards/manifest.json),"
        " for the data table (repeatable)",
    )
    parser.add_argument(
        "--fewshot-metrics",
        type=Path,
        action="append",
        default=[],
        metavar="PATH",
        help="a metrics.json of the few-shot stage, for the few-shot section (repeatable)",
    )
    parser.add_argument(
        "--probe-metrics",
        type=Path,
        action="append",
        default=[],
        metavar="PATH",
        help="a metrics.json of the probe stage, for the Probes section (repeatable)",
    )
    parser.add_argument(
        "--no-published",
        dest="published",
        action="store_false",
        help="leave out the published reference figures",
    )
    parser.add_argument(
        "metrics",
        type=Path,
        nargs="*",
        metavar="METRICS.json",
        help="fine-tuning and baseline results; those of a label fraction below 1 make the Label"
        " efficiency section (none: a page of few-shot or probe tables only)",
    )


def run(args: argparse.Namespace) -> None:
    from semmol.evaluate.aggregate import aggregate

    for option, what, pairs in (
        ("--pretrain-metrics", "run(s)", args.pretrain_metrics),
        ("--center-snapshots", "run(s)", args.center_snapshots),
        ("--dataset-report", "dataset(s)", args.dataset_report),
    ):
        names = [name for name, _ in pairs]
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise ValueError(f"{option} names {what} {repeated} more than once")
    aggregate(
        args.metrics,
        out_dir=args.out_dir,
        pretrain_logs=dict(args.pretrain_metrics),
        center_snapshots=dict(args.center_snapshots),
        datasets=dict(args.dataset_report),
        fewshot=args.fewshot_metrics,
        probes=args.probe_metrics,
        include_published=args.published,
    )
