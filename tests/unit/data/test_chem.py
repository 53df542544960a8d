from __future__ import annotations

import pytest
from rdkit import Chem

from semmol.data.chem import parse_smiles, quiet_rdkit

VALENCE_ERROR = "C(C)(C)(C)(C)C"  # five bonds on carbon


@pytest.mark.parametrize(
    ("smiles", "reason"),
    [
        ("C1CC", "unparsable SMILES (syntax)"),  # unclosed ring
        ("CC)", "unparsable SMILES (syntax)"),
        (VALENCE_ERROR, "unparsable SMILES (AtomValenceException: "),
        ("c1cccc1", "unparsable SMILES (KekulizeException: "),
        ("", "empty SMILES"),
        ("  \t", "empty SMILES"),
        (None, "empty SMILES"),
    ],
)
def test_bad_smiles_come_back_with_a_reason(smiles, reason):
    with quiet_rdkit():
        mol, got = parse_smiles(smiles)
    assert mol is None
    assert got.startswith(reason)


def test_valence_reason_quotes_rdkit():
    with quiet_rdkit():
        _, reason = parse_smiles(VALENCE_ERROR)
    assert "Explicit valence for atom # 0 C, 5" in reason


def test_good_smiles_is_sanitized_and_stripped():
    mol, reason = parse_smiles("  c1ccccc1O\n")
    assert reason is None
    assert mol.GetNumAtoms() == 7
    assert mol.GetAtomWithIdx(0).GetIsAromatic()  # sanitized: aromaticity perceived
    assert Chem.MolToSmiles(mol) == "Oc1ccccc1"


def test_rdkit_complains_on_stderr_without_quiet_rdkit(capfd):
    parse_smiles(VALENCE_ERROR)
    assert "Explicit valence" in capfd.readouterr().err


def test_quiet_rdkit_silences_rdkit_and_restores_it(capfd):
    with quiet_rdkit():
        parse_smiles(VALENCE_ERROR)
        parse_smiles("C1CC")
        Chem.MolFromSmiles("c1cccc1")
    assert capfd.readouterr().err == ""
    with pytest.raises(RuntimeError), quiet_rdkit():
        raise RuntimeError("inside the block")
    parse_smiles("C1CC")  # logging is back, also after an exception in the block
    assert "unclosed ring" in capfd.readouterr().err
