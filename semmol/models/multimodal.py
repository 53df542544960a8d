"""The multimodal encoder: one encoder per modality, each projected into one shared space.

Encoders are chosen by modality and ``name`` in the config through :data:`ENCODERS`; adding an
architecture means adding a class and a registry entry. :meth:`MultiModalEncoder.save` stores
the config, vocabulary and weights together, so :meth:`MultiModalEncoder.load` needs nothing else.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch_geometric.data import Batch

from semmol import __version__
from semmol.config import ModelConfig
from semmol.models.attentivefp import GraphAttentionEncoder
from semmol.models.base import EncoderOutput
from semmol.models.corruption import CorruptionKey
from semmol.models.dmpnn import DMPNNEncoder
from semmol.models.geom3d import GeometryEncoder
from semmol.models.graph2d import GraphEncoder
from semmol.models.graph_transformer import GraphTransformerEncoder
from semmol.models.image import ImageEncoder
from semmol.models.layers import mlp
from semmol.models.pretrain_gnns import PretrainGNNEncoder
from semmol.models.smiles import SmilesTransformer
from semmol.models.text import DebertaEncoder, PretrainedText
from semmol.models.tokenizer import DescriptionVocab, SmilesVocab
from semmol.models.vector import VectorMLP
from semmol.runtime.checkpoint import load_file, save_atomic


def _descriptor_names() -> list[str]:
    """RDKit's descriptor list (version dependent), imported only for models with the descriptors
    view: the others train and save without RDKit."""
    from semmol.data.featurize import DESCRIPTOR_NAMES

    return DESCRIPTOR_NAMES


#: The ``format`` field of a pretrained model file written by :meth:`MultiModalEncoder.save`.
ENCODER_FORMAT = "semmol.encoder/1"

#: (modality, encoder name) -> factory(model config, vocab, ecfp_bits, the published text
#: model's architecture and tokenizer as a checkpoint holds them, or None).
ENCODERS: dict[
    tuple[str, str], Callable[[ModelConfig, SmilesVocab | None, int, PretrainedText | None], nn.Module]
] = {
    ("smiles", "transformer"): lambda cfg, vocab, bits, text: SmilesTransformer(cfg.smiles, vocab=vocab),
    ("smiles", "deberta"): lambda cfg, vocab, bits, text: DebertaEncoder(
        cfg.smiles, vocab=vocab, field="smiles", packed=text
    ),
    ("description", "deberta"): lambda cfg, vocab, bits, text: DebertaEncoder(
        cfg.description, vocab=DescriptionVocab.closed(), field="description", packed=text
    ),
    ("graph2d", "gin"): lambda cfg, vocab, bits, text: GraphEncoder(cfg.graph2d),
    ("graph2d", "gine"): lambda cfg, vocab, bits, text: GraphEncoder(cfg.graph2d),
    ("graph2d", "dmpnn"): lambda cfg, vocab, bits, text: DMPNNEncoder(cfg.graph2d),
    ("graph2d_hu", "pretrain_gnns"): lambda cfg, vocab, bits, text: PretrainGNNEncoder(cfg.graph2d_hu),
    ("geom3d", "schnet"): lambda cfg, vocab, bits, text: GeometryEncoder(cfg.geom3d),
    ("fingerprint", "mlp"): lambda cfg, vocab, bits, text: VectorMLP(
        cfg.fingerprint, field="ecfp", width=bits
    ),
    ("descriptors", "mlp"): lambda cfg, vocab, bits, text: VectorMLP(
        cfg.descriptors, field="descriptors", width=len(_descriptor_names()), standardize=True
    ),
    ("image", "resnet"): lambda cfg, vocab, bits, text: ImageEncoder(cfg.image),
    ("graph_attention", "attentivefp"): lambda cfg, vocab, bits, text: GraphAttentionEncoder(
        cfg.graph_attention
    ),
    ("graph_global", "gps"): lambda cfg, vocab, bits, text: GraphTransformerEncoder(cfg.graph_global),
}


@dataclass
class ModalityOutput(EncoderOutput):
    """An :class:`EncoderOutput` plus ``projected``: ``[B, proj_dim]``, L2-normalised, and, for
    a view asked for in ``token_views``, ``projected_tokens``: ``[B, L, proj_dim]``, its token
    states through the same projection head, L2-normalised."""

    projected: torch.Tensor | None = None
    projected_tokens: torch.Tensor | None = None


class MultiModalEncoder(nn.Module):
    """Encoders and projection heads of the chosen modalities.

    Args:
        cfg: the ``model`` section.
        modalities: which of smiles, graph2d, geom3d, fingerprint to build.
        vocab: SMILES vocabulary (needed when ``smiles`` is among the modalities).
        ecfp_bits: fingerprint length of the shards.
        pretrained_text: per text modality built on published weights (``pretrained`` in its
            config), their architecture and tokenizer as a saved model holds them (default
            None: read from the hub or directory; see :attr:`pretrained_text`).
    """

    def __init__(
        self,
        cfg: ModelConfig,
        *,
        modalities: list[str],
        vocab: SmilesVocab | None,
        ecfp_bits: int,
        pretrained_text: dict[str, PretrainedText] | None = None,
    ):
        super().__init__()
        self.cfg, self.modalities, self.vocab, self.ecfp_bits = (
            cfg,
            list(dict.fromkeys(modalities)),
            vocab,
            ecfp_bits,
        )
        self.encoders = nn.ModuleDict()
        self.projections = nn.ModuleDict()
        known = sorted({modality for modality, _ in ENCODERS})
        for modality in self.modalities:
            if modality not in known:  # before getattr: the config has other fields (proj_dim)
                raise ValueError(f"unknown modality '{modality}'; expected one of {known}")
            name = getattr(cfg, modality).name
            if (modality, name) not in ENCODERS:
                raise ValueError(f"no encoder '{name}' for modality '{modality}'")
            if modality == "smiles" and vocab is None:
                raise ValueError("the smiles encoder needs a vocabulary")
            encoder = ENCODERS[modality, name](cfg, vocab, ecfp_bits, (pretrained_text or {}).get(modality))
            self.encoders[modality] = encoder
            self.projections[modality] = mlp(encoder.dim, encoder.dim, cfg.proj_dim)

    def forward(
        self,
        batch: Batch,
        corrupt: CorruptionKey | None = None,
        *,
        modalities: list[str] | None = None,
        detached_projections: Collection[str] = (),
        detached_hidden: Collection[str] = (),
        token_views: Collection[str] = (),
    ) -> dict[str, ModalityOutput]:
        """Every (or the listed) modality's output.

        Args:
            batch: the molecules.
            corrupt: turns on the reconstruction losses (which keep their gradient).
            modalities: the views to encode (default: all).
            detached_projections: views whose ``projected`` is read without gradient: it is
                computed under ``no_grad``.
            detached_hidden: views whose ``hidden`` is read without gradient too. Under DDP
                with unused parameters, every parameter an output reaches must get a gradient,
                so outputs no loss term trains must not reach any.
            token_views: text views whose token states are projected too (``projected_tokens``),
                detached like their ``hidden`` and ``projected``.

        Raises:
            ValueError: a view in ``token_views`` has no token states.
        """
        outputs = {}
        for modality in modalities or self.modalities:
            out = self.encoders[modality](batch, corrupt)
            detach = modality in detached_hidden
            hidden = out.hidden.detach() if detach else out.hidden
            projected_tokens = None
            with torch.set_grad_enabled(torch.is_grad_enabled() and modality not in detached_projections):
                projected = nn.functional.normalize(self.projections[modality](hidden), dim=-1)
                if modality in token_views:
                    if out.tokens is None:
                        raise ValueError(f"view '{modality}' has no token states (not a text view)")
                    tokens = out.tokens.detach() if detach else out.tokens
                    projected_tokens = nn.functional.normalize(self.projections[modality](tokens), dim=-1)
            outputs[modality] = ModalityOutput(
                hidden=hidden,
                valid=out.valid,
                reconstruction_loss=out.reconstruction_loss,
                tokens=out.tokens,
                token_valid=out.token_valid,
                projected=projected,
                projected_tokens=projected_tokens,
            )
        return outputs

    def fit_input_scaling(self, columns, rows: np.ndarray | None, *, modalities: list[str]) -> None:
        """Fit the input standardization of the listed modalities' vector encoders (see
        :class:`~semmol.models.vector.VectorMLP`) on ``rows`` of a dataset's columns (all when None)."""
        for modality in modalities:
            encoder = self.encoders[modality]
            if getattr(encoder, "standardize", False):
                values = getattr(columns, encoder.field)
                encoder.fit_input_scaling(values if rows is None else values[rows])

    def set_input_scaling(
        self, moments: Callable[[str], tuple[np.ndarray, np.ndarray]], *, modalities: list[str]
    ) -> None:
        """Set the input standardization of the listed modalities' vector encoders from
        ``moments(field)``: the mean and standard deviation of batch field ``field`` over the
        training inputs (e.g. computed shard by shard)."""
        for modality in modalities:
            encoder = self.encoders[modality]
            if getattr(encoder, "standardize", False):
                encoder.set_input_scaling(*moments(encoder.field))

    def spec(self) -> dict:
        """What rebuilds this module (weights aside), as plain data: see :meth:`from_spec`."""
        return {
            "model_config": self.cfg.model_dump(mode="json"),
            "modalities": self.modalities,
            "vocab": None if self.vocab is None else self.vocab.to_list(),
            "ecfp_bits": self.ecfp_bits,
            "descriptor_names": _descriptor_names() if "descriptors" in self.modalities else None,
            "pretrained_text": {modality: text.to_dict() for modality, text in self.pretrained_text.items()},
        }

    @property
    def pretrained_text(self) -> dict[str, PretrainedText]:
        """Architecture and tokenizer of each text encoder built on published weights: a model
        built from them (with these weights loaded) needs neither the hub nor the directory."""
        return {
            modality: encoder.pretrained_text
            for modality, encoder in self.encoders.items()
            if getattr(encoder, "pretrained_text", None) is not None
        }

    @classmethod
    def from_spec(cls, spec: dict, *, where: str | Path = "model") -> MultiModalEncoder:
        """A freshly initialised module of :meth:`spec`'s architecture.

        Raises:
            ValueError: the descriptors of the spec are not this RDKit's (another RDKit version
                computes a different descriptor list, so the descriptor encoder would not fit).
        """
        modalities = spec["modalities"]
        if "descriptors" in modalities and spec["descriptor_names"] != _descriptor_names():
            raise ValueError(
                f"{where}: its descriptor encoder was trained on {len(spec['descriptor_names'])} RDKit "
                f"descriptors, this RDKit computes {len(_descriptor_names())} different ones; "
                "install the RDKit version it was trained with"
            )
        return cls(
            ModelConfig.model_validate(spec["model_config"]),
            modalities=modalities,
            vocab=None if spec["vocab"] is None else SmilesVocab(spec["vocab"]),
            ecfp_bits=spec["ecfp_bits"],
            # absent from models saved before semmol kept it: read from the source again
            pretrained_text={
                modality: PretrainedText(**text) for modality, text in spec.get("pretrained_text", {}).items()
            },
        )

    def save(self, path: str | Path, *, extra: dict | None = None) -> None:
        """Write :meth:`spec`, the weights and ``extra`` (plain data and tensors only) to ``path``."""
        save_atomic(
            {
                "format": ENCODER_FORMAT,
                "semmol_version": __version__,
                **self.spec(),
                "state_dict": self.state_dict(),
                "extra": extra or {},
            },
            path,
        )

    @classmethod
    def load(cls, path: str | Path) -> tuple[MultiModalEncoder, dict]:
        """A model written by :meth:`save`, and its ``extra`` dict (read with ``weights_only=True``)."""
        checkpoint = load_file(path)
        if not isinstance(checkpoint, dict) or checkpoint.get("format") != ENCODER_FORMAT:
            raise ValueError(f"{path}: not a semmol pretrained model (format '{ENCODER_FORMAT}')")
        model = cls.from_spec(checkpoint, where=path)
        model.load_state_dict(checkpoint["state_dict"])
        return model, checkpoint["extra"]
