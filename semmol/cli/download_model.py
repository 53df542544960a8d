"""``semmol download-model``: fetch a pretrained model made elsewhere, checked before it is used."""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from semmol.cli.common import json_model
from semmol.config import Source

HELP = "fetch a pretrained model.pt (hf, url, local or package source) and check that semmol can load it"

log = logging.getLogger(__name__)


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--name", required=True, help="what the model is for (recorded in the manifest)")
    parser.add_argument(
        "--source", required=True, type=json_model(Source, name="source"), help="the source as JSON"
    )
    parser.add_argument(
        "--out-dir", required=True, type=Path, help="directory receiving model.pt and manifest.json"
    )


def run(args: argparse.Namespace) -> None:
    from semmol.data.sources import fetch_file
    from semmol.models.multimodal import MultiModalEncoder

    def check_model(path: Path) -> dict:
        model, _ = MultiModalEncoder.load(path)  # weights_only: a crafted file is refused here
        return {"modalities": model.modalities, "parameters": sum(p.numel() for p in model.parameters())}

    manifest = fetch_file(
        args.source, name=args.name, out_dir=args.out_dir, filename="model.pt", describe=check_model
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
