"""The PubChem fingerprint: each section's bits on molecules whose substructures are known.

Bit numbers are the specification's (``pubchem_fingerprints.pdf`` v1.3), 0-based.
"""

from __future__ import annotations

import numpy as np
import pytest
from rdkit import Chem

from semmol.data.pubchem import PUBCHEM_BITS, pubchem_fingerprint


def bits(smiles: str) -> set[int]:
    fingerprint = pubchem_fingerprint(Chem.MolFromSmiles(smiles))
    assert fingerprint.dtype == np.uint8 and fingerprint.shape == (PUBCHEM_BITS,)
    return set(np.flatnonzero(fingerprint).tolist())


def test_element_counts_include_hydrogens():
    ethanol = bits("CCO")  # C2H6O
    assert {0, 9, 18} <= ethanol  # >= 4 H, >= 2 C, >= 1 O
    assert not {1, 10, 19} & ethanol  # not >= 8 H, >= 4 C, >= 2 O
    assert {46, 58} <= bits("I[Fe]I")  # >= 1 I, >= 1 Fe


@pytest.mark.parametrize(
    ("smiles", "expected", "absent"),
    [
        # one six-ring, carbon-only and aromatic; one aromatic ring, no hetero-aromatic one
        ("Cc1ccc(O)cc1", {178, 179, 255}, {180, 181, 182, 185, 256, 257}),
        # saturated and nitrogen-containing, so also heteroatom-containing
        ("C1CCNCC1", {178, 180, 181}, {179, 182, 255}),
        # a double bond in the ring: unsaturated, not aromatic
        ("C1=CCCCC1", {178, 182}, {179, 255}),
        ("c1ccncc1", {178, 180, 181, 255, 256}, {179, 257}),
        ("c1ccc2ccccc2c1", {178, 179, 185, 186, 255, 257}, {192, 256, 259}),
        ("CC1CC(Cl)CC1", {143, 144}, {178}),
    ],
)
def test_rings_by_size_kind_and_count(smiles, expected, absent):
    found = {bit for bit in bits(smiles) if 115 <= bit < 263}
    assert expected <= found and not absent & found


def test_atom_pairs_and_neighbours_ignore_bond_order():
    acetone = bits("CC(=O)C")
    assert {283, 284, 286} <= acetone  # C-H, C-C, C-O
    assert {341, 352} <= acetone  # C(~C)(~C)(~O), C(~C)(~O): the carbonyl's double bond counts
    assert not {333, 380} & acetone  # C(~C)(~C)(~C), C(~O)(~O)
    assert 308 not in acetone  # no O-H


def test_detailed_neighbourhoods_and_paths_let_aromatic_bonds_stand_for_single_and_double():
    benzene = bits("c1ccccc1")
    assert {416, 582} <= benzene  # C=C, C-C-C-C-C along the ring
    assert 417 not in benzene  # C#C
    acetone = bits("CC(=O)C")
    assert {420, 432, 443} <= acetone and 416 not in acetone  # C=O, C(-C)(-C)(=O), C(-C)(=O)
    assert 535 not in acetone and 535 in bits("CCC(=O)C")  # O=C-C-C


def test_disubstituted_rings_by_position_and_saturation():
    assert {b for b in bits("Cc1ccc(O)cc1") if b >= 713} == {714}  # para, benzene, C and O
    assert {b for b in bits("Oc1ccccc1S") if b >= 713} == {762}  # ortho, O and S
    assert {b for b in bits("CC1CCC(C)CC1") if b >= 713} == {776}  # 1,4-cyclohexane, C and C
    # a benzene ring is not a cyclohexane ring
    assert {b for b in bits("Cc1ccc(C)cc1") if b >= 713} == {713}
