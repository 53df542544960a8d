"""Typed configuration: the single source of truth for every option.

The Snakemake workflow validates its config against ``workflow/schemas/config.schema.json``,
which is generated from :class:`ExperimentConfig` (``semmol schema``); a test fails when the
two drift. Each stage receives only its own section, serialised as JSON, so that Snakemake
re-runs a stage exactly when an option it depends on changes.

An experiment has shared defaults (``model``, ``pretrain``, ``semantic``, ``finetune``) and
named ``runs``; a run is the defaults plus dotted-path overrides, e.g.
``{"pretrain.method": "infonce"}``, resolved and re-validated by :func:`resolve_run`.

One module per concern: :mod:`.section` (the base and shared option types), :mod:`.datasets`
(datasets, sources, data stages), :mod:`.model` (encoders), :mod:`.pretrain` (pretraining and
each method's objective), :mod:`.finetune` (fine-tuning, baselines, probes, report),
:mod:`.fewshot`, :mod:`.experiment` (the experiment, runs, loading), :mod:`.jobs` (what one
stage receives) and :mod:`.schema` (the JSON schema and option reference). Every public name is
importable from ``semmol.config`` itself.
"""

from __future__ import annotations

from semmol.config.datasets import (
    ConformerConfig,
    DatasetConfig,
    HFSource,
    LocalSource,
    PackageSource,
    Source,
    SplitConfig,
    StandardizeConfig,
    URLSource,
)
from semmol.config.experiment import (
    ExperimentConfig,
    RunSpec,
    load_config,
    resolve_run,
)
from semmol.config.fewshot import (
    FewShotConfig,
    FewShotRow,
)
from semmol.config.finetune import (
    BaselineConfig,
    ChempropConfig,
    FinetuneConfig,
    ProbeConfig,
    ReportConfig,
)
from semmol.config.jobs import (
    FinetuneJob,
    PretrainJob,
)
from semmol.config.model import (
    DescriptionEncoderConfig,
    Geom3DEncoderConfig,
    Graph2DEncoderConfig,
    GraphAttentionEncoderConfig,
    GraphTransformerEncoderConfig,
    ImageEncoderConfig,
    ModelConfig,
    PretrainGNNEncoderConfig,
    SmilesEncoderConfig,
    TextEncoderConfig,
    VectorEncoderConfig,
)
from semmol.config.pretrain import (
    LGMCLConfig,
    MMSAConfig,
    PretrainConfig,
    SemanticConfig,
    TemperatureConfig,
)
from semmol.config.schema import (
    OPTIONS_MARKER,
    config_schema,
    options_doc,
    options_markdown,
    schema_text,
)
from semmol.config.section import (
    Modality,
    Precision,
    Section,
    SplitKind,
    TaskType,
)

__all__ = [
    "BaselineConfig",
    "ChempropConfig",
    "config_schema",
    "ConformerConfig",
    "DatasetConfig",
    "DescriptionEncoderConfig",
    "ExperimentConfig",
    "FewShotConfig",
    "FewShotRow",
    "FinetuneConfig",
    "FinetuneJob",
    "Geom3DEncoderConfig",
    "Graph2DEncoderConfig",
    "GraphAttentionEncoderConfig",
    "GraphTransformerEncoderConfig",
    "HFSource",
    "ImageEncoderConfig",
    "LGMCLConfig",
    "load_config",
    "LocalSource",
    "MMSAConfig",
    "Modality",
    "ModelConfig",
    "options_doc",
    "options_markdown",
    "OPTIONS_MARKER",
    "PackageSource",
    "Precision",
    "PretrainConfig",
    "PretrainGNNEncoderConfig",
    "PretrainJob",
    "ProbeConfig",
    "ReportConfig",
    "resolve_run",
    "RunSpec",
    "schema_text",
    "Section",
    "SemanticConfig",
    "SmilesEncoderConfig",
    "Source",
    "SplitConfig",
    "SplitKind",
    "StandardizeConfig",
    "TaskType",
    "TemperatureConfig",
    "TextEncoderConfig",
    "URLSource",
    "VectorEncoderConfig",
]
