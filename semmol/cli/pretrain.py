"""``semmol pretrain``: multimodal pretraining on corpus shards (launch with ``torchrun``)."""

from __future__ import annotations

import argparse
from pathlib import Path

from semmol.cli.common import json_model
from semmol.config import PretrainJob

HELP = "pretrain the multimodal encoders on the corpus shards (torchrun for several processes)"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--job", type=json_model(PretrainJob), required=True, help="model/pretrain/semantic sections as JSON"
    )
    parser.add_argument("--shards-manifest", type=Path, required=True, help="the corpus shards/manifest.json")
    parser.add_argument("--out-dir", type=Path, required=True, help="results/pretrain/<run>")
    parser.add_argument(
        "--stop-after",
        type=int,
        default=None,
        help="end the process after this many steps (tests of resuming)",
    )


def run(args: argparse.Namespace) -> None:
    from semmol.train.pretrain import pretrain

    pretrain(args.job, shards_manifest=args.shards_manifest, out_dir=args.out_dir, stop_after=args.stop_after)
