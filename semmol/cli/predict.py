"""``semmol predict``: fine-tuned models on new molecules (one model, or a seed ensemble)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from semmol.cli.common import add_molecule_input, join_outputs, read_molecule_input

HELP = "predict properties of new molecules with fine-tuned models (several: their mean and spread)"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model",
        nargs="+",
        required=True,
        type=Path,
        help="fine-tuned results/finetune/<run>/<bench>/<split>-<seed> directories or model.pt files; "
        "several of one benchmark are a seed ensemble",
    )
    add_molecule_input(parser)
    parser.add_argument(
        "--output",
        type=Path,
        help="CSV or Parquet file to write (by suffix); default: CSV on standard output",
    )
    parser.add_argument("--batch-size", type=int, default=64, help="molecules per forward pass (default 64)")


def run(args: argparse.Namespace) -> None:
    import polars as pl
    import torch

    from semmol.inference.predict import Predictor, predict_smiles

    torch.set_num_threads(max(1, args.threads))
    predictors = [Predictor.load(path) for path in args.model]
    inputs, smiles = read_molecule_input(args)
    predictions = predict_smiles(predictors, smiles, threads=args.threads, batch_size=args.batch_size)
    table = pl.from_arrow(join_outputs(inputs, predictions.to_arrow()))
    if args.output is None:
        sys.stdout.write(table.write_csv())
    elif args.output.suffix.lower() == ".parquet":
        table.write_parquet(args.output)
    else:
        table.write_csv(args.output)
