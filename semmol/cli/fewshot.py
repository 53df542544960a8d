"""``semmol fewshot``: one row of the few-shot table (Meta-MM, transfer, RF, prototypes) for one seed."""

from __future__ import annotations

import argparse
from pathlib import Path

from semmol.cli.common import json_model
from semmol.config import FewShotConfig, ModelConfig

HELP = "fit a few-shot learner on the meta-training tasks and score it on episodes of the held-out tasks"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--row", required=True, help="the row's name in the few-shot table")
    parser.add_argument(
        "--learner", required=True, choices=["maml", "transfer", "rf", "protonet"], help="the learner"
    )
    parser.add_argument(
        "--options", type=json_model(FewShotConfig), required=True, help="the fewshot section as JSON"
    )
    parser.add_argument(
        "--model", type=json_model(ModelConfig), required=True, help="the model section as JSON"
    )
    parser.add_argument("--molecules", type=Path, required=True, help="the benchmark's molecules.parquet")
    parser.add_argument("--shards-manifest", type=Path, required=True, help="its shards/manifest.json")
    parser.add_argument("--seed", type=int, required=True, help="seed of the episodes and the training")
    parser.add_argument("--pretrained", type=Path, default=None, help="a pretrained model.pt to start from")
    parser.add_argument("--out-dir", type=Path, required=True, help="where metrics.json goes")


def run(args: argparse.Namespace) -> None:
    from semmol.fewshot.stage import run_fewshot

    run_fewshot(
        row=args.row,
        learner=args.learner,
        options=args.options,
        model=args.model,
        molecules=args.molecules,
        shards_manifest=args.shards_manifest,
        seed=args.seed,
        pretrained=args.pretrained,
        out_dir=args.out_dir,
    )
