"""``semmol finetune``: fine-tune on one benchmark split and seed; write metrics and predictions."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from semmol.cli.common import json_model
from semmol.config import FinetuneJob

HELP = "fine-tune (pretrained or fresh) encoders on one benchmark split and seed"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--job", type=json_model(FinetuneJob), required=True, help="dataset/model/finetune sections as JSON"
    )
    parser.add_argument("--name", required=True, help="the run's name")
    parser.add_argument("--benchmark", required=True, help="the benchmark's name")
    parser.add_argument("--molecules", type=Path, required=True, help="the benchmark's molecules.parquet")
    parser.add_argument(
        "--shards-manifest", type=Path, required=True, help="the benchmark's shards/manifest.json"
    )
    parser.add_argument("--split", type=Path, required=True, help="the split JSON")
    parser.add_argument("--seed", type=int, required=True, help="seed of this fine-tuning")
    parser.add_argument(
        "--pretrained", type=Path, default=None, help="pretrained model.pt (omit: from scratch)"
    )
    parser.add_argument(
        "--out-dir", type=Path, required=True, help="where metrics.json, predictions.parquet, model.pt go"
    )


def run(args: argparse.Namespace) -> None:
    import torch

    from semmol.train.finetune import finetune

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", torch.get_num_threads())))
    finetune(
        args.job,
        run=args.name,
        benchmark=args.benchmark,
        molecules=args.molecules,
        shards_manifest=args.shards_manifest,
        split=args.split,
        seed=args.seed,
        pretrained=args.pretrained,
        out_dir=args.out_dir,
    )
