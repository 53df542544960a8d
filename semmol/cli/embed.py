"""``semmol embed``: per-modality embeddings of new molecules from a pretrained (or fine-tuned) model."""

from __future__ import annotations

import argparse
from pathlib import Path

from semmol.cli.common import add_molecule_input, join_outputs, read_molecule_input

HELP = "embed new molecules with a model's encoders: one fixed-size vector column per modality"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model",
        required=True,
        type=Path,
        help="results/pretrain/<run> (or a fine-tuned result) or its model.pt",
    )
    add_molecule_input(parser)
    parser.add_argument("--output", required=True, type=Path, help="Parquet file to write")
    parser.add_argument("--modalities", nargs="+", help="views to embed (default: every view of the model)")
    parser.add_argument(
        "--batch-size", type=int, default=256, help="molecules per forward pass (default 256)"
    )
    parser.add_argument(
        "--centers",
        type=Path,
        help="a run's corpus center library (results/pretrain/<run>/centers): adds each view's nearest "
        "center and its cosine",
    )


def run(args: argparse.Namespace) -> None:
    import pyarrow.parquet as pq
    import torch

    from semmol.inference.centers import CorpusLibrary
    from semmol.inference.embed import add_nearest_centers, embed_smiles, load_encoder
    from semmol.runtime.atomic import atomic_path

    torch.set_num_threads(max(1, args.threads))
    encoder, featurization = load_encoder(args.model)
    inputs, smiles = read_molecule_input(args)
    embedded = embed_smiles(
        encoder,
        smiles,
        featurization=featurization,
        modalities=args.modalities,
        threads=args.threads,
        batch_size=args.batch_size,
    )
    if args.centers is not None:
        embedded = add_nearest_centers(embedded, CorpusLibrary(args.centers))
    with atomic_path(args.output) as tmp:
        pq.write_table(join_outputs(inputs, embedded), tmp)
