"""Gathering conformer shards into ``shards/manifest.json``, and finding them again.

The manifest lists the shard files (relative to itself), the totals over shards (statuses,
failure rate, CPU time, throughput) and the options the shards were built with, which later
stages read instead of the config (e.g. the fingerprint length).
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from semmol.data.schema import (
    SHARD_METADATA_KEY,
    STATUS_EMBED_FAILED,
    STATUS_MMFF_FAILED,
    STATUS_NOT_EMBEDDED,
    STATUS_TIMEOUT,
    STATUSES,
    ShardError,
)

log = logging.getLogger(__name__)


def shard_summary(path: str | Path) -> dict:
    """The summary a shard file carries in its metadata (written by the conformers stage)."""
    path = Path(path)
    try:
        metadata = pq.read_schema(path).metadata or {}
    except FileNotFoundError:
        raise ShardError(f"{path}: shard file not found; re-run the conformers stage") from None
    except (pa.ArrowException, OSError) as error:
        raise ShardError(f"{path}: not a readable Parquet shard (truncated or corrupted?): {error}") from None
    if SHARD_METADATA_KEY not in metadata:
        raise ShardError(f"{path}: not a semmol shard (no '{SHARD_METADATA_KEY.decode()}' metadata)")
    return json.loads(metadata[SHARD_METADATA_KEY])


def gather(shards: list[Path], *, out: Path) -> dict:
    """Check that ``shards`` form one complete set and write their manifest to ``out``.

    Raises:
        ShardError: a shard is unreadable, missing from the set, duplicated, or built with
            other options than the rest.
    """
    summaries = sorted((shard_summary(path) | {"file": path} for path in shards), key=lambda s: s["shard"])
    first = summaries[0]
    for summary in summaries:
        for key in ("n_shards", "total_molecules", "options"):
            if summary[key] != first[key]:
                raise ShardError(
                    f"{summary['file']}: {key} {summary[key]!r} differs from {first['file']}'s {first[key]!r}; "
                    "re-run the conformers stage for every shard"
                )
    found = [summary["shard"] for summary in summaries]
    if found != list(range(first["n_shards"])):
        files = ", ".join(f"{summary['file']} (shard {summary['shard']})" for summary in summaries)
        raise ShardError(
            f"shards {found} given, expected 0..{first['n_shards'] - 1} exactly once each: {files}"
        )
    molecules = sum(summary["molecules"] for summary in summaries)
    if molecules != first["total_molecules"]:
        raise ShardError(
            f"shards hold {molecules} molecules, molecules.parquet has {first['total_molecules']}"
        )
    # .get: shards written before "not_embedded" was a status do not count it (they have none)
    statuses = {
        status: sum(summary["statuses"].get(status, 0) for summary in summaries) for status in STATUSES
    }
    no_3d = statuses[STATUS_EMBED_FAILED] + statuses[STATUS_TIMEOUT]
    cpu_seconds = sum(summary["cpu_seconds"] for summary in summaries)
    manifest = {
        "molecules": molecules,
        "statuses": statuses,
        "failure_rate": no_3d / molecules,  # molecules whose embedding failed
        "mmff_failure_rate": statuses[STATUS_MMFF_FAILED] / molecules,
        "cpu_seconds": cpu_seconds,
        "molecules_per_cpu_second": molecules / cpu_seconds if cpu_seconds else None,
        "wall_seconds": sum(summary["wall_seconds"] for summary in summaries),
        "options": first["options"],
        "ecfp_bits": first["options"]["ecfp_bits"],
        "n_conformers": first["options"]["n_conformers"],
        "shards": [
            {
                "file": os.path.relpath(summary["file"], out.parent),
                "molecules": summary["molecules"],
                "mol_range": summary["mol_range"],
                "statuses": summary["statuses"],
                "cpu_seconds": summary["cpu_seconds"],
            }
            for summary in summaries
        ],
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(manifest, indent=2) + "\n")
    log.info(
        "%s: %d molecules in %d shards; %.2f%% failed to embed, %d not embedded by choice, "
        "%.1f molecules per CPU-second",
        out,
        molecules,
        len(summaries),
        100 * manifest["failure_rate"],
        statuses[STATUS_NOT_EMBEDDED],
        manifest["molecules_per_cpu_second"] or 0.0,
    )
    return manifest


def read_manifest(path: str | Path) -> dict:
    """A ``shards/manifest.json``, with a clear error when it is missing or malformed."""
    path = Path(path)
    try:
        manifest = json.loads(path.read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: shard manifest not found; run the conformers stage first") from None
    except json.JSONDecodeError as error:
        raise ShardError(f"{path}: malformed shard manifest: {error}") from None
    if "shards" not in manifest:
        raise ShardError(f"{path}: not a shard manifest (no 'shards' list)")
    return manifest


def shard_paths(manifest: str | Path) -> list[Path]:
    """The shard files a manifest lists, resolved against the manifest's directory."""
    manifest = Path(manifest)
    return [manifest.parent / shard["file"] for shard in read_manifest(manifest)["shards"]]
