from __future__ import annotations

import pytest
import torch

from semmol.models.tokenizer import CLS, PAD, SPECIAL_TOKENS, UNK, SmilesVocab, tokenize

CORPUS = ["CCO", "c1ccccc1Cl", "CC(=O)O", "C[N+](C)(C)C", "OCCBr", "CCN"]


@pytest.mark.parametrize(
    ("smiles", "tokens"),
    [
        ("C[N+](C)(C)C", ["C", "[N+]", "(", "C", ")", "(", "C", ")", "C"]),
        ("[O-]C(=O)c1cc[nH]c1", ["[O-]", "C", "(", "=", "O", ")", "c", "1", "c", "c", "[nH]", "c", "1"]),
        ("ClCCBr", ["Cl", "C", "C", "Br"]),
        ("BrB", ["Br", "B"]),
        ("C%10CC%10", ["C", "%10", "C", "C", "%10"]),
        ("F/C=C\\F", ["F", "/", "C", "=", "C", "\\", "F"]),
        ("N[C@@H](C)[C@H]1CC1", ["N", "[C@@H]", "(", "C", ")", "[C@H]", "1", "C", "C", "1"]),
        ("[2H]C#N.[Na+]", ["[2H]", "C", "#", "N", ".", "[Na+]"]),
        (
            "[NH3]->[Pt](<-[NH3])(Cl)Cl",
            ["[NH3]", "-", ">", "[Pt]", "(", "<", "-", "[NH3]", ")", "(", "Cl", ")", "Cl"],
        ),
        ("[13CH4]", ["[13CH4]"]),
    ],
)
def test_tokenize_splits_atoms_and_spells_the_input(smiles: str, tokens: list[str]):
    assert tokenize(smiles) == tokens
    assert "".join(tokenize(smiles)) == smiles


@pytest.mark.parametrize(
    ("smiles", "odd"),
    [("CXC", ["X"]), ("C C", [" "]), ("C[N+", ["["]), ("c1ccccc1!", ["!"]), ("C\nC", ["\n"])],
)
def test_characters_no_rule_covers_are_tokens_of_their_own(smiles: str, odd: list[str]):
    tokens = tokenize(smiles)
    assert "".join(tokens) == smiles and [t for t in tokens if t in odd] == odd
    vocab = SmilesVocab.build(CORPUS)
    ids = vocab.encode([smiles], max_len=16)[0].tolist()
    assert len(ids) == len(tokens) + 1
    assert [ids[1 + i] for i, token in enumerate(tokens) if token in odd] == [vocab.unk_id] * len(odd)


def test_build_counts_tokens_and_ignores_corpus_order():
    vocab = SmilesVocab.build(CORPUS)
    assert vocab.itos[: len(SPECIAL_TOKENS)] == SPECIAL_TOKENS
    assert vocab.to_list()[:3] == ["C", "c", "O"]  # most frequent first
    assert SmilesVocab.build(reversed(CORPUS)).itos == vocab.itos
    assert SmilesVocab.build(sorted(CORPUS)).itos == vocab.itos
    assert set(vocab.to_list()) == {t for s in CORPUS for t in tokenize(s)}


def test_build_min_count_drops_rare_tokens():
    vocab = SmilesVocab.build(CORPUS, min_count=2)
    assert "Br" not in vocab.stoi and "[N+]" not in vocab.stoi
    assert {"C", "c", "O", "(", ")"} <= set(vocab.to_list())


def test_encode_puts_cls_first_pads_and_truncates():
    vocab = SmilesVocab.build(CORPUS)
    ids = vocab.encode(["CCO", "C"], max_len=8)
    assert ids.dtype == torch.long and ids.shape == (2, 4)  # padded to the longest row
    assert ids[:, 0].tolist() == [vocab.cls_id] * 2
    assert ids[0, 1:].tolist() == [vocab.stoi["C"], vocab.stoi["C"], vocab.stoi["O"]]
    assert ids[1].tolist() == [vocab.cls_id, vocab.stoi["C"], vocab.pad_id, vocab.pad_id]
    truncated = vocab.encode(["c1ccccc1Cl"], max_len=4)
    assert truncated.tolist() == [[vocab.cls_id] + [vocab.stoi[t] for t in ["c", "1", "c"]]]


def test_unknown_tokens_map_to_unk():
    vocab = SmilesVocab.build(CORPUS)
    ids = vocab.encode(["CSI"], max_len=8)
    assert ids.tolist() == [[vocab.cls_id, vocab.stoi["C"], vocab.unk_id, vocab.unk_id]]
    assert [vocab.itos[i] for i in (vocab.pad_id, vocab.unk_id, vocab.cls_id)] == [PAD, UNK, CLS]


def test_a_metal_complex_with_dative_bonds_encodes():
    # cisplatin as RDKit writes it: a bracket metal, bracket atoms and both arrows of dative bonds
    smiles = "[NH3]->[Pt](<-[NH3])([Cl])[Cl]"
    vocab = SmilesVocab.build(CORPUS)
    ids = vocab.encode([smiles], max_len=32)[0].tolist()
    assert ids == [vocab.cls_id] + [vocab.stoi.get(token, vocab.unk_id) for token in tokenize(smiles)]
    assert ids.count(vocab.unk_id) == 9  # [NH3] x2, [Pt], [Cl] x2, - x2, > and < are not in CORPUS


def test_to_list_round_trips_through_the_constructor():
    vocab = SmilesVocab.build(CORPUS)
    copy = SmilesVocab(vocab.to_list())
    assert copy.itos == vocab.itos and copy.stoi == vocab.stoi and len(copy) == len(vocab)
    assert torch.equal(copy.encode(CORPUS, max_len=16), vocab.encode(CORPUS, max_len=16))
