"""Fixtures shared by every test module."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

#: Development data beside the checkout (MoleculeNet CSVs, ZINC250k); present on development
#: and CI machines, never needed by the package itself.
#: The label column of esol.csv.
ESOL_TARGET = "measured log solubility in mols per litre"

SHARED_DATA = Path(os.environ.get("SEMMOL_SHARED_DATA", ROOT.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def moleculenet_dir() -> Path:
    """The local MoleculeNet mirror (bbbp.csv, esol.csv, lipophilicity.csv, tox21.csv)."""
    path = SHARED_DATA / "moleculenet"
    if not path.is_dir():
        pytest.fail(f"{path} not found: set SEMMOL_SHARED_DATA to the development data directory")
    return path


@pytest.fixture(scope="session")
def zinc_csv() -> Path:
    """The local ZINC250k CSV (column 'smiles')."""
    path = SHARED_DATA / "zinc250k" / "zinc250k.csv"
    if not path.is_file():
        pytest.fail(f"{path} not found: set SEMMOL_SHARED_DATA to the development data directory")
    return path


@pytest.fixture(scope="session")
def tiny_benchmark(tmp_path_factory, moleculenet_dir) -> dict[str, Path]:
    """The first 48 ESOL records through standardize, conformers (2 shards) and a scaffold split.

    Returns paths: ``molecules`` (molecules.parquet), ``manifest`` (shards/manifest.json) and
    ``split`` (scaffold split JSON); usable as a small corpus and as a benchmark.
    """
    from semmol.config import ConformerConfig, DatasetConfig, StandardizeConfig
    from semmol.data.conformers import build_shard
    from semmol.data.shards import gather
    from semmol.data.splits import make_split, write_split
    from semmol.data.standardize import standardize

    out = tmp_path_factory.mktemp("tiny_benchmark")
    source = moleculenet_dir / "esol.csv"
    dataset = DatasetConfig(
        source={"kind": "local", "path": str(source)},
        targets=[ESOL_TARGET],
        task="regression",
        max_rows=48,
    )
    standardize(source, dataset=dataset, options=StandardizeConfig(), benchmark=True, out_dir=out)
    options = ConformerConfig(n_conformers=2, mmff_max_iters=20, ecfp_bits=256, timeout_s=5)
    shards = [out / "shards" / f"{i}.parquet" for i in range(2)]
    for i, shard in enumerate(shards):
        build_shard(out / "molecules.parquet", shard=i, n_shards=2, options=options, out=shard)
    gather(shards, out=out / "shards" / "manifest.json")
    split = make_split(
        source, smiles_column="smiles", kind="scaffold", fractions=(0.8, 0.1, 0.1), seed=0, max_rows=48
    )
    write_split(split, out / "split.json")
    return {
        "molecules": out / "molecules.parquet",
        "manifest": out / "shards" / "manifest.json",
        "split": out / "split.json",
    }
