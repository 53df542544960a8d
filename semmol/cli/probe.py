"""``semmol probe``: linear and kNN probes on a pretrained run's frozen embeddings of one benchmark split."""

from __future__ import annotations

import argparse
from pathlib import Path

from semmol.cli.common import json_model
from semmol.config import DatasetConfig

HELP = (
    "probe frozen features on one benchmark split: logistic/ridge and cosine kNN on the pretrained "
    "encoders, the same encoders at random initialisation, ECFP4 and RDKit 2D descriptors"
)


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model", type=Path, help="the run's pretrained model.pt (needed for the encoder feature sets)"
    )
    parser.add_argument("--molecules", type=Path, required=True, help="the benchmark's molecules.parquet")
    parser.add_argument(
        "--shards-manifest", type=Path, required=True, help="the benchmark's shards/manifest.json"
    )
    parser.add_argument("--split", type=Path, required=True, help="split JSON file (split stage)")
    parser.add_argument(
        "--dataset",
        type=json_model(DatasetConfig),
        required=True,
        help="the benchmark's dataset config as JSON (or @file.json)",
    )
    parser.add_argument(
        "--modalities", nargs="+", default=[], help="the views the run fine-tunes (finetune.modalities)"
    )
    parser.add_argument("--name", help="the run's name (none for fingerprints alone)")
    parser.add_argument(
        "--features",
        nargs="+",
        help="feature sets to probe, of pretrained, random_init, ecfp4, rdkit2d (default: all); "
        "ecfp4 and rdkit2d need no model",
    )
    parser.add_argument("--benchmark", required=True, help="benchmark name recorded in the results")
    parser.add_argument(
        "--seed", type=int, required=True, help="the split seed; seeds the random encoders too"
    )
    parser.add_argument("--out-dir", type=Path, required=True, help="result directory: metrics.json")
    parser.add_argument(
        "--label-fractions",
        type=float,
        nargs="+",
        default=[1.0],
        help="shares of the train labels each probe is fit on, each in (0, 1] (default: 1)",
    )
    parser.add_argument(
        "--batch-size", type=int, default=256, help="molecules per forward pass (default 256)"
    )
    parser.add_argument(
        "--random-init-store",
        type=Path,
        help="a directory where the random-init rows are kept for the other runs of the same "
        "architecture, and read from where one has computed them (default: always computed)",
    )
    parser.add_argument(
        "--stage-version", default="", help="the caller's probe-stage version, part of the store's key"
    )
    parser.add_argument("--threads", type=int, default=1, help="CPU threads (default: 1)")


def run(args: argparse.Namespace) -> None:
    import torch
    from threadpoolctl import threadpool_limits

    from semmol.evaluate.probe_stage import ENCODER_FEATURE_SETS, FEATURE_SETS, run_probe

    features = args.features or list(FEATURE_SETS)
    encoders = [name for name in ENCODER_FEATURE_SETS if name in features]
    if encoders and (args.model is None or not args.modalities or args.name is None):
        raise ValueError(f"feature sets {encoders} need --model, --modalities and --name")

    torch.set_num_threads(max(1, args.threads))
    with threadpool_limits(limits=max(1, args.threads)):  # numpy's and scikit-learn's BLAS too
        run_probe(
            args.model,
            molecules=args.molecules,
            shards_manifest=args.shards_manifest,
            split=args.split,
            dataset=args.dataset,
            modalities=args.modalities,
            run=args.name,
            benchmark=args.benchmark,
            seed=args.seed,
            out_dir=args.out_dir,
            label_fractions=args.label_fractions,
            batch_size=args.batch_size,
            feature_sets=features,
            random_init_store=args.random_init_store,
            stage_version=args.stage_version,
        )
