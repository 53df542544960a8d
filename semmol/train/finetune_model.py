"""The property model a fine-tuning job starts from: fresh encoders, or the encoders (and, in the
method's mode, the head input) of a pretrained ``model.pt``."""

from __future__ import annotations

import logging
from pathlib import Path

from torch import nn

from semmol.config import FinetuneJob, PretrainJob
from semmol.methods import build_method, method_class
from semmol.methods.property import PropertyModel
from semmol.models.multimodal import MultiModalEncoder
from semmol.models.tokenizer import SmilesVocab

log = logging.getLogger(__name__)


def build_model(
    job: FinetuneJob, *, n_tasks: int, ecfp_bits: int, corpus_smiles: list[str], pretrained: Path | None
) -> tuple[PropertyModel, list[nn.Parameter], list[str]]:
    """The property model of a job, the parameters that come from pretraining, and the fine-tuned
    views the pretraining method's own terms never trained (:func:`views_without_method_gradient`).

    Args:
        job: the fine-tuning job.
        n_tasks: number of targets.
        ecfp_bits: fingerprint length of the benchmark's shards.
        corpus_smiles: SMILES to build a vocabulary from when nothing is pretrained.
        pretrained: the run's ``model.pt``, or ``None`` for training from scratch.
    """
    cfg = job.finetune
    method_mode = cfg.mode == "method"
    if pretrained is None:
        if method_mode:
            raise ValueError("finetune.mode 'method' needs a pretrained model (finetune.init: pretrained)")
        encoder = MultiModalEncoder(
            job.model, modalities=cfg.modalities, vocab=SmilesVocab.build(corpus_smiles), ecfp_bits=ecfp_bits
        )
        return _with_head(job, encoder, n_tasks=n_tasks), [], []
    source, extra = MultiModalEncoder.load(pretrained)
    # The pretrained encoders keep the architecture they were trained with (a model made
    # elsewhere need not match this run's model section); other modalities follow the run's.
    model_config = job.model.model_copy(
        update={"proj_dim": source.cfg.proj_dim}
        | {modality: getattr(source.cfg, modality) for modality in source.modalities}
    )
    if (
        "fingerprint" in source.modalities
        and "fingerprint" in cfg.modalities
        and source.ecfp_bits != ecfp_bits
    ):
        raise ValueError(
            f"{pretrained}: its fingerprint encoder reads {source.ecfp_bits} ECFP bits, the benchmark's "
            f"shards hold {ecfp_bits}; set conformers.ecfp_bits to {source.ecfp_bits}"
        )
    pretrain_job = PretrainJob.model_validate(extra["pretrain_job"]) if "pretrain_job" in extra else None
    untrained = [] if pretrain_job is None else views_without_method_gradient(pretrain_job, cfg.modalities)
    if untrained:
        log.warning(
            "fine-tuned views %s get no gradient from the terms of pretraining method '%s': "
            "their pretraining is their own reconstruction terms at most",
            untrained,
            pretrain_job.pretrain.method,
        )
    head_input = None
    if method_mode:
        if pretrain_job is None:
            raise ValueError(f"{pretrained}: finetune.mode 'method' needs a model pretrained by a method")
        method = build_method(pretrain_job)
        method.load_state_dict(extra["method"])
        head_input = method.head_input()  # raises for a method that offers none
    # Modalities that were not pretrained (e.g. fingerprints) start from random weights.
    extra_views = [head_input.anchor] if head_input is not None else []
    modalities = list(dict.fromkeys(cfg.modalities + extra_views))
    encoder = MultiModalEncoder(
        model_config,
        modalities=modalities,
        vocab=source.vocab,
        ecfp_bits=ecfp_bits,
        pretrained_text=source.pretrained_text,
    )
    pretrained_state = {k: v for k, v in source.state_dict().items() if k.split(".")[1] in modalities}
    encoder.load_state_dict(pretrained_state, strict=False)
    loaded = set(pretrained_state)
    pretrained_params = [p for name, p in encoder.named_parameters() if name in loaded]
    model = _with_head(
        job,
        encoder,
        n_tasks=n_tasks,
        head_input=head_input,
        method=None if head_input is None else pretrain_job.pretrain.method,
    )
    log.info("loaded pretrained %s from %s", sorted({k.split(".")[1] for k in loaded}), pretrained)
    return model, pretrained_params, untrained


def _with_head(job: FinetuneJob, encoder: MultiModalEncoder, *, n_tasks: int, **head_input) -> PropertyModel:
    """The encoders under the prediction head of the job's ``finetune`` section.

    Args:
        job: the fine-tuning job.
        encoder: the views' encoders.
        n_tasks: number of targets.
        head_input: in the method's mode, :class:`PropertyModel`'s ``head_input`` and ``method``.
    """
    cfg = job.finetune
    return PropertyModel(
        encoder,
        modalities=cfg.modalities,
        n_tasks=n_tasks,
        head_hidden=cfg.head_hidden,
        dropout=cfg.dropout,
        fusion=cfg.fusion,
        fingerprints=cfg.fingerprint_fusion,
        fingerprint_dim=cfg.fingerprint_fusion_dim,
        **head_input,
    )


def views_without_method_gradient(pretrain_job: PretrainJob, modalities: list[str]) -> list[str]:
    """The fine-tuned views that the pretraining method's own terms never trained (their encoders
    learnt from their reconstruction terms at most): allowed, but worth saying."""
    trained = method_class(pretrain_job.pretrain.method).trained_views(pretrain_job)
    return [view for view in modalities if view not in trained]
