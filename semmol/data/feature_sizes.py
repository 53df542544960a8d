"""The widths of the stored features, which the models and the shard layout need: here without
RDKit, so that training from prebuilt shards runs where RDKit is not installed (the GPU check).

:mod:`semmol.data.featurize` computes the features; the categorical vocabularies are named by
RDKit's enum names, which it turns into RDKit's values.
"""

from __future__ import annotations

CHIRALITY = ("CHI_UNSPECIFIED", "CHI_TETRAHEDRAL_CW", "CHI_TETRAHEDRAL_CCW")
HYBRIDIZATION = ("S", "SP", "SP2", "SP3", "SP3D", "SP3D2")
# Dative bonds (metal complexes) and any other type take the "other" slot.
BOND_TYPES = ("SINGLE", "DOUBLE", "TRIPLE", "AROMATIC")
BOND_STEREO = ("STEREONONE", "STEREOANY", "STEREOZ", "STEREOE", "STEREOCIS", "STEREOTRANS")

#: (name, vocabulary size) of each atom feature column, in storage order.
ATOM_FEATURES: list[tuple[str, int]] = [
    ("atomic_num", 120),  # 1..118, 119 = other
    ("chirality", len(CHIRALITY) + 1),
    ("degree", 7),  # 0..5, 6 = other
    ("formal_charge", 8),  # -3..+3 shifted to 0..6, 7 = other
    ("num_hs", 6),  # 0..4, 5 = other
    ("hybridization", len(HYBRIDIZATION) + 1),
    ("aromatic", 2),
    ("in_ring", 2),
]
#: (name, vocabulary size) of each bond feature column, in storage order.
BOND_FEATURES: list[tuple[str, int]] = [
    ("bond_type", len(BOND_TYPES) + 1),
    ("stereo", len(BOND_STEREO) + 1),
    ("conjugated", 2),
    ("in_ring", 2),
]
ATOM_FEATURE_SIZES = [size for _, size in ATOM_FEATURES]
BOND_FEATURE_SIZES = [size for _, size in BOND_FEATURES]

#: Length of the MACCS keys vector (RDKit numbers the 166 public keys from 1; bit 0 is unused).
MACCS_BITS = 167
#: Length of the ErG fingerprint (extended reduced graph pharmacophore pairs, Stiefl et al. 2006).
ERG_SIZE = 315
#: Length of the PubChem substructure fingerprint (:mod:`semmol.data.pubchem`).
PUBCHEM_BITS = 881
