"""Chemistry-aware text descriptions of molecules, written deterministically from RDKit.

LGM-CL contrasts a molecule's SMILES with a natural-language description of it. The paper has
a language model write the descriptions; offline we write them from RDKit instead, in short
sentences on size, rings, functional groups, charge, polarity and Lipinski's rule of five.
Every word comes from the phrases below, so :data:`DESCRIPTION_WORDS` (with the digits) is
the closed vocabulary a description encoder trained from scratch needs; counts and rounded
values are written as numbers and tokenized digit by digit.
"""

from __future__ import annotations

import re
from functools import cache

from rdkit import Chem
from rdkit.Chem import Crippen, Descriptors, Lipinski, rdMolDescriptors

#: (name, SMARTS) of the functional groups a description names, in the order it names them.
FUNCTIONAL_GROUPS: tuple[tuple[str, str], ...] = (
    ("carboxylic acid", "[CX3](=O)[OX2H1,OX1-]"),
    ("ester", "[#6][CX3](=O)[OX2H0][#6]"),
    ("amide", "[NX3][CX3](=[OX1])[#6]"),
    ("urea", "[NX3][CX3](=[OX1])[NX3]"),
    ("aldehyde", "[CX3H1](=O)[#6]"),
    ("ketone", "[#6][CX3](=O)[#6]"),
    ("alcohol", "[OX2H][CX4]"),
    ("phenol", "[OX2H]c"),
    ("ether", "[OD2;!$(OC=O)]([#6])[#6]"),
    ("primary amine", "[NX3;H2;!$(NC=[O,S,N]);!$(N-a)][CX4]"),
    ("secondary amine", "[NX3;H1;!$(NC=[O,S,N]);!$(N-a);!$(NS=O)]([CX4])[CX4]"),
    ("tertiary amine", "[NX3;H0;!$(NC=[O,S,N]);!$(N-a);!$(NS=O)]([CX4])([CX4])[CX4]"),
    ("aniline", "[NX3;H2,H1;!$(NC=O)]c"),
    ("nitrile", "[NX1]#[CX2]"),
    ("nitro", "[$([NX3](=O)=O),$([NX3+](=O)[O-])]"),
    ("sulfonamide", "[SX4](=O)(=O)[NX3]"),
    ("sulfone", "[#6][SX4](=O)(=O)[#6]"),
    ("thiol", "[SX2H]"),
    ("thioether", "[SX2;H0;!$(S=*)]([#6])[#6]"),
    ("alkene", "[CX3]=[CX3]"),
    ("alkyne", "[CX2]#[CX2]"),
    ("imine", "[CX3]=[NX2;!$(N=N)]"),
    ("azo", "[#6][NX2]=[NX2][#6]"),
    ("phosphate", "P(=O)([OX2,OX1-])([OX2,OX1-])[OX2,OX1-]"),
)
#: Halogens by atomic number, named as substituents.
HALOGENS: dict[int, str] = {9: "fluorine", 17: "chlorine", 35: "bromine", 53: "iodine"}
#: (lower heavy-atom bound, size word): the last bound not above the count names the size.
SIZE_WORDS: tuple[tuple[int, str], ...] = (
    (0, "very small"),
    (10, "small"),
    (25, "medium sized"),
    (50, "large"),
)

_PHRASES = (
    "a molecule with heavy atoms and a molecular weight of about daltons .",
    "it has no rings . it has ring rings in ring system systems : aromatic and aliphatic ; the largest system has",
    "it contains a benzene ring , a heteroaromatic ring with nitrogen and oxygen and sulfur and other .",
    "functional groups : none recognised , and",
    "halogens :",
    "its net formal charge is positive negative ; it is neutral charged . it carries separated charges ( a salt or zwitterion ) .",
    "it has hydrogen bond donor donors and acceptor acceptors , rotatable bond bonds ,",
    "a polar surface area of about square angstroms and a computed logp of about minus",
    "so it is hydrophilic moderately lipophilic very lipophilic .",
    "it satisfies violates lipinski's rule of five with violation violations .",
    "it has stereocenter stereocenters .",
)
_TOKEN = re.compile(r"[a-z']+|[0-9]|[^\sa-z0-9']")


def tokenize_description(text: str) -> list[str]:
    """Lower-cased words, single digits and single punctuation marks of ``text``."""
    return _TOKEN.findall(text.lower())


def _phrase_words() -> list[str]:
    texts = [*_PHRASES, *(name for name, _ in FUNCTIONAL_GROUPS), *HALOGENS.values()]
    texts += [word for _, word in SIZE_WORDS]
    words = {token for text in texts for token in tokenize_description(text)}
    return sorted(words | set("0123456789"))


#: Every token :func:`describe_molecule` can write, sorted: the description vocabulary.
DESCRIPTION_WORDS: list[str] = _phrase_words()


@cache
def _patterns() -> list[tuple[str, Chem.Mol]]:
    return [(name, Chem.MolFromSmarts(smarts)) for name, smarts in FUNCTIONAL_GROUPS]


def _count(n: int, singular: str, plural: str | None = None) -> str:
    return f"{n} {singular if n == 1 else (plural or singular + 's')}"


def _ring_sentences(mol: Chem.Mol) -> list[str]:
    info = mol.GetRingInfo()
    rings = [set(ring) for ring in info.AtomRings()]
    if not rings:
        return ["it has no rings."]
    aromatic = sum(all(mol.GetAtomWithIdx(a).GetIsAromatic() for a in ring) for ring in rings)
    systems: list[set[int]] = []  # rings sharing an atom belong to one system
    for ring in rings:
        joined = [s for s in systems if s & ring]
        merged = set(ring).union(*joined)
        systems = [s for s in systems if not s & ring] + [merged]
    largest = max(sum(ring <= system for ring in rings) for system in systems)
    sentences = [
        f"it has {_count(len(rings), 'ring')} in {_count(len(systems), 'ring system')}: "
        f"{aromatic} aromatic and {len(rings) - aromatic} aliphatic; the largest system has "
        f"{_count(largest, 'ring')}."
    ]
    kinds = []
    for ring in info.AtomRings():
        atoms = [mol.GetAtomWithIdx(a) for a in ring]
        if not all(a.GetIsAromatic() for a in atoms):
            continue
        hetero = sorted({a.GetSymbol() for a in atoms} - {"C"})
        if not hetero and len(ring) == 6:
            kinds.append("a benzene ring")
        elif hetero:
            names = {"N": "nitrogen", "O": "oxygen", "S": "sulfur"}
            kinds.append("a heteroaromatic ring with " + " and ".join(names.get(h, "other") for h in hetero))
    if kinds:
        sentences.append("it contains " + ", ".join(dict.fromkeys(kinds)) + ".")
    return sentences


def _bonded_charge_pair(atom: Chem.Atom) -> bool:
    """Whether the atom's charge is cancelled by a bonded neighbour's (nitro, N-oxide): a way of
    writing a neutral group, not an ion."""
    charge = atom.GetFormalCharge()
    return bool(charge) and any(n.GetFormalCharge() == -charge for n in atom.GetNeighbors())


def describe_molecule(mol: Chem.Mol) -> str:
    """A few sentences about ``mol`` (sanitized RDKit molecule); the same molecule gives the same text.

    Every token it writes is in :data:`DESCRIPTION_WORDS`.
    """
    heavy, weight = mol.GetNumHeavyAtoms(), Descriptors.MolWt(mol)
    size = [word for bound, word in SIZE_WORDS if heavy >= bound][-1]
    sentences = [
        f"a {size} molecule with {heavy} heavy atoms and a molecular weight of about {round(weight)} daltons."
    ]
    sentences += _ring_sentences(mol)
    groups = [name for name, pattern in _patterns() if mol.HasSubstructMatch(pattern)]
    sentences.append("functional groups: " + (", ".join(groups) if groups else "none recognised") + ".")
    halogens = sorted({HALOGENS[a.GetAtomicNum()] for a in mol.GetAtoms() if a.GetAtomicNum() in HALOGENS})
    if halogens:
        sentences.append("halogens: " + ", ".join(halogens) + ".")
    charges = [a.GetFormalCharge() for a in mol.GetAtoms() if not _bonded_charge_pair(a)]
    net = sum(charges)
    if not any(charges):
        sentences.append("it is neutral.")
    elif net == 0:
        sentences.append("it carries separated charges (a salt or zwitterion).")
    else:
        sign = "positive" if net > 0 else "negative"
        sentences.append(f"it is charged; its net formal charge is {sign} {abs(net)}.")
    logp = Crippen.MolLogP(mol)
    polarity = "hydrophilic" if logp < 1 else "moderately lipophilic" if logp < 4 else "very lipophilic"
    logp_text = f"{'minus ' if logp < 0 else ''}{abs(round(logp))}"
    donors, acceptors = Lipinski.NumHDonors(mol), Lipinski.NumHAcceptors(mol)
    sentences.append(
        f"it has {_count(donors, 'hydrogen bond donor')} and {_count(acceptors, 'acceptor')}, "
        f"{_count(rdMolDescriptors.CalcNumRotatableBonds(mol), 'rotatable bond')}, a polar surface "
        f"area of about {round(rdMolDescriptors.CalcTPSA(mol))} square angstroms and a computed logp "
        f"of about {logp_text}, so it is {polarity}."
    )
    violations = sum([weight > 500, logp > 5, donors > 5, acceptors > 10])
    verdict = "satisfies" if violations <= 1 else "violates"
    sentences.append(f"it {verdict} lipinski's rule of five with {_count(violations, 'violation')}.")
    chiral = len(Chem.FindMolChiralCenters(mol, includeUnassigned=True, useLegacyImplementation=False))
    if chiral:
        sentences.append(f"it has {_count(chiral, 'stereocenter')}.")
    return " ".join(sentences)
