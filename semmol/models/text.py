"""Text encoders: token sequences (SMILES, descriptions) with masked-token reconstruction.

:class:`TokenSequenceEncoder` holds what every text encoder does the same way: tokenize one
text field of the batch, mask a share of the tokens under a corruption key and predict them
back, and mean-pool the token states; a subclass only contextualizes token ids
(:meth:`TokenSequenceEncoder.contextualize`). :class:`DebertaEncoder` is DeBERTa-v2
(transformers' ``DebertaV2Model``, disentangled relative-position attention), trained from
scratch over our vocabularies, or started from published weights with their own tokenizer
(``pretrained``: a Hub name or a local directory, read with ``from_pretrained``). A model built
on published weights carries their architecture and tokenizer (:class:`PretrainedText`) into
its checkpoint, so the hub or directory is needed only once, when training starts.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from torch import nn
from torch_geometric.data import Batch

from semmol.config import DescriptionEncoderConfig, SmilesEncoderConfig
from semmol.models.base import EncoderOutput
from semmol.models.corruption import STREAM_SMILES_MASK, STREAM_SMILES_ORDER, CorruptionKey
from semmol.models.tokenizer import TokenVocab
from semmol.runtime.distributed import global_mean

# transformers is imported where a DeBERTa is built: the other encoders (and the GPU check's
# bare machine) do without it.
if TYPE_CHECKING:
    from transformers import DebertaV2Config


@dataclass(frozen=True)
class PretrainedText:
    """What rebuilds a published text model without its source: architecture and tokenizer.

    Args:
        config: the model's ``DebertaV2Config`` as a dict.
        tokenizer_files: the files ``save_pretrained`` writes for its tokenizer, by name.
    """

    config: dict
    tokenizer_files: dict[str, bytes]

    @classmethod
    def pack(cls, tokenizer, config: DebertaV2Config) -> PretrainedText:
        """Pack a loaded tokenizer (its ``save_pretrained`` files) and model config."""
        with tempfile.TemporaryDirectory() as tmp:
            tokenizer.save_pretrained(tmp)
            files = {path.name: path.read_bytes() for path in sorted(Path(tmp).iterdir()) if path.is_file()}
        return cls(config=config.to_dict(), tokenizer_files=files)

    def model_config(self) -> DebertaV2Config:
        from transformers import DebertaV2Config

        return DebertaV2Config.from_dict(self.config)

    def tokenizer(self):
        """The tokenizer, loaded from a copy of its files."""
        from transformers import AutoTokenizer

        with tempfile.TemporaryDirectory() as tmp:
            for name, content in self.tokenizer_files.items():
                (Path(tmp) / name).write_bytes(content)
            return AutoTokenizer.from_pretrained(tmp)

    def to_dict(self) -> dict:
        return {"config": self.config, "tokenizer_files": self.tokenizer_files}


class PretrainedTokenizer:
    """A Hugging Face tokenizer behind the interface of :class:`~semmol.models.tokenizer.TokenVocab`.

    Args:
        tokenizer: the Hugging Face tokenizer.
        name: where it came from, for messages.

    Raises:
        ValueError: the tokenizer has no padding or mask token (the encoders need both).
    """

    def __init__(self, tokenizer, *, name: str):
        self.tokenizer = tokenizer
        self.pad_id, self.mask_id = self.tokenizer.pad_token_id, self.tokenizer.mask_token_id
        if self.pad_id is None or self.mask_id is None:
            raise ValueError(f"{name}: its tokenizer lacks a padding or mask token; both are needed")
        self.unk_id = self.tokenizer.unk_token_id
        self.cls_id = -1 if self.tokenizer.cls_token_id is None else self.tokenizer.cls_token_id

    def __len__(self) -> int:
        return len(self.tokenizer)

    def encode(self, texts: list[str], *, max_len: int) -> torch.Tensor:
        return self.tokenizer(
            list(texts), padding=True, truncation=True, max_length=max_len, return_tensors="pt"
        )["input_ids"]


class TokenSequenceEncoder(nn.Module):
    """Base of the text encoders.

    Input: ``batch.<field>`` (``B`` strings), tokenized with ``vocab`` to ``[B, L]`` ids
    (``L <= max_len``, ``<cls>`` first). Output: ``hidden`` ``[B, dim]``, the mean over
    non-padding token states, and the token states themselves (``tokens``). With a corruption
    key, a ``mask_prob`` share of the tokens (never ``<cls>``) is replaced by ``<mask>`` and
    predicted back (cross-entropy), and, for a SMILES encoder with ``randomize``, each molecule
    is read as a randomised SMILES.

    Args:
        cfg: the encoder's options (dim, max_len, mask_prob, ...).
        vocab: the token vocabulary.
        field: the batch attribute holding the texts (``smiles`` or ``description``).
    """

    def __init__(
        self,
        cfg: SmilesEncoderConfig | DescriptionEncoderConfig,
        *,
        vocab: TokenVocab | PretrainedTokenizer,
        field: str,
    ):
        super().__init__()
        self.cfg, self.vocab, self.field = cfg, vocab, field
        self.dim = cfg.dim

    def contextualize(self, ids: torch.Tensor, padding: torch.Tensor) -> torch.Tensor:
        """``[B, L, dim]`` token states of ``[B, L]`` ids (``padding`` marks ``<pad>``)."""
        raise NotImplementedError

    def texts(self, batch: Batch, corrupt: CorruptionKey | None) -> list[str]:
        texts = getattr(batch, self.field)
        if corrupt is None or not getattr(self.cfg, "randomize", False):
            return texts
        from semmol.data.chem import randomized_smiles  # RDKit: only for randomized SMILES

        draws = corrupt.uniform(STREAM_SMILES_ORDER, batch.mol_id, torch.zeros_like(batch.mol_id))
        return [randomized_smiles(text, seed=int(d * 2**24)) for text, d in zip(texts, draws)]

    def forward(self, batch: Batch, corrupt: CorruptionKey | None = None) -> EncoderOutput:
        ids = self.vocab.encode(self.texts(batch, corrupt), max_len=self.cfg.max_len).to(batch.mol_id.device)
        padding = ids == self.vocab.pad_id
        masked = torch.zeros_like(padding)
        if corrupt is not None:
            positions = torch.arange(ids.shape[1], device=ids.device).expand_as(ids)
            draw = corrupt.uniform(STREAM_SMILES_MASK, batch.mol_id[:, None].expand_as(ids), positions)
            masked = (draw < self.cfg.mask_prob) & ~padding & (ids != self.vocab.cls_id)
        states = self.contextualize(ids.masked_fill(masked, self.vocab.mask_id), padding)
        keep = (~padding).unsqueeze(-1).float()
        hidden = (states * keep).sum(1) / keep.sum(1)
        loss = None
        if corrupt is not None:
            logits = self.token_head(states[masked])
            loss_sum = nn.functional.cross_entropy(logits, ids[masked], reduction="sum")
            loss = global_mean(loss_sum, int(masked.sum()))
        valid = torch.ones(len(ids), dtype=torch.bool, device=ids.device)
        return EncoderOutput(
            hidden=hidden, valid=valid, reconstruction_loss=loss, tokens=states, token_valid=~padding
        )


class DebertaEncoder(TokenSequenceEncoder):
    """DeBERTa-v2 of ``cfg``'s size over ``vocab``, randomly initialised, or ``cfg.pretrained``'s
    weights over its own tokenizer (``vocab`` is then unused); see :class:`TokenSequenceEncoder`.

    From scratch, relative positions are bucketed (``position_buckets`` 32), so texts longer
    than the buckets still get distinct near-range positions; there are no absolute positions.

    Args:
        packed: with ``cfg.pretrained``, its architecture and tokenizer as a checkpoint holds
            them (default None: read them and the weights from ``cfg.pretrained``). The
            weights are then random until the checkpoint's state dict is loaded.
    """

    def __init__(
        self,
        cfg: SmilesEncoderConfig | DescriptionEncoderConfig,
        *,
        vocab: TokenVocab,
        field: str,
        packed: PretrainedText | None = None,
    ):
        from transformers import AutoTokenizer, DebertaV2Model

        deberta = None  # built before the module's state exists, assigned after
        if packed is not None:
            tokenizer, deberta = packed.tokenizer(), DebertaV2Model(packed.model_config())
        elif cfg.pretrained:
            tokenizer = AutoTokenizer.from_pretrained(cfg.pretrained)
            deberta = DebertaV2Model.from_pretrained(cfg.pretrained)
            packed = PretrainedText.pack(tokenizer, deberta.config)
        if deberta is not None:
            vocab = PretrainedTokenizer(tokenizer, name=cfg.pretrained)
        super().__init__(cfg, vocab=vocab, field=field)
        self.pretrained_text = packed
        if deberta is None:
            deberta = DebertaV2Model(self._config(cfg, len(vocab), vocab.pad_id))
        self.deberta = deberta
        self.dim = self.deberta.config.hidden_size
        self.token_head = nn.Linear(self.dim, len(vocab))

    @staticmethod
    def _config(
        cfg: SmilesEncoderConfig | DescriptionEncoderConfig, vocab_size: int, pad_id: int
    ) -> DebertaV2Config:
        from transformers import DebertaV2Config

        return DebertaV2Config(
            vocab_size=vocab_size,
            hidden_size=cfg.dim,
            num_hidden_layers=cfg.layers,
            num_attention_heads=cfg.heads,
            intermediate_size=2 * cfg.dim,
            hidden_dropout_prob=cfg.dropout,
            attention_probs_dropout_prob=cfg.dropout,
            max_position_embeddings=cfg.max_len,
            relative_attention=True,
            position_buckets=32,
            max_relative_positions=-1,
            pos_att_type=["p2c", "c2p"],
            position_biased_input=False,
            type_vocab_size=0,
            pad_token_id=pad_id,
        )

    def contextualize(self, ids: torch.Tensor, padding: torch.Tensor) -> torch.Tensor:
        return self.deberta(input_ids=ids, attention_mask=(~padding).long()).last_hidden_state
