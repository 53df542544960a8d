"""Pretraining and the options of each pretraining method's own objective."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from semmol.config.section import Modality, Precision, Section


class PretrainConfig(Section):
    """Multimodal pretraining on the corpus (torchrun; gloo on CPU, NCCL on GPU)."""

    method: Literal["semmol", "infonce", "mmsa", "lgmcl"] = Field(
        "semmol",
        description="Pretraining method (a plug-in of semmol.methods): 'infonce' (anchor-target contrast), "
        "'semmol' (adds the center library and soft matching), 'mmsa' (fused views, hypergraph over "
        "molecules, memory anchors), 'lgmcl' (structure views contrasted among themselves, text views "
        "among themselves, and structure with text); mmsa and lgmcl take the anchor and targets alike.",
    )
    anchor: Modality = Field("smiles", description="Anchor view of the contrastive and matching terms.")
    targets: list[Modality] = Field(
        default_factory=lambda: ["graph2d", "geom3d"], description="Target views."
    )
    descriptor_views: list[Modality] = Field(
        default_factory=list,
        description="Views (the anchor or targets, not 'descriptors') whose pooled representation "
        "also learns, by a linear head, to predict the molecule's RDKit 2D descriptors standardized "
        "over the corpus (MolBERT's PhysChem task), beside any method's terms; empty: no such term.",
    )
    w_descriptors: float = Field(
        1.0, ge=0, description="Weight of the descriptor-prediction term (pretrain.descriptor_views)."
    )
    steps: int = Field(1000, ge=1, description="Optimizer steps.")
    batch_size: int = Field(64, ge=2, description="Global batch size, split evenly over the ranks.")
    nproc: int = Field(1, ge=1, description="Processes per node launched by torchrun (without GPUs).")
    gpus_per_node: int = Field(
        0,
        ge=0,
        description="GPUs per node: one process each (replaces nproc); 0 asks the scheduler for none.",
    )
    nodes: int = Field(
        1,
        ge=1,
        description="Nodes of a multi-node run under SLURM (srun + torchrun, c10d rendezvous on the first node).",
    )
    stream_shards: int | None = Field(
        None,
        ge=1,
        description="Corpus shards held in memory at once (twice that while a batch straddles two "
        "windows); each epoch permutes the shards, then the molecules within each window. null "
        "holds every shard (one permutation of the corpus); set it to keep memory flat in corpus size.",
    )
    lr: float = Field(1e-3, description="Peak AdamW learning rate.")
    weight_decay: float = Field(0.01, description="AdamW weight decay.")
    warmup_steps: int = Field(100, description="Linear warm-up steps before the cosine decay.")
    grad_clip: float = Field(1.0, description="Gradient-norm clip.")
    temperature: float = Field(0.1, gt=0, description="InfoNCE temperature.")
    w_contrastive: float = Field(1.0, description="Weight of the cross-modal InfoNCE term.")
    w_reconstruction: float = Field(1.0, description="Weight of the masked-token/atom and denoising terms.")
    precision: Precision = Field(
        "auto",
        description="Arithmetic of the forward pass and losses: 'bf16' (bf16 autocast, the losses' "
        "similarities kept in float32), 'fp32', or 'auto' (bf16 on a CUDA device, fp32 on the CPU).",
    )
    checkpoint_every: int = Field(100, ge=1, description="Steps between resumable checkpoints (_ckpt/).")
    log_every: int = Field(10, ge=1, description="Steps between lines of metrics.jsonl.")
    seed: int = Field(0, description="Seed of initialisation, data order and corruption.")

    @model_validator(mode="before")
    @classmethod
    def _legacy_bf16(cls, data: Any) -> Any:
        """A model pretrained before ``precision`` existed stores ``bf16``: true meant bf16 on a
        CUDA device and float32 on the CPU ('auto'), false float32 everywhere ('fp32')."""
        if isinstance(data, dict) and "bf16" in data:
            data = dict(data)
            data.setdefault("precision", "auto" if data.pop("bf16") else "fp32")
        return data

    @model_validator(mode="after")
    def _descriptor_views_are_encoded(self) -> PretrainConfig:
        views = [self.anchor, *self.targets]
        stray = [v for v in self.descriptor_views if v not in views or v == "descriptors"]
        if stray or len(set(self.descriptor_views)) != len(self.descriptor_views):
            raise ValueError(
                f"pretrain.descriptor_views {self.descriptor_views} must be distinct views of "
                f"{views}, other than 'descriptors' (it would read its own target)"
            )
        return self


class TemperatureConfig(Section):
    """Temperature tau of the soft-positive weighting."""

    mode: Literal["fixed", "learnable", "scheduled"] = Field("learnable", description="How tau evolves.")
    init: float = Field(0.1, gt=0, description="Starting value.")
    min: float = Field(0.02, gt=0, description="Lower clamp of a learnable tau.")
    max: float = Field(1.0, gt=0, description="Upper clamp of a learnable tau.")
    final: float = Field(0.05, gt=0, description="End value of the cosine schedule (mode 'scheduled').")


class SemanticConfig(Section):
    """Dynamic Center Library and Anchor-Center Soft Matching (used when pretrain.method is 'semmol').

    Defaults are the reference code's (github 3505675604/SemMol, src/losses/total_loss.py,
    acsm_loss.py, models/alignment/acsm.py): ``0.1 ramp L_pseudo + 0.01 L_align`` against the
    fused soft positive, fixed temperatures 0.07, no memory bank, no instance-level InfoNCE.
    Every departure is an option here (docs/methods.md, "SemMol").
    """

    n_centers: int = Field(256, ge=2, description="Centers K per target modality.")
    top_m: int = Field(16, ge=1, description="Centers forming the soft positive (1 = hard assignment).")
    weighting: Literal["softmax", "uniform"] = Field(
        "softmax", description="Weights of the top-M centers: softmax(s / tau), or uniform (ablation)."
    )
    delta: float = Field(0.5, description="Minimum similarity of a hard-negative center.")
    max_negatives: int = Field(10, ge=0, description="0 disables hard negatives.")
    beta: float = Field(0.9, ge=0, le=1, description="EMA momentum of the center update.")
    init_cache: int = Field(4096, ge=2, description="Cap on features cached for k-means++ initialisation.")
    init_min: int | None = Field(
        None,
        ge=2,
        description="Features cached before the first clustering (<= init_cache); null = n_centers.",
    )
    init_iters: int = Field(10, ge=0, description="Spherical Lloyd iterations after k-means++.")
    reseed_after: int | None = Field(
        200, description="Re-seed centers empty for this many updates; null = never."
    )
    faiss_min_size: int = Field(
        1 << 16, description="Use FAISS when batch x K reaches this; torch otherwise."
    )
    tau: TemperatureConfig = Field(
        default_factory=lambda: TemperatureConfig(mode="fixed", init=0.07),
        description="Soft-positive temperature (reference: fixed 0.07).",
    )
    tau_loss: float = Field(0.07, gt=0, description="Temperature tau_L of the pseudo-pair loss.")
    positive: Literal["fused", "per_modality"] = Field(
        "fused",
        description="'fused' (reference): one positive per anchor, normalize(sum of the target "
        "libraries' weighted centers), in the pseudo-pair logit and the alignment; 'per_modality': "
        "one normalised positive and one term per target library.",
    )
    positive_from: Literal["anchor", "target"] = Field(
        "anchor",
        description="What chooses and weights each library's top-M centers: 'anchor' (reference), "
        "the anchor's own similarities, which no term ties to the molecule's other views, so the "
        "matching alone can collapse the anchor; 'target', the molecule's own target projection "
        "(detached), hard negatives still the anchor's most similar other centers.",
    )
    align_reduction: Literal["mean", "sum"] = Field(
        "mean",
        description="How the alignment term reduces (a - p)^2 over the feature dimension: 'mean' "
        "(reference) or 'sum' (= 2 - 2 a.p for unit vectors, dim times heavier).",
    )
    memory_bank_size: int = Field(
        0, ge=0, description="Recent target features kept as extra negatives; 0 (reference): none."
    )
    w_pseudo: float = Field(
        0.1, description="Weight of the pseudo-pair (soft positive vs hard negatives) loss."
    )
    w_align: float = Field(0.01, description="Weight of the anchor-to-soft-positive alignment (MSE) loss.")
    w_infonce: float = Field(
        0.0,
        description="Weight of an instance-level InfoNCE between the anchor and each target "
        "(pretrain.temperature); 0 (reference): none, the one-to-one matching the paper replaces.",
    )
    reconstruction_weights: dict[Modality, float] = Field(
        default_factory=lambda: {"geom3d": 0.5},
        description="Factors on the views' own reconstruction terms (times pretrain.w_reconstruction); "
        "a view not listed: 1. Reference: L_MLM + L_graph + 0.5 L_geo.",
    )
    ramp_steps: int = Field(500, ge=0, description="Linear ramp of w_pseudo after matching starts.")
    warmup_updates: int = Field(50, ge=0, description="Library updates before matching starts.")
    snapshot_every: int = Field(200, ge=1, description="Steps between center-library snapshots on disk.")


class MMSAConfig(Section):
    """MMSA: views fused by attention, a hypergraph over molecules, memory anchors (pretrain.method 'mmsa').

    The views are pretrain.anchor and pretrain.targets (the paper's: graph2d, image, geom3d);
    every pair of them is contrasted with pretrain.temperature and weight pretrain.w_contrastive.
    """

    w_fusion_reconstruction: float = Field(
        1.0, description="Weight of reconstructing each view's projection from the fused embedding."
    )
    hypergraph: bool = Field(
        True,
        description="Refine the fused embeddings by hypergraph convolution (false: ablation, refined = fused).",
    )
    k_neighbours: int = Field(8, ge=1, description="Nearest molecules joined to each molecule's hyperedge.")
    hypergraph_layers: int = Field(1, ge=1, description="Hypergraph convolutions.")
    bank_size: int = Field(
        512, ge=0, description="Recent fused embeddings kept as extra hypergraph nodes (0: the batch alone)."
    )
    w_structure: float = Field(
        1.0,
        description="Weight of the InfoNCE between each molecule's refined embedding and each of its views.",
    )
    n_memories: int = Field(32, ge=0, description="Memory anchors M (0: none, ablation).")
    memory_update: Literal["ema", "learned"] = Field(
        "ema", description="EMA of soft-assigned embeddings (all-reduced), or learned by the loss."
    )
    memory_momentum: float = Field(0.99, ge=0, le=1, description="EMA momentum of the anchors.")
    memory_temperature: float = Field(0.1, gt=0, description="Temperature of the soft assignment to anchors.")
    w_memory: float = Field(
        1.0, description="Weight of the alignment of refined embeddings with their anchors."
    )


class LGMCLConfig(Section):
    """LGM-CL: local/global structure contrast, SMILES/description contrast, structure-text alignment
    (pretrain.method 'lgmcl').

    The views are pretrain.anchor and pretrain.targets; smiles and description are text views,
    every other modality a structure view (the paper's: graph_attention local, graph_global global).
    Every term is an NT-Xent (symmetric InfoNCE) at pretrain.temperature over the global batch.
    """

    w_local_global: float = Field(
        1.0, ge=0, description="Weight of the contrast between every pair of structure views."
    )
    w_text: float = Field(1.0, ge=0, description="Weight of the contrast between every pair of text views.")
    w_graph_text: float = Field(
        1.0,
        ge=0,
        description="Weight of the structure-text contrast (aligns the two sides that fine-tuning fuses).",
    )
    fusion: Literal["cross_attention", "mean"] = Field(
        "cross_attention",
        description="The structure side of the structure-text contrast: 'cross_attention' (the paper: "
        "the structure views' projections attend to one text view's tokens, a unified embedding "
        "contrasted with each other text view; needs two text views) or 'mean' (departure, ablation: "
        "the mean structure projection against the mean text projection).",
    )
