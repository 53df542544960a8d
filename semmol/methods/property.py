"""Property prediction: encoders of the chosen modalities, their fusion, and a task head."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn
from torch_geometric.data import Batch

from semmol import __version__
from semmol.methods import method_class
from semmol.methods.shared.view_fusion import WeightedViewFusion
from semmol.models.fingerprint_fusion import FINGERPRINT_WIDTHS, DualCrossAttentionFusion
from semmol.models.layers import mlp
from semmol.models.multimodal import MultiModalEncoder
from semmol.runtime.checkpoint import load_file, save_atomic

#: The ``format`` field of a fine-tuned model file written by :meth:`PropertyModel.save`.
PROPERTY_FORMAT = "semmol.property_model/3"


def to_target_units(raw: torch.Tensor, *, task: str, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """Model outputs -> class-1 probabilities, class probabilities (multiclass: a softmax over the
    K outputs) or values in the targets' units (float32, on the CPU).

    Args:
        raw: ``[B, n_tasks]`` logits (classification), ``[B, K]`` logits (multiclass) or
            standardised values (regression).
        task: 'classification', 'multiclass' or 'regression'.
        mean: ``[n_tasks]`` training-label means (regression).
        std: ``[n_tasks]`` training-label standard deviations (regression).
    """
    raw = raw.float().cpu()  # a bf16 head's output (autocast) has no numpy counterpart
    if task == "regression":
        return raw * std + mean
    return torch.softmax(raw, dim=1) if task == "multiclass" else torch.sigmoid(raw)


class PropertyModel(nn.Module):
    """Fusion of per-modality representations, then an MLP head.

    ``concat`` fusion: the views' hidden representations side by side; a molecule without a
    view (no conformer) gets a learned "missing" vector for it. ``weighted`` fusion (Meta-MM):
    the views' projections averaged with learned weights (:class:`WeightedViewFusion`), whose
    consecutive-view contrast :meth:`forward_with_contrast` returns for the loss. With a
    ``head_input`` (``finetune.mode: method``) the head also sees what the pretraining method
    makes of the anchor's projection, frozen: for SemMol ``[anchor || fused soft positive]``
    against its center libraries.

    Args:
        encoder: encoders of (at least) ``modalities``.
        modalities: views fused by the head.
        n_tasks: outputs (one per target; for a multiclass target one per class).
        head_hidden: hidden size of the head.
        dropout: dropout of the head.
        head_input: a method's frozen head input (:meth:`PretrainMethod.head_input`), with
            attributes ``anchor`` (the modality it reads) and ``out_dim``; default none (plain
            encoder fine-tuning).
        method: the name of the method ``head_input`` comes from; needed with it.
        fusion: ``concat`` (default) or ``weighted``.
        fingerprints: with concat fusion, fingerprints (``ecfp``, ``maccs``, ``erg``) fused with
            the views by dual cross-attention (:class:`DualCrossAttentionFusion`, LGM-CL), whose
            output the head reads instead of the plain concatenation; default none.
        fingerprint_dim: token size of that attention; default 64.
    """

    def __init__(
        self,
        encoder: MultiModalEncoder,
        *,
        modalities: list[str],
        n_tasks: int,
        head_hidden: int,
        dropout: float,
        head_input: nn.Module | None = None,
        method: str | None = None,
        fusion: str = "concat",
        fingerprints: Sequence[str] = (),
        fingerprint_dim: int = 64,
    ):
        super().__init__()
        if (head_input is None) != (method is None):
            raise ValueError("a head input needs the name of its method, and only then")
        if fusion not in ("concat", "weighted"):
            raise ValueError(f"fusion is 'concat' or 'weighted', got '{fusion}'")
        if fingerprints and fusion != "concat":
            raise ValueError("fingerprint fusion works on the views' hidden representations: fusion 'concat'")
        self.encoder, self.modalities, self.fusion_kind = encoder, list(modalities), fusion
        self.head_input, self.method = head_input, method
        self.n_tasks, self.head_hidden, self.dropout = n_tasks, head_hidden, dropout
        self.fingerprints, self.fingerprint_dim = list(fingerprints), fingerprint_dim
        self.fingerprint_fusion = None
        if fusion == "weighted":
            self.fusion = WeightedViewFusion(self.modalities)
            width = encoder.cfg.proj_dim
        else:
            dims = {m: encoder.encoders[m].dim for m in self.modalities}
            self.missing = nn.ParameterDict({m: nn.Parameter(torch.zeros(d)) for m, d in dims.items()})
            width = sum(dims.values())
            if self.fingerprints:
                widths = {"ecfp": encoder.ecfp_bits, **FINGERPRINT_WIDTHS}
                self.fingerprint_fusion = DualCrossAttentionFusion(
                    list(dims.values()), [widths[name] for name in self.fingerprints], dim=fingerprint_dim
                )
                width = self.fingerprint_fusion.out_dim
        width += head_input.out_dim if head_input is not None else 0
        self.head = mlp(width, head_hidden, n_tasks, layers=2, dropout=dropout)

    def used_modalities(self) -> list[str]:
        extra = [self.head_input.anchor] if self.head_input is not None else []
        return list(dict.fromkeys(self.modalities + extra))

    def forward(self, batch: Batch) -> torch.Tensor:
        """Logits (classification, multiclass) or standardised values (regression), ``[B, n_tasks]``."""
        return self.forward_with_contrast(batch)[0]

    def forward_with_contrast(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        """The outputs and the views' contrast (weighted fusion; 0 for concat fusion)."""
        outputs = self.encoder(batch, modalities=self.used_modalities())
        if self.fusion_kind == "weighted":
            fused, contrast = self.fusion(outputs)
            features = [fused]
        else:
            features = [
                torch.where(
                    outputs[m].valid.unsqueeze(1),
                    outputs[m].hidden,
                    self.missing[m].expand_as(outputs[m].hidden),
                )
                for m in self.modalities
            ]
            contrast = features[0].new_zeros(())
            if self.fingerprint_fusion is not None:
                valid = torch.stack([outputs[m].valid for m in self.modalities], dim=1)
                fingerprints = [getattr(batch, name) for name in self.fingerprints]
                features = [self.fingerprint_fusion(features, valid, fingerprints)]
        if self.head_input is not None:
            features.append(self.head_input(outputs[self.head_input.anchor].projected))
        return self.head(torch.cat(features, dim=1)), contrast

    def spec(self) -> dict:
        """What rebuilds this model (weights aside), as plain data: see :meth:`from_spec`."""
        return {
            "encoder": self.encoder.spec(),
            "modalities": self.modalities,
            "n_tasks": self.n_tasks,
            "head_hidden": self.head_hidden,
            "dropout": self.dropout,
            "method": self.method,
            "head_input": None if self.head_input is None else self.head_input.spec(),
            "fusion": self.fusion_kind,
            "fingerprints": self.fingerprints,
            "fingerprint_dim": self.fingerprint_dim,
        }

    @classmethod
    def from_spec(cls, spec: dict, *, where: str | Path = "model") -> PropertyModel:
        """A freshly initialised model of :meth:`spec`'s architecture."""
        head_input = None
        if spec["head_input"] is not None:
            head_input = method_class(spec["method"]).head_input_class.from_spec(spec["head_input"])
        return cls(
            MultiModalEncoder.from_spec(spec["encoder"], where=where),
            modalities=spec["modalities"],
            n_tasks=spec["n_tasks"],
            head_hidden=spec["head_hidden"],
            dropout=spec["dropout"],
            head_input=head_input,
            method=spec["method"],
            fusion=spec["fusion"],
            fingerprints=spec["fingerprints"],
            fingerprint_dim=spec["fingerprint_dim"],
        )

    def save(self, path: str | Path, *, metadata: dict) -> None:
        """Write :meth:`spec`, the weights and ``metadata`` (plain data: what predicting needs
        besides the network, e.g. targets and label scaling) to ``path``."""
        save_atomic(
            {
                "format": PROPERTY_FORMAT,
                "semmol_version": __version__,
                "spec": self.spec(),
                "state_dict": self.state_dict(),
                "metadata": metadata,
            },
            path,
        )

    @classmethod
    def load(cls, path: str | Path) -> tuple[PropertyModel, dict]:
        """A model written by :meth:`save` (read with ``weights_only=True``), in evaluation mode,
        and its metadata."""
        saved = load_file(path)
        if not isinstance(saved, dict) or saved.get("format") != PROPERTY_FORMAT:
            raise ValueError(f"{path}: not a semmol fine-tuned model (format '{PROPERTY_FORMAT}')")
        model = cls.from_spec(saved["spec"], where=path)
        model.load_state_dict(saved["state_dict"])
        return model.eval(), saved["metadata"]
