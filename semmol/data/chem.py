"""Small RDKit helpers shared by the data stages."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from rdkit import Chem, rdBase


@contextmanager
def quiet_rdkit() -> Iterator[None]:
    """Silence RDKit's own logging inside the block: problems are reported as reasons instead."""
    blocker = rdBase.BlockLogs()
    try:
        yield
    finally:
        del blocker  # logging comes back when the blocker is released


def randomized_smiles(smiles: str, *, seed: int) -> str:
    """A random (non-canonical) SMILES of the same molecule, the same for the same ``seed``
    (RDKit's random atom order); ``smiles`` itself when it does not parse."""
    with quiet_rdkit():
        mol = Chem.MolFromSmiles(smiles)
        if mol is None:
            return smiles
        return Chem.MolToRandomSmilesVect(mol, 1, randomSeed=seed + 1)[0]  # 0 would mean "unseeded"


def parse_smiles(smiles: str | None) -> tuple[Chem.Mol | None, str | None]:
    """Parse and sanitize a SMILES string (call inside :func:`quiet_rdkit` to keep RDKit quiet).

    Returns:
        ``(mol, None)`` on success, ``(None, reason)`` otherwise, the reason quoting RDKit's
        complaint (syntax error, valence, kekulization).
    """
    if smiles is None or not smiles.strip():
        return None, "empty SMILES"
    mol = Chem.MolFromSmiles(smiles.strip(), sanitize=False)
    if mol is None:
        return None, "unparsable SMILES (syntax)"
    try:
        Chem.SanitizeMol(mol)
    except Exception as error:  # RDKit raises several unrelated exception types here
        return None, f"unparsable SMILES ({type(error).__name__}: {error})"
    return mol, None
