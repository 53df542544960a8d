"""``semmol download-model``: fetch a pretrained model made elsewhere, checked before it is used."""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from semmol.cli.common import json_model
from semmol.config import PretrainGNNEncoderConfig, Source

HELP = "fetch a pretrained model.pt (hf, url, local or package source) and check that semmol can load it"

log = logging.getLogger(__name__)

#: What the fetched file of each ``--format`` is called in the output directory.
FETCHED_NAME = {"semmol": "model.pt", "pretrain_gnns": "pretrain_gnns.pth"}


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--name", required=True, help="what the model is for (recorded in the manifest)")
    parser.add_argument(
        "--source", required=True, type=json_model(Source, name="source"), help="the source as JSON"
    )
    parser.add_argument(
        "--out-dir", required=True, type=Path, help="directory receiving model.pt and manifest.json"
    )
    parser.add_argument(
        "--format",
        choices=sorted(FETCHED_NAME),
        default="semmol",
        help="semmol (a model.pt, default) or pretrain_gnns (a GNN state dict of Hu et al., converted "
        "into a model.pt of the graph2d_hu view)",
    )
    parser.add_argument(
        "--encoder",
        type=json_model(PretrainGNNEncoderConfig, name="encoder"),
        default=PretrainGNNEncoderConfig(),
        help="with --format pretrain_gnns: the graph2d_hu options (architecture, dim, layers) as JSON",
    )


def convert_pretrain_gnns(state_path: Path, encoder: PretrainGNNEncoderConfig, out: Path) -> dict:
    """Write to ``out`` a semmol model (the graph2d_hu view alone) holding the pretrain-gnns state
    dict at ``state_path``, loaded strictly; its projection head is drawn from seed 0.

    Returns:
        Manifest fields: the view, its architecture and the number of published parameters.

    Raises:
        ValueError: the file is no state dict (legacy or zip torch format, tensors only), or its
            names or shapes are not those of ``encoder``'s GNN.
    """
    import pickle

    import torch

    from semmol.config import ModelConfig
    from semmol.models.multimodal import MultiModalEncoder

    try:  # weights_only: a file holding Python objects is refused, not run
        state = torch.load(state_path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError) as error:
        raise ValueError(f"{state_path}: not a readable state dict: {error}") from None
    if not isinstance(state, dict):
        raise ValueError(f"{state_path}: holds a {type(state).__name__}, not a state dict")
    with torch.random.fork_rng():
        torch.manual_seed(0)
        # ecfp_bits 0: the model has no fingerprint view
        model = MultiModalEncoder(
            ModelConfig(graph2d_hu=encoder), modalities=["graph2d_hu"], vocab=None, ecfp_bits=0
        )
    try:
        model.encoders["graph2d_hu"].gnn.load_state_dict(state, strict=True)
    except RuntimeError as error:
        raise ValueError(
            f"{state_path}: not the weights of a {encoder.layers}-layer {encoder.architecture} of size "
            f"{encoder.dim} (model.graph2d_hu): {' '.join(str(error).split())[:600]}"
        ) from None
    model.save(out, extra={"published": {"format": "pretrain_gnns", "architecture": encoder.architecture}})
    return {
        "modalities": model.modalities,
        "architecture": encoder.architecture,
        "parameters": sum(tensor.numel() for tensor in state.values()),
    }


def run(args: argparse.Namespace) -> None:
    from semmol.data.sources import fetch_file
    from semmol.models.multimodal import MultiModalEncoder

    def check_model(path: Path) -> dict:
        model, _ = MultiModalEncoder.load(path)  # weights_only: a crafted file is refused here
        return {"modalities": model.modalities, "parameters": sum(p.numel() for p in model.parameters())}

    def convert(path: Path) -> dict:
        return convert_pretrain_gnns(path, args.encoder, args.out_dir / "model.pt")

    describe = check_model if args.format == "semmol" else convert
    manifest = fetch_file(
        args.source,
        name=args.name,
        out_dir=args.out_dir,
        filename=FETCHED_NAME[args.format],
        describe=describe,
    )
    record = json.loads(manifest.read_text())
    log.info(
        "%s: pretrained %s from %s (sha256 %s, %d parameters)",
        args.name,
        ", ".join(record["modalities"]),
        record["origin"],
        record["sha256"],
        record["parameters"],
    )
