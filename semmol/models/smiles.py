"""SMILES encoder: a small pre-norm transformer over atom-level tokens, with masked-token reconstruction."""

from __future__ import annotations

import torch
from torch import nn

from semmol.config import SmilesEncoderConfig
from semmol.models.text import TokenSequenceEncoder
from semmol.models.tokenizer import SmilesVocab


class SmilesTransformer(TokenSequenceEncoder):
    """Transformer encoder over ``batch.smiles`` tokens with learned absolute positions; see
    :class:`~semmol.models.text.TokenSequenceEncoder` for input, output and masking.

    Args:
        cfg: ``model.smiles`` options (dim, layers, heads, max_len, dropout, mask_prob, randomize).
        vocab: the corpus vocabulary.
    """

    def __init__(self, cfg: SmilesEncoderConfig, *, vocab: SmilesVocab):
        super().__init__(cfg, vocab=vocab, field="smiles")
        self.token_embedding = nn.Embedding(len(vocab), cfg.dim, padding_idx=vocab.pad_id)
        self.position_embedding = nn.Embedding(cfg.max_len, cfg.dim)
        layer = nn.TransformerEncoderLayer(
            cfg.dim,
            cfg.heads,
            dim_feedforward=2 * cfg.dim,
            dropout=cfg.dropout,
            batch_first=True,
            norm_first=True,
        )
        # No nested-tensor fast path: it changes numerics between train and eval mode.
        self.transformer = nn.TransformerEncoder(layer, cfg.layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(cfg.dim)
        self.token_head = nn.Linear(cfg.dim, len(vocab))

    def contextualize(self, ids: torch.Tensor, padding: torch.Tensor) -> torch.Tensor:
        positions = torch.arange(ids.shape[1], device=ids.device)
        states = self.transformer(
            self.token_embedding(ids) + self.position_embedding(positions), src_key_padding_mask=padding
        )
        return self.norm(states)
