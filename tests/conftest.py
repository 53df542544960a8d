"""Fixtures shared by every test module."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

#: Development data beside the checkout (MoleculeNet CSVs, ZINC250k); present on development
#: and CI machines, never needed by the package itself.
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
