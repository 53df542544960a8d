"""Token vocabularies of the text encoders: atom-level SMILES, and words of descriptions.

:class:`SmilesVocab` is built from the corpus and saved with the model;
:class:`DescriptionVocab` is the closed word list of :mod:`semmol.data.description`.

The regular expression is the usual atom-level one (bracket atoms, two-letter halogens, ring
closures with ``%nn``, bonds and branches as single tokens, ``<`` and ``>`` of dative bonds);
any other character is a token of its own, so every string tokenizes and no molecule stops a
job. The vocabulary is saved with the model, so fine-tuning tokenizes exactly as pretraining
did; tokens it has not seen (a metal such as ``[Co]``, an odd character) map to ``<unk>``.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable
from typing import ClassVar

import torch

SMILES_TOKEN = re.compile(
    r"(\[[^\]]+]|Br?|Cl?|N|O|S|P|F|I|b|c|n|o|s|p|\(|\)|\.|=|#|-|\+|\\|\/|:|~|@|\?|>|<|\*|\$|%[0-9]{2}|[0-9]"
    r"|.)",  # last: any character no rule above covers
    re.DOTALL,
)
PAD, UNK, CLS, MASK = "<pad>", "<unk>", "<cls>", "<mask>"
SPECIAL_TOKENS = [PAD, UNK, CLS, MASK]


def tokenize(smiles: str) -> list[str]:
    """Split a SMILES string into atom-level tokens; they always spell the input."""
    return SMILES_TOKEN.findall(smiles)


class TokenVocab:
    """Token <-> id mapping; ids 0..3 are ``<pad>``, ``<unk>``, ``<cls>``, ``<mask>``.

    Subclasses say how a text splits into tokens (:attr:`split`).

    Args:
        tokens: the non-special tokens, in id order.
    """

    split: ClassVar[Callable[[str], list[str]]]

    def __init__(self, tokens: Iterable[str]):
        self.itos = SPECIAL_TOKENS + [t for t in tokens if t not in SPECIAL_TOKENS]
        self.stoi = {token: i for i, token in enumerate(self.itos)}

    pad_id, unk_id, cls_id, mask_id = 0, 1, 2, 3

    @classmethod
    def build(cls, texts: Iterable[str], *, min_count: int = 1) -> TokenVocab:
        """The vocabulary of a corpus: tokens seen at least ``min_count`` times (default 1),
        most frequent first (ties by token, so the result does not depend on corpus order)."""
        counts = Counter(token for text in texts for token in cls.split(text))
        kept = sorted((t for t, n in counts.items() if n >= min_count), key=lambda t: (-counts[t], t))
        return cls(kept)

    def __len__(self) -> int:
        return len(self.itos)

    def encode(self, texts: list[str], *, max_len: int) -> torch.Tensor:
        """Token ids ``[B, L]`` with ``<cls>`` first, truncated to ``max_len`` and padded with ``<pad>``
        to the longest row (``L <= max_len``)."""
        rows = [
            [self.cls_id] + [self.stoi.get(t, self.unk_id) for t in self.split(text)][: max_len - 1]
            for text in texts
        ]
        ids = torch.full((len(rows), max(len(r) for r in rows)), self.pad_id, dtype=torch.long)
        for i, row in enumerate(rows):
            ids[i, : len(row)] = torch.tensor(row)
        return ids

    def to_list(self) -> list[str]:
        """The non-special tokens (what the vocabulary is built from)."""
        return self.itos[len(SPECIAL_TOKENS) :]


class SmilesVocab(TokenVocab):
    """Atom-level SMILES tokens (:func:`tokenize`), built from the corpus."""

    split = staticmethod(tokenize)


class DescriptionVocab(TokenVocab):
    """Words of molecule descriptions (:func:`~semmol.data.description.tokenize_description`);
    :meth:`closed` is every word the RDKit description generator writes. Words of a dataset's
    own descriptions outside it map to ``<unk>``."""

    # semmol.data.description imports RDKit: only description models need it.
    @staticmethod
    def split(text: str) -> list[str]:
        from semmol.data.description import tokenize_description

        return tokenize_description(text)

    @classmethod
    def closed(cls) -> DescriptionVocab:
        from semmol.data.description import DESCRIPTION_WORDS

        return cls(DESCRIPTION_WORDS)
