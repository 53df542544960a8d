from __future__ import annotations

import numpy as np
import pytest
from rdkit import Chem

from semmol.data.feature_sizes import (
    ATOM_FEATURE_SIZES,
    ATOM_FEATURES,
    BOND_FEATURE_SIZES,
    BOND_FEATURES,
    ERG_SIZE,
    MACCS_BITS,
)
from semmol.data.featurize import (
    atom_features,
    bond_features,
    ecfp_bits,
    erg_fingerprint,
    maccs_keys,
)

ATOM = {name: column for column, (name, _) in enumerate(ATOM_FEATURES)}
BOND = {name: column for column, (name, _) in enumerate(BOND_FEATURES)}

#: Exotic atoms and charges that reach the "other" slot of some vocabulary.
EXOTIC = [
    "[U]",
    "[Fe+4]",
    "[O-4]",
    "[N-3]",
    "[Fe+3]",
    "FS(F)(F)(F)(F)F",
    "[SiH6-2]",
    "*C",
    "F[Pt@SP1](Cl)(Br)I",
    "[NH3]->[Pt](<-[NH3])(Cl)Cl",
]


def _atom(smiles: str, index: int = 0) -> dict[str, int]:
    row = atom_features(Chem.MolFromSmiles(smiles))[index]
    return {name: int(row[column]) for name, column in ATOM.items()}


@pytest.mark.parametrize("smiles", [*EXOTIC, "CC(=O)Nc1ccc(O)cc1", "F/C=C/F", "C#N"])
def test_every_index_is_inside_its_vocabulary(smiles):
    mol = Chem.MolFromSmiles(smiles)
    atoms = atom_features(mol)
    bonds, bond_feats = bond_features(mol)
    assert atoms.dtype == np.int16 and atoms.shape == (mol.GetNumAtoms(), len(ATOM_FEATURES))
    assert bond_feats.dtype == np.int16 and bond_feats.shape == (mol.GetNumBonds(), len(BOND_FEATURES))
    assert bonds.dtype == np.int32 and bonds.shape == (mol.GetNumBonds(), 2)
    assert ((atoms >= 0) & (atoms < np.array(ATOM_FEATURE_SIZES))).all()
    assert ((bond_feats >= 0) & (bond_feats < np.array(BOND_FEATURE_SIZES))).all()


def test_other_slots():
    assert _atom("[U]")["atomic_num"] == 92  # every element has its own index
    assert _atom("*C")["atomic_num"] == 119  # dummy atom: "other"
    assert _atom("[O-4]")["formal_charge"] == 7  # charge outside -3..+3: "other"
    assert _atom("[N-3]")["formal_charge"] == 0 and _atom("[Fe+3]")["formal_charge"] == 6
    assert _atom("[Fe+4]")["formal_charge"] == 7
    assert _atom("FS(F)(F)(F)(F)F", 1)["degree"] == 6  # six neighbours: "other"
    assert _atom("[SiH6-2]")["num_hs"] == 5  # six hydrogens: "other"
    assert _atom("F[Pt@SP1](Cl)(Br)I", 1)["chirality"] == 3  # square-planar: "other"


def test_common_atom_and_bond_features():
    acetamide = _atom("CC(N)=O", 1)
    assert acetamide == {
        "atomic_num": 6,
        "chirality": 0,
        "degree": 3,
        "formal_charge": 3,  # neutral
        "num_hs": 0,
        "hybridization": 2,  # SP2
        "aromatic": 0,
        "in_ring": 0,
    }
    assert _atom("C[C@H](F)Cl", 1)["chirality"] in (1, 2)
    assert _atom("c1ccccc1")["aromatic"] == 1 and _atom("c1ccccc1")["in_ring"] == 1

    bonds, feats = bond_features(Chem.MolFromSmiles("F/C=C/F"))
    assert bonds.tolist() == [[0, 1], [1, 2], [2, 3]]
    assert feats[1, BOND["bond_type"]] == 1 and feats[1, BOND["stereo"]] == 3  # double, E
    _, aromatic = bond_features(Chem.MolFromSmiles("c1ccccc1"))
    assert (aromatic[:, BOND["bond_type"]] == 3).all() and (aromatic[:, BOND["in_ring"]] == 1).all()


def test_dative_bonds_take_the_other_bond_type():
    mol = Chem.MolFromSmiles("[NH3]->[Pt](<-[NH3])(Cl)Cl")
    bonds, feats = bond_features(mol)
    dative = [b.GetBondType() == Chem.BondType.DATIVE for b in mol.GetBonds()]
    assert sum(dative) == 2 and len(bonds) == 4
    assert feats[:, BOND["bond_type"]].tolist() == [4 if d else 0 for d in dative]  # 0: single


def test_single_atom_has_empty_bond_arrays():
    bonds, feats = bond_features(Chem.MolFromSmiles("C"))
    assert bonds.shape == (0, 2) and feats.shape == (0, len(BOND_FEATURES))


def test_ecfp_bits():
    mol = Chem.MolFromSmiles("CC(=O)Nc1ccc(O)cc1")
    bits = ecfp_bits(mol, radius=2, n_bits=256)
    assert bits.dtype == np.uint8 and bits.shape == (256,)
    assert set(np.unique(bits)) == {0, 1}
    np.testing.assert_array_equal(bits, ecfp_bits(Chem.MolFromSmiles("Oc1ccc(NC(C)=O)cc1"), n_bits=256))
    assert ecfp_bits(mol, radius=1, n_bits=256).sum() < bits.sum()  # fewer environments
    assert ecfp_bits(mol).shape == (2048,)


def test_maccs_keys_name_the_substructures():
    benzene, phenol = (maccs_keys(Chem.MolFromSmiles(smiles)) for smiles in ("c1ccccc1", "Oc1ccccc1"))
    assert benzene.dtype == np.uint8 and benzene.shape == phenol.shape == (MACCS_BITS,)
    # RDKit's key numbers: 162 aromatic atom, 163 six-membered ring, 165 ring, 164 oxygen, 139 OH
    assert set(np.flatnonzero(benzene)) == {162, 163, 165}
    assert {139, 162, 163, 164, 165} <= set(np.flatnonzero(phenol))
    assert not maccs_keys(Chem.MolFromSmiles("CCO"))[[162, 163, 165]].any()  # no ring


def test_erg_fingerprint_sees_pharmacophores():
    benzene, phenol = (erg_fingerprint(Chem.MolFromSmiles(smiles)) for smiles in ("c1ccccc1", "Oc1ccccc1"))
    assert benzene.dtype == np.float32 and benzene.shape == (ERG_SIZE,)
    assert (benzene >= 0).all() and (phenol >= 0).all()
    # the hydroxyl (donor and acceptor) adds pharmacophore pairs the bare ring does not have
    assert phenol.sum() > benzene.sum()
    np.testing.assert_array_equal(phenol, erg_fingerprint(Chem.MolFromSmiles("c1ccc(O)cc1")))


def test_rdkit_descriptors_are_finite_squashed_and_named():
    from rdkit import Chem

    from semmol.data.featurize import DESCRIPTOR_NAMES, rdkit_descriptors

    values = rdkit_descriptors(Chem.MolFromSmiles("CC(C)NCC(O)COc1cccc2ccccc12"))
    assert values.dtype == np.float32 and values.shape == (len(DESCRIPTOR_NAMES),)
    assert np.isfinite(values).all() and np.abs(values).max() < 25  # log1p squashing
    mol_wt = values[DESCRIPTOR_NAMES.index("MolWt")]
    assert mol_wt == pytest.approx(np.log1p(259.349), rel=1e-4)


@pytest.mark.parametrize(
    ("smiles", "zeroed"),
    [
        ("[H][H]", "SPS"),  # no heavy atom: SPS divides by zero and raises
        ("[NH3]->[Pt](<-[NH3])(Cl)Cl", "BCUT2D_MWHI"),  # dative bonds: RDKit gives NaN
    ],
)
def test_descriptors_rdkit_cannot_compute_are_zero(smiles, zeroed):
    from rdkit.Chem import Descriptors

    from semmol.data.featurize import DESCRIPTOR_NAMES, rdkit_descriptors

    mol = Chem.MolFromSmiles(smiles)
    function = dict(Descriptors._descList)[zeroed]
    try:
        raw = function(mol)
    except ZeroDivisionError:
        raw = None
    assert raw is None or not np.isfinite(raw)  # what RDKit itself does with this molecule
    values = rdkit_descriptors(mol)
    assert values.shape == (len(DESCRIPTOR_NAMES),) and np.isfinite(values).all()
    assert values[DESCRIPTOR_NAMES.index(zeroed)] == 0 and (values != 0).any()
