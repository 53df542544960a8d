"""The PubChem substructure fingerprint (881 bits, specification v1.3) on RDKit.

NCBI's specification (``pubchem_fingerprints.pdf``) defines seven sections of bits, each
"present at least once" (or counted, where a threshold is given):

1. element counts (bits 0-114), hydrogens included;
2. rings of the ring set by size and kind, and aromatic and hetero-aromatic ring counts (115-262);
3. bonded atom pairs, any bond (263-326);
4. atoms with their nearest neighbours, ``~`` any bond, ``:`` aromatic (327-415);
5. detailed neighbourhoods and 6. short paths, ``-``/``=`` also matching an aromatic bond,
   ``#`` triple (416-459, 460-712);
7. disubstituted benzene (aromatic), cyclohexane and cyclopentane (saturated) rings (713-880).

Atom symbols of sections 3-6 stand for the element, aromatic or not. RDKit's symmetrized SSSR
stands for PubChem's ring set, so ring bits can differ from PubChem's own on cage systems.
scikit-fingerprints implements the fingerprint too, but pins RDKit and huggingface-hub below
the versions this project needs. Against its 2.1.0 on 298 BBBP molecules, sections 3-6 and the
benzene bits of section 7 agree bit for bit; the rest differ where it departs from the
specification: it counts implicit hydrogens only, its ring kinds and aromatic-ring counts are
computed otherwise, and its cyclohexane and cyclopentane patterns also match aromatic rings.
"""

from __future__ import annotations

import re
from collections import Counter
from functools import cache
from itertools import combinations_with_replacement

import numpy as np
from rdkit import Chem

from semmol.data.feature_sizes import PUBCHEM_BITS

#: Section 1: (element, thresholds) in bit order; one bit per threshold ("at least n atoms").
_ELEMENT_COUNTS = (
    [("H", (4, 8, 16, 32)), ("Li", (1, 2)), ("B", (1, 2, 4)), ("C", (2, 4, 8, 16, 32))]
    + [("N", (1, 2, 4, 8)), ("O", (1, 2, 4, 8, 16)), ("F", (1, 2, 4)), ("Na", (1, 2))]
    + [("Si", (1, 2)), ("P", (1, 2, 4)), ("S", (1, 2, 4, 8)), ("Cl", (1, 2, 4, 8)), ("K", (1, 2))]
    + [("Br", (1, 2, 4)), ("I", (1, 2, 4))]
    + [
        (symbol, (1,))
        for symbol in (
            "Be Mg Al Ca Sc Ti V Cr Mn Fe Co Ni Cu Zn Ga Ge As Se Kr Rb Sr Y Zr Nb Mo Ru Rh Pd Ag Cd "
            "In Sn Sb Te Xe Cs Ba Lu Hf Ta W Re Os Ir Pt Au Hg Tl Pb Bi La Ce Pr Nd Pm Sm Eu Gd Tb Dy "
            "Ho Er Tm Yb Tc U"
        ).split()
    ]
)
#: Section 2: ring size -> count thresholds; per threshold, seven kinds (see :func:`_ring_kinds`).
_RING_THRESHOLDS = {
    3: (1, 2), 4: (1, 2), 5: (1, 2, 3, 4, 5), 6: (1, 2, 3, 4, 5), 7: (1, 2), 8: (1, 2), 9: (1,), 10: (1,)
}  # fmt: skip

#: Sections 3 to 6 in the specification's notation, in bit order.
_ATOM_PAIRS = """
Li-H Li-Li Li-B Li-C Li-O Li-F Li-P Li-S Li-Cl B-H B-B B-C B-N B-O B-F B-Si B-P B-S B-Cl
B-Br C-H C-C C-N C-O C-F C-Na C-Mg C-Al C-Si C-P C-S C-Cl C-As C-Se C-Br C-I N-H N-N N-O N-F
N-Si N-P N-S N-Cl N-Br O-H O-O O-Mg O-Na O-Al O-Si O-P O-K F-P F-S Al-H Al-Cl Si-H Si-Si
Si-Cl P-H P-P As-H As-As
""".split()
_NEIGHBOURS = """
C(~Br)(~C) C(~Br)(~C)(~C) C(~Br)(~H) C(~Br)(:C) C(~Br)(:N) C(~C)(~C) C(~C)(~C)(~C)
C(~C)(~C)(~C)(~C) C(~C)(~C)(~C)(~H) C(~C)(~C)(~C)(~N) C(~C)(~C)(~C)(~O) C(~C)(~C)(~H)(~N)
C(~C)(~C)(~H)(~O) C(~C)(~C)(~N) C(~C)(~C)(~O) C(~C)(~Cl) C(~C)(~Cl)(~H) C(~C)(~H)
C(~C)(~H)(~N) C(~C)(~H)(~O) C(~C)(~H)(~O)(~O) C(~C)(~H)(~P) C(~C)(~H)(~S) C(~C)(~I)
C(~C)(~N) C(~C)(~O) C(~C)(~S) C(~C)(~Si) C(~C)(:C) C(~C)(:C)(:C) C(~C)(:C)(:N) C(~C)(:N)
C(~C)(:N)(:N) C(~Cl)(~Cl) C(~Cl)(~H) C(~Cl)(:C) C(~F)(~F) C(~F)(:C) C(~H)(~N) C(~H)(~O)
C(~H)(~O)(~O) C(~H)(~S) C(~H)(~Si) C(~H)(:C) C(~H)(:C)(:C) C(~H)(:C)(:N) C(~H)(:N)
C(~H)(~H)(~H) C(~N)(~N) C(~N)(:C) C(~N)(:C)(:C) C(~N)(:C)(:N) C(~N)(:N) C(~O)(~O) C(~O)(:C)
C(~O)(:C)(:C) C(~S)(:C) C(:C)(:C) C(:C)(:C)(:C) C(:C)(:C)(:N) C(:C)(:N) C(:C)(:N)(:N)
C(:N)(:N) N(~C)(~C) N(~C)(~C)(~C) N(~C)(~C)(~H) N(~C)(~H) N(~C)(~H)(~N) N(~C)(~O) N(~C)(:C)
N(~C)(:C)(:C) N(~H)(~N) N(~H)(:C) N(~H)(:C)(:C) N(~O)(~O) N(~O)(:O) N(:C)(:C) N(:C)(:C)(:C)
O(~C)(~C) O(~C)(~H) O(~C)(~P) O(~H)(~S) O(:C)(:C) P(~C)(~C) P(~O)(~O) S(~C)(~C) S(~C)(~H)
S(~C)(~O) Si(~C)(~C)
""".split()
_NEIGHBOURHOODS = """
C=C C#C C=N C#N C=O C=S N=N N=O N=P P=O P=P C(#C)(-C) C(#C)(-H) C(#N)(-C) C(-C)(-C)(=C)
C(-C)(-C)(=N) C(-C)(-C)(=O) C(-C)(-Cl)(=O) C(-C)(-H)(=C) C(-C)(-H)(=N) C(-C)(-H)(=O)
C(-C)(-N)(=C) C(-C)(-N)(=N) C(-C)(-N)(=O) C(-C)(-O)(=O) C(-C)(=C) C(-C)(=N) C(-C)(=O)
C(-Cl)(=O) C(-H)(-N)(=C) C(-H)(=C) C(-H)(=N) C(-H)(=O) C(-N)(=C) C(-N)(=N) C(-N)(=O)
C(-O)(=O) N(-C)(=C) N(-C)(=O) N(-O)(=O) P(-O)(=O) S(-C)(=O) S(-O)(=O) S(=O)(=O)
""".split()
_PATHS = """
C-C-C#C O-C-C=N O-C-C=O N:C-S-[#1] N-C-C=C O=S-C-C N#C-C=C C=N-N-C O=S-C-N S-S-C:C C:C-C=C
S:C:C:C C:N:C-C S-C:N:C S:C:C:N S-C=N-C C-O-C=C N-N-C:C S-C=N-[#1] S-C-S-C C:S:C-C O-S-C:C
C:N-C:C N-S-C:C N-C:N:C N:C:C:N N-C:N:N N-C=N-C N-C=N-[#1] N-C-S-C C-C-C=C C-N:C-[#1]
N-C:O:C O=C-C:C O=C-C:N C-N-C:C N:N-C-[#1] O-C:C:N O-C=C-C N-C:C:N C-S-C:C Cl-C:C-C
N-C=C-[#1] Cl-C:C-[#1] N:C:N-C Cl-C:C-O C-C:N:C C-C-S-C S=C-N-C Br-C:C-C [#1]-N-N-[#1]
S=C-N-[#1] C-[As]-O-[#1] S:C:C-[#1] O-N-C-C N-N-C-C [#1]-C=C-[#1] N-N-C-N O=C-N-N N=C-N-C
C=C-C:C C:N-C-[#1] C-N-N-[#1] N:C:C-C C-C=C-C [As]-C:C-[#1] Cl-C:C-Cl C:C:N-[#1]
[#1]-N-C-[#1] Cl-C-C-Cl N:C-C:C S-C:C-C S-C:C-[#1] S-C:C-N S-C:C-O O=C-C-C O=C-C-N O=C-C-O
N=C-C-C N=C-C-[#1] C-N-C-[#1] O-C:C-C O-C:C-[#1] O-C:C-N O-C:C-O N-C:C-C N-C:C-[#1] N-C:C-N
O-C-C:C N-C-C:C Cl-C-C-C Cl-C-C-O C:C-C:C O=C-C=C Br-C-C-C N=C-C=C C=C-C-C N:C-O-[#1]
O=N-C:C O-C-N-[#1] N-C-N-C Cl-C-C=O Br-C-C=O O-C-O-C C=C-C=C C:C-O-C O-C-C-N O-C-C-O N#C-C-C
N-C-C-N C:C-C-C [#1]-C-O-[#1] N:C:N:C O-C-C=C O-C-C:C-C O-C-C:C-O N=C-C:C-[#1] C:C-N-C:C
C-C:C-C:C O=C-C-C-C O=C-C-C-N O=C-C-C-O C-C-C-C-C Cl-C:C-O-C C:C-C=C-C C-C:C-N-C C-S-C-C-C
N-C:C-O-[#1] O=C-C-C=O C-C:C-O-C C-C:C-O-[#1] Cl-C-C-C-C N-C-C-C-C N-C-C-C-N C-O-C-C=C
C:C-C-C-C N=C-N-C-C O=C-C-C:C Cl-C:C:C-C [#1]-C-C=C-[#1] N-C:C:C-C N-C:C:C-N O=C-C-N-C
C-C:C:C-C C-O-C-C:C O=C-C-O-C O-C:C-C-C N-C-C-C:C C-C-C-C:C Cl-C-C-N-C C-O-C-O-C N-C-C-N-C
N-C-O-C-C C-N-C-C-C C-C-O-C-C N-C-C-O-C C:C:N:N:C C-C-C-O-[#1] C:C-C-C:C O-C-C=C-C C:C-O-C-C
N-C:C:C:N O=C-O-C:C O=C-C:C-C O=C-C:C-N O=C-C:C-O C-O-C:C-C O=[As]-C:C:C C-N-C-C:C S-C:C:C-N
O-C:C-O-C O-C:C-O-[#1] C-C-O-C:C N-C-C:C-C C-C-C:C-C N-N-C-N-[#1] C-N-C-N-C O-C-C-C-C
O-C-C-C-N O-C-C-C-O C=C-C-C-C O-C-C-C=C O-C-C-C=O [#1]-C-C-N-[#1] C-C=N-N-C O=C-N-C-C
O=C-N-C-[#1] O=C-N-C-N O=N-C:C-N O=N-C:C-O O=C-N-C=O O-C:C:C-C O-C:C:C-N O-C:C:C-O N-C-N-C-C
O-C-C-C:C C-C-N-C-C C-N-C:C-C C-C-S-C-C O-C-C-N-C C-C=C-C-C O-C-O-C-C O-C-C-O-C O-C-C-O-[#1]
C-C=C-C=C N-C:C-C-C C=C-C-O-C C=C-C-O-[#1] C-C:C-C-C Cl-C:C-C=O Br-C:C:C-C O=C-C=C-C
O=C-C=C-[#1] O=C-C=C-N N-C-N-C:C Br-C-C-C:C N#C-C-C-C C-C=C-C:C C-C-C=C-C C-C-C-C-C-C
O-C-C-C-C-C O-C-C-C-C-O O-C-C-C-C-N N-C-C-C-C-C O=C-C-C-C-C O=C-C-C-C-N O=C-C-C-C-O
O=C-C-C-C=O C-C-C-C-C-C-C O-C-C-C-C-C-C O-C-C-C-C-C-O O-C-C-C-C-C-N O=C-C-C-C-C-C
O=C-C-C-C-C-O O=C-C-C-C-C=O O=C-C-C-C-C-N C-C-C-C-C-C-C-C C-C-C-C-C-C(C)-C O-C-C-C-C-C-C-C
O-C-C-C-C-C(C)-C O-C-C-C-C-C-O-C O-C-C-C-C-C(O)-C O-C-C-C-C-C-N-C O-C-C-C-C-C(N)-C
O=C-C-C-C-C-C-C O=C-C-C-C-C(O)-C O=C-C-C-C-C(=O)-C O=C-C-C-C-C(N)-C C-C(C)-C-C C-C(C)-C-C-C
C-C-C(C)-C-C C-C(C)(C)-C-C C-C(C)-C(C)-C
""".split()

#: Section 7: each unordered pair of substituents (C, O, S, N, Cl, Br; the element, aromatic
#: or not, as in sections 3-6) on each ring template, in bit order; the rings as written.
_SUBSTITUENTS = ("[#6]", "[#8]", "[#16]", "[#7]", "[#17]", "[#35]")
_RING_TEMPLATES = (
    # para, meta and ortho benzene
    "{a}c1ccc({b})cc1",
    "{a}c1cc({b})ccc1",
    "{a}c1c({b})cccc1",
    # 1,4-, 1,3- and 1,2-cyclohexane
    "{a}C1CCC({b})CC1",
    "{a}C1CC({b})CCC1",
    "{a}C1C({b})CCCC1",
    # 1,3- and 1,2-cyclopentane
    "{a}C1CC({b})CC1",
    "{a}C1C({b})CCC1",
)

_TOKEN = re.compile(r"\[[^\]]+\]|Li|Na|Mg|Al|Si|Cl|As|Se|Br|[HBCNOFPSKI]|[-=#:~()]")
#: Bond symbols of sections 5 and 6: a single or double bond also matches an aromatic one.
_LENIENT_BONDS = {"-": "-,:", "=": "=,:"}


def _smarts(pattern: str, *, lenient_bonds: bool) -> str:
    """SMARTS of a section 3-6 pattern: each element symbol as ``[#Z]`` (aromatic or not)."""
    tokens = _TOKEN.findall(pattern)
    if "".join(tokens) != pattern:
        raise ValueError(f"unreadable PubChem pattern {pattern!r}")
    out = []
    for token in tokens:
        if token[0].isalpha() or token.startswith("[") and not token.startswith("[#"):
            symbol = token.strip("[]")
            out.append(f"[#{Chem.GetPeriodicTable().GetAtomicNumber(symbol)}]")
        elif lenient_bonds and token in _LENIENT_BONDS:
            out.append(_LENIENT_BONDS[token])
        else:
            out.append(token)
    return "".join(out)


@cache
def _patterns() -> list[Chem.Mol]:
    """The compiled SMARTS of sections 3 to 7, in bit order (bits 263-880)."""
    smarts = [_smarts(p.replace("-", "~"), lenient_bonds=False) for p in _ATOM_PAIRS]
    smarts += [_smarts(p, lenient_bonds=False) for p in _NEIGHBOURS]
    smarts += [_smarts(p, lenient_bonds=True) for p in _NEIGHBOURHOODS + _PATHS]
    pairs = list(combinations_with_replacement(_SUBSTITUENTS, 2))
    smarts += [template.format(a=a, b=b) for template in _RING_TEMPLATES for a, b in pairs]
    compiled = [Chem.MolFromSmarts(s) for s in smarts]
    assert len(compiled) == PUBCHEM_BITS - 263 and all(compiled), "PubChem section 3-7 patterns"
    return compiled


def _ring_kinds(mol: Chem.Mol, ring: tuple[int, ...]) -> tuple[bool, ...]:
    """What section 2 asks of a ring: the seven kinds (any; saturated or aromatic and
    carbon-only, with a nitrogen, with a heteroatom; unsaturated non-aromatic and the same
    three), then whether it is aromatic and whether hetero-aromatic."""
    bonds = [mol.GetBondBetweenAtoms(a, b) for a, b in zip(ring, ring[1:] + ring[:1])]
    aromatic = all(bond.GetIsAromatic() for bond in bonds)
    saturated = all(bond.GetBondType() == Chem.BondType.SINGLE for bond in bonds)
    elements = {mol.GetAtomWithIdx(i).GetAtomicNum() for i in ring}
    carbon_only, nitrogen, hetero = elements == {6}, 7 in elements, bool(elements - {6})
    plain = aromatic or saturated
    kinds = (carbon_only, nitrogen, hetero)
    return (
        True,
        *(plain and k for k in kinds),
        *(not plain and k for k in kinds),
        aromatic,
        aromatic and hetero,
    )


def _ring_bits(mol: Chem.Mol) -> list[bool]:
    counts = {size: np.zeros(7, dtype=int) for size in _RING_THRESHOLDS}
    aromatic = np.zeros(2, dtype=int)  # aromatic, hetero-aromatic rings of any size
    for ring in Chem.GetSymmSSSR(mol):
        kinds = _ring_kinds(mol, tuple(ring))
        if len(ring) in counts:
            counts[len(ring)] += kinds[:7]
        aromatic += kinds[7:]
    bits = [bool(count >= n) for size, ns in _RING_THRESHOLDS.items() for n in ns for count in counts[size]]
    return bits + [bool(count >= n) for n in (1, 2, 3, 4) for count in aromatic]


def pubchem_fingerprint(mol: Chem.Mol) -> np.ndarray:
    """The PubChem fingerprint of ``mol`` as a ``uint8`` array of 0/1, length :data:`PUBCHEM_BITS`."""
    with_hydrogens = Chem.AddHs(mol)
    counts = Counter(atom.GetSymbol() for atom in with_hydrogens.GetAtoms())
    bits = [counts[symbol] >= n for symbol, ns in _ELEMENT_COUNTS for n in ns]
    bits += _ring_bits(mol)
    bits += [with_hydrogens.HasSubstructMatch(pattern) for pattern in _patterns()]
    return np.asarray(bits, dtype=np.uint8)
