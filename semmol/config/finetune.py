"""Fine-tuning, the baselines and the evaluation stages after it (probes, report)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from semmol.config.datasets import Source
from semmol.config.section import Modality, Precision, Section


class ChempropConfig(Section):
    """chemprop's D-MPNN through its own command line, on the same splits and seeds as every run.

    chemprop pins its own RDKit, so it lives in an environment of its own (``make chemprop``
    makes ``.venv-chemprop``); the stage calls its ``chemprop`` executable.
    """

    enabled: bool = Field(False, description="Add the chemprop rows to the results table.")
    command: str = Field(
        ".venv-chemprop/bin/chemprop",
        description="The chemprop executable: a path (relative to where Snakemake runs) or a name on PATH.",
    )
    epochs: int = Field(
        50,
        ge=3,
        description="Training epochs (chemprop's default; more than its 2 warm-up epochs); the best-validation epoch is kept.",
    )
    extra_args: list[str] = Field(
        default_factory=list,
        description="More arguments for 'chemprop train', e.g. ['--features-generators', 'v1_rdkit_2d_normalized'].",
    )


class BaselineConfig(Section):
    """Baselines trained by the pipeline on the same splits and seeds as every run: a random
    forest on ECFP (``rf_ecfp4``) and, optionally, chemprop (``chemprop``)."""

    enabled: bool = Field(True, description="Add the random-forest rows to the results table.")
    n_estimators: int = Field(500, description="Trees in the forest.")
    ecfp_radius: int = Field(2, description="Morgan radius (2 = ECFP4).")
    ecfp_bits: int = Field(2048, description="Fingerprint length.")
    chemprop: ChempropConfig = Field(default_factory=ChempropConfig, description="chemprop D-MPNN baseline.")


class FinetuneConfig(Section):
    """Supervised fine-tuning on each benchmark."""

    modalities: list[Modality] = Field(
        default_factory=lambda: ["smiles", "graph2d", "geom3d", "fingerprint"],
        description="Views fused by the head.",
    )
    init: Literal["pretrained", "scratch"] = Field(
        "pretrained",
        description="Start from the run's pretrained encoders, or from random weights (ablation).",
    )
    pretrained: Source | None = Field(
        None,
        description="A pretrained model.pt made elsewhere (source kind hf, url, local or package) to "
        "fine-tune instead of pretraining this run; null = the run's own pretraining.",
    )
    pretrained_format: Literal["semmol", "pretrain_gnns"] = Field(
        "semmol",
        description="What finetune.pretrained holds: a semmol model.pt, or 'pretrain_gnns': a GNN state dict "
        "of Hu et al. (snap-stanford/pretrain-gnns), converted when fetched into the graph2d_hu view of "
        "architecture model.graph2d_hu.architecture (needs graph2d_hu among finetune.modalities).",
    )
    mode: Literal["encoder", "method"] = Field(
        "encoder",
        description="'method' also feeds the head what the pretraining method offers, frozen (SemMol: "
        "[anchor || fused soft positive] against its center libraries); 'encoder': the views alone.",
    )
    epochs: int = Field(50, ge=1, description="Maximum epochs.")
    batch_size: int = Field(32, ge=2, description="Molecules per batch.")
    lr: float = Field(1e-3, description="Peak learning rate of the prediction head.")
    encoder_lr: float = Field(
        3e-4,
        description="Peak learning rate of every encoder, pretrained or not, so that pretrained and "
        "from-scratch rows differ only in their initial weights.",
    )
    schedule: Literal["constant", "warmup_cosine"] = Field(
        "constant",
        description="Learning rates: constant, or linear warm-up then cosine decay to 0 at 'epochs'.",
    )
    warmup_epochs: float = Field(
        0.0, ge=0, description="Epochs of linear warm-up (schedule 'warmup_cosine')."
    )
    weight_decay: float = Field(1e-5, description="AdamW weight decay.")
    frozen_epochs: int = Field(
        0,
        ge=0,
        description="Epochs at the start in which every encoder stays fixed (in eval mode) and only "
        "the head learns; then all learn, the encoders' schedule starting afresh (linear probing, "
        "then fine-tuning: the random head's first gradients do not reach pretrained features). "
        "The same for pretrained and from-scratch rows.",
    )
    layer_lr_ratio: float = Field(
        1.0,
        gt=0,
        le=1,
        description="Layer-wise rates inside each encoder: the first of its modules to run in a "
        "forward pass learns at encoder_lr x layer_lr_ratio, the last at encoder_lr, the others "
        "geometrically in between by the share of the encoder's parameters that run before them "
        "(discriminative fine-tuning: the most general features move least). 1 = one rate.",
    )
    patience: int = Field(10, ge=1, description="Epochs without validation improvement before stopping.")
    head_hidden: int = Field(128, description="Hidden size of the prediction head.")
    dropout: float = Field(0.1, description="Dropout of the prediction head.")
    fusion: Literal["concat", "weighted"] = Field(
        "concat",
        description="How the views meet the head: 'concat' (hidden representations side by side) or "
        "'weighted' (Meta-MM: projections averaged with learned per-view weights).",
    )
    w_view_contrast: float = Field(
        0.0,
        ge=0,
        description="Weight of the InfoNCE between consecutive views added to the task loss "
        "(fusion 'weighted' only; Meta-MM uses a small weight such as 0.1).",
    )
    fingerprint_fusion: list[Literal["ecfp", "maccs", "pubchem", "erg"]] = Field(
        default_factory=list,
        description="Fingerprints fused with the views by dual cross-attention before the head "
        "(LGM-CL): ecfp (the shards' ECFP), maccs (167 MACCS keys), pubchem (881 PubChem bits), "
        "erg (315-float ErG); "
        "with fusion 'concat'. Empty: none.",
    )
    fingerprint_fusion_dim: int = Field(
        64, ge=8, description="Token size of the fingerprint cross-attention."
    )
    graph_text_fusion: Literal["none", "cross_attention"] = Field(
        "none",
        description="'cross_attention' (LGM-CL): the structure views' projections attend to the text "
        "views' tokens and the head reads that unified embedding in place of the structure views "
        "(with fusion 'concat'; weights from an LGM-CL pretraining with lgmcl.fusion "
        "'cross_attention'). 'none': the views side by side.",
    )
    precision: Precision = Field(
        "fp32",
        description="Arithmetic of training and evaluation: 'fp32', 'bf16' (bf16 autocast) or 'auto' "
        "(bf16 on a CUDA device, fp32 on the CPU); fp32 by default, as fine-tuning always ran, so "
        "results tables stay comparable.",
    )

    @model_validator(mode="after")
    def _fusion_options_fit(self) -> FinetuneConfig:
        if self.w_view_contrast and self.fusion != "weighted":
            raise ValueError("finetune.w_view_contrast needs finetune.fusion: weighted")
        if self.fingerprint_fusion and self.fusion != "concat":
            raise ValueError("finetune.fingerprint_fusion needs finetune.fusion: concat")
        if self.graph_text_fusion != "none" and self.fusion != "concat":
            raise ValueError("finetune.graph_text_fusion needs finetune.fusion: concat")
        if self.frozen_epochs >= self.epochs:
            raise ValueError(
                f"finetune.frozen_epochs ({self.frozen_epochs}) must be below finetune.epochs ({self.epochs})"
            )
        return self


class ProbeConfig(Section):
    """Probes on frozen embeddings (docs/methods.md, "Representation probes"): per pretrained run,
    benchmark, split and seed, logistic/ridge and kNN probes on the run's pretrained encoders,
    the same encoders at random initialisation, ECFP4 and RDKit 2D descriptors."""

    enabled: bool = Field(False, description="Run the probe stage and add the Probes table to the report.")
    label_fractions: list[Annotated[float, Field(gt=0, le=1)]] = Field(
        default_factory=lambda: [1.0],
        min_length=1,
        description="Shares of each train subset's labels the probes are fit on (a label-efficiency "
        "curve); the smaller shares' molecules are among the larger ones'.",
    )
    batch_size: int = Field(256, ge=1, description="Molecules per forward pass when embedding.")


class ReportConfig(Section):
    """The results table."""

    published: bool = Field(True, description="Add published reference rows where known.")
