"""Atom and bond featurization: small categorical indices, one column per feature.

Every feature is an index into a fixed vocabulary (sizes in :mod:`semmol.data.feature_sizes`,
which needs no RDKit); the last index of each vocabulary means "other". Encoders embed each
column and sum the embeddings (as OGB's AtomEncoder does), so the stored arrays stay int16.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from rdkit import Chem, DataStructs
from rdkit.Chem import Descriptors, MACCSkeys, rdFingerprintGenerator, rdReducedGraphs
from rdkit.Chem.Draw import rdMolDraw2D

from semmol.data.feature_sizes import (
    ATOM_FEATURES,
    BOND_FEATURES,
    BOND_STEREO,
    BOND_TYPES,
    CHIRALITY,
    HYBRIDIZATION,
    MACCS_BITS,
)

_CHIRALITY = [Chem.ChiralType.names[name] for name in CHIRALITY]
_HYBRIDIZATION = [Chem.HybridizationType.names[name] for name in HYBRIDIZATION]
_BOND_TYPES = [Chem.BondType.names[name] for name in BOND_TYPES]
_BOND_STEREO = [Chem.BondStereo.names[name] for name in BOND_STEREO]


def _index(value, choices: list) -> int:
    """Position of ``value`` in ``choices``; ``len(choices)`` (the "other" slot) if absent."""
    try:
        return choices.index(value)
    except ValueError:
        return len(choices)


def _bounded(value: int, low: int, high: int) -> int:
    """``value - low`` if ``low <= value <= high``, else the "other" slot ``high - low + 1``."""
    return value - low if low <= value <= high else high - low + 1


def atom_features(mol: Chem.Mol) -> np.ndarray:
    """Categorical atom features, shape ``[num_atoms, len(ATOM_FEATURES)]``, int16."""
    rows = [
        (
            _bounded(atom.GetAtomicNum(), 0, 118) if atom.GetAtomicNum() > 0 else 119,
            _index(atom.GetChiralTag(), _CHIRALITY),
            _bounded(atom.GetDegree(), 0, 5),
            _bounded(atom.GetFormalCharge(), -3, 3),
            _bounded(atom.GetTotalNumHs(), 0, 4),
            _index(atom.GetHybridization(), _HYBRIDIZATION),
            int(atom.GetIsAromatic()),
            int(atom.IsInRing()),
        )
        for atom in mol.GetAtoms()
    ]
    return np.asarray(rows, dtype=np.int16).reshape(-1, len(ATOM_FEATURES))


def bond_features(mol: Chem.Mol) -> tuple[np.ndarray, np.ndarray]:
    """Bonds (each once, ``[num_bonds, 2]`` int32 atom indices) and their features (int16)."""
    pairs, feats = [], []
    for bond in mol.GetBonds():
        pairs.append((bond.GetBeginAtomIdx(), bond.GetEndAtomIdx()))
        feats.append(
            (
                _index(bond.GetBondType(), _BOND_TYPES),
                _index(bond.GetStereo(), _BOND_STEREO),
                int(bond.GetIsConjugated()),
                int(bond.IsInRing()),
            )
        )
    return (
        np.asarray(pairs, dtype=np.int32).reshape(-1, 2),
        np.asarray(feats, dtype=np.int16).reshape(-1, len(BOND_FEATURES)),
    )


def ecfp_bits(mol: Chem.Mol, *, radius: int = 2, n_bits: int = 2048) -> np.ndarray:
    """Morgan (ECFP) bit vector as a ``uint8`` array of 0/1, length ``n_bits``."""
    generator = rdFingerprintGenerator.GetMorganGenerator(radius=radius, fpSize=n_bits)
    return generator.GetFingerprintAsNumPy(mol).astype(np.uint8)


def maccs_keys(mol: Chem.Mol) -> np.ndarray:
    """MACCS keys as a ``uint8`` array of 0/1, length :data:`MACCS_BITS`."""
    keys = np.zeros(MACCS_BITS, dtype=np.uint8)
    DataStructs.ConvertToNumpyArray(MACCSkeys.GenMACCSKeys(mol), keys)
    return keys


def erg_fingerprint(mol: Chem.Mol) -> np.ndarray:
    """RDKit's ErG fingerprint (fuzzy pharmacophore-pair counts), ``float32``, of length
    :data:`~semmol.data.feature_sizes.ERG_SIZE`."""
    return np.asarray(rdReducedGraphs.GetErGFingerprint(mol), dtype=np.float32)


#: Names of the RDKit 2D descriptors stored per molecule, in storage order.
DESCRIPTOR_NAMES: list[str] = [name for name, _ in Descriptors._descList]


def _descriptor(function: Callable[[Chem.Mol], float], mol: Chem.Mol) -> float:
    """One descriptor of ``mol``; NaN when its function raises (some do on odd molecules, e.g.
    ``SPS`` divides by the heavy-atom count)."""
    try:
        return float(function(mol))
    except Exception:  # RDKit descriptors raise many unrelated exception types
        return math.nan


def rdkit_descriptors(mol: Chem.Mol) -> np.ndarray:
    """RDKit's 2D descriptors (:data:`DESCRIPTOR_NAMES`) as ``float32``, squashed by ``sign(x) log(1 + |x|)``.

    The squashing keeps counts, areas and indices of very different scales on one footing
    without statistics from any data set; a descriptor RDKit cannot compute (not finite, or
    its function raises) is 0.
    """
    values = np.array([_descriptor(function, mol) for _, function in Descriptors._descList], dtype=np.float64)
    values[~np.isfinite(values)] = 0.0
    return (np.sign(values) * np.log1p(np.abs(values))).astype(np.float32)


def depiction_png(mol: Chem.Mol, *, size: int) -> bytes:
    """A ``size`` x ``size`` RGB PNG of RDKit's 2D depiction of ``mol`` (the image view).

    Deterministic: RDKit computes the same 2D coordinates and draws the same pixels for the
    same molecule. Thin bonds keep small images legible.
    """
    drawer = rdMolDraw2D.MolDraw2DCairo(size, size)
    drawer.drawOptions().bondLineWidth = 1
    drawer.DrawMolecule(mol)
    drawer.FinishDrawing()
    return drawer.GetDrawingText()
