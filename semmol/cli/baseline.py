"""``semmol baseline``: a baseline (random forest on ECFP4, or chemprop) for one benchmark split and seed."""

from __future__ import annotations

import argparse
from pathlib import Path

from semmol.cli.common import json_model
from semmol.config import BaselineConfig, DatasetConfig

HELP = "train and score a baseline (rf_ecfp4: random forest on ECFP4; chemprop: its D-MPNN) on one benchmark split"

#: Baseline names, as in result directories and the results table.
KINDS = ("rf_ecfp4", "chemprop")


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--kind", choices=KINDS, default="rf_ecfp4", help="which baseline (default rf_ecfp4)")
    parser.add_argument("--molecules", type=Path, required=True, help="the benchmark's molecules.parquet")
    parser.add_argument("--split", type=Path, required=True, help="split JSON file (split stage)")
    parser.add_argument(
        "--dataset",
        type=json_model(DatasetConfig),
        required=True,
        help="the benchmark's dataset config as JSON (or @file.json)",
    )
    parser.add_argument(
        "--options",
        type=json_model(BaselineConfig),
        required=True,
        help="the config's baseline section as JSON (or @file.json)",
    )
    parser.add_argument("--benchmark", required=True, help="benchmark name recorded in the results")
    parser.add_argument(
        "--seed", type=int, required=True, help="random state of the forests, or chemprop's seeds"
    )
    parser.add_argument(
        "--out-dir", type=Path, required=True, help="result directory: metrics.json, predictions.parquet"
    )
    parser.add_argument("--threads", type=int, default=1, help="CPU threads (default: 1)")


def run(args: argparse.Namespace) -> None:
    from semmol.evaluate.baseline import run_baseline
    from semmol.evaluate.chemprop import run_chemprop

    train, options = (
        (run_baseline, args.options) if args.kind == "rf_ecfp4" else (run_chemprop, args.options.chemprop)
    )
    train(
        args.molecules,
        args.split,
        dataset=args.dataset,
        options=options,
        benchmark=args.benchmark,
        seed=args.seed,
        out_dir=args.out_dir,
        threads=args.threads,
    )
