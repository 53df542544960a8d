"""Real conformer shards of a handful of molecules, shared by the shard and reader tests."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from semmol.config import ConformerConfig
from semmol.data.conformers import build_shard
from semmol.data.shards import gather


@dataclass(frozen=True)
class ShardSet:
    """A dataset's conformer-stage outputs and what they were built from."""

    molecules: Path  # molecules.parquet
    shards: list[Path]
    manifest: Path  # shards/manifest.json
    smiles: list[str]  # canonical SMILES, in mol_index order
    rows: list[int]  # source-row index of each molecule
    no_3d: list[int]  # mol_index of the molecules that cannot be embedded
    options: ConformerConfig


@pytest.fixture(scope="session")
def shard_set(tmp_path_factory: pytest.TempPathFactory) -> ShardSet:
    """Seven molecules in two shards (two MMFF conformers each), gathered into a manifest.

    The impossible norbornane (both bridgeheads '@', position 2) keeps only its 2D record.
    Source rows are ``2 * i + 1``, so tests can tell ``row`` from ``mol_index``.
    """
    smiles = [
        "CCO",
        "Oc1ccccc1",
        "C1C[C@H]2CC[C@H]1C2",
        "CC(=O)Nc1ccc(O)cc1",
        "C",
        "CCN(CC)CC",
        "O=C(O)[C@@H]1CCCN1",
    ]
    rows = [2 * i + 1 for i in range(len(smiles))]
    options = ConformerConfig(
        shards=2, n_conformers=2, mmff_max_iters=10, max_embed_attempts=1, ecfp_bits=128, timeout_s=10
    )
    directory = tmp_path_factory.mktemp("shard_set")
    molecules = directory / "molecules.parquet"
    pq.write_table(pa.table({"row": pa.array(rows, pa.int64()), "smiles": smiles}), molecules)
    shards = [directory / "shards" / f"{shard}.parquet" for shard in range(options.shards)]
    for shard, path in enumerate(shards):
        build_shard(molecules, shard=shard, n_shards=options.shards, options=options, out=path)
    manifest = directory / "shards" / "manifest.json"
    gather(shards, out=manifest)
    return ShardSet(molecules, shards, manifest, smiles, rows, no_3d=[2], options=options)
