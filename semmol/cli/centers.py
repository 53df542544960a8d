"""``semmol centers``: the center library of a pretrained run over the whole corpus (FAISS k-means)."""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = "embed the corpus with a pretrained model and cluster each modality into a center library"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", type=Path, required=True, help="the run's pretrained model.pt")
    parser.add_argument("--shards-manifest", type=Path, required=True, help="the corpus shards/manifest.json")
    parser.add_argument("--n-centers", type=int, required=True, help="centers per modality")
    parser.add_argument("--out-dir", type=Path, required=True, help="results/pretrain/<run>/centers")
    parser.add_argument("--seed", type=int, default=0, help="k-means seed (default 0)")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads (default 1)")


def run(args: argparse.Namespace) -> None:
    import faiss
    import torch

    from semmol.data.reader import ShardDataset
    from semmol.data.shards import shard_paths
    from semmol.inference.centers import build_library
    from semmol.inference.embed import embed_dataset
    from semmol.models.multimodal import MultiModalEncoder

    torch.set_num_threads(args.threads)
    faiss.omp_set_num_threads(args.threads)
    model, _ = MultiModalEncoder.load(args.model)
    dataset = ShardDataset(
        shard_paths(args.shards_manifest), conformers="all", images="image" in model.modalities
    )
    embeddings = embed_dataset(model, dataset, modalities=model.modalities)
    build_library(embeddings, n_centers=args.n_centers, seed=args.seed, out_dir=args.out_dir)
