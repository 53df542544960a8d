"""SMILES encoder: a small transformer over atom-level tokens, with masked-token reconstruction."""

from __future__ import annotations

import torch
from torch import nn
from torch_geometric.data import Batch

from semmol.config import SmilesEncoderConfig
from semmol.models.base import EncoderOutput
from semmol.models.corruption import STREAM_SMILES_MASK, CorruptionKey
from semmol.models.tokenizer import SmilesVocab
from semmol.runtime.distributed import global_mean


class SmilesTransformer(nn.Module):
    """Transformer encoder over SMILES tokens.

    Input: ``batch.smiles`` (``B`` strings), tokenized with ``vocab`` to ``[B, L]`` ids
    (``L <= max_len``, ``<cls>`` first). Output: ``hidden`` ``[B, dim]``, the mean over
    non-padding token states. With a corruption key, a ``mask_prob`` share of the tokens
    (never ``<cls>``) is replaced by ``<mask>`` and predicted back (cross-entropy).

    Args:
        cfg: ``model.smiles`` options (dim, layers, heads, max_len, dropout, mask_prob).
        vocab: the corpus vocabulary.
    """

    def __init__(self, cfg: SmilesEncoderConfig, *, vocab: SmilesVocab):
        super().__init__()
        self.cfg, self.vocab = cfg, vocab
        self.dim = cfg.dim
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

    def forward(self, batch: Batch, corrupt: CorruptionKey | None = None) -> EncoderOutput:
        ids = self.vocab.encode(batch.smiles, max_len=self.cfg.max_len).to(batch.mol_id.device)
        padding = ids == self.vocab.pad_id
        masked = torch.zeros_like(padding)
        if corrupt is not None:
            positions = torch.arange(ids.shape[1], device=ids.device).expand_as(ids)
            draw = corrupt.uniform(STREAM_SMILES_MASK, batch.mol_id[:, None].expand_as(ids), positions)
            masked = (draw < self.cfg.mask_prob) & ~padding & (ids != self.vocab.cls_id)
        inputs = ids.masked_fill(masked, self.vocab.mask_id)
        positions = torch.arange(ids.shape[1], device=ids.device)
        states = self.transformer(
            self.token_embedding(inputs) + self.position_embedding(positions), src_key_padding_mask=padding
        )
        states = self.norm(states)
        keep = (~padding).unsqueeze(-1).float()
        hidden = (states * keep).sum(1) / keep.sum(1)
        loss = None
        if corrupt is not None:
            logits = self.token_head(states[masked])
            loss_sum = nn.functional.cross_entropy(logits, ids[masked], reduction="sum")
            loss = global_mean(loss_sum, int(masked.sum()))
        valid = torch.ones(len(ids), dtype=torch.bool, device=ids.device)
        return EncoderOutput(hidden=hidden, valid=valid, reconstruction_loss=loss)
