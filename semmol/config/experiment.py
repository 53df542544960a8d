"""The experiment: every section, the named runs, and a run resolved by applying its overrides."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import Field, model_validator

from semmol.config.datasets import ConformerConfig, DatasetConfig, SplitConfig, StandardizeConfig
from semmol.config.fewshot import FewShotConfig
from semmol.config.finetune import BaselineConfig, FinetuneConfig, ProbeConfig, ReportConfig
from semmol.config.model import ModelConfig
from semmol.config.pretrain import LGMCLConfig, MMSAConfig, PretrainConfig, SemanticConfig
from semmol.config.section import Section


class RunSpec(Section):
    """A named run: dotted-path overrides applied to the experiment's defaults."""

    overrides: dict[str, Any] = Field(
        default_factory=dict,
        description="Dotted option paths and values, e.g. {'pretrain.method': 'infonce'}.",
    )
    description: str = Field("", description="Shown in logs and the report.")


class ExperimentConfig(Section):
    datasets: dict[str, DatasetConfig] = Field(description="Every table the experiment uses, by name.")
    corpus: str = Field(description="Name of the pretraining dataset (a key of 'datasets').")
    benchmarks: list[str] = Field(description="Names of the fine-tuning datasets.")
    seeds: list[int] = Field(
        default_factory=lambda: [0, 1, 2],
        description="Fine-tuning seeds; each gives one row of the mean +- std.",
    )
    label_fractions: list[Annotated[float, Field(gt=0, le=1)]] = Field(
        default_factory=lambda: [1.0],
        min_length=1,
        description="Shares of each train subset that every run and baseline is also fine-tuned on "
        "(label-efficiency curves, docs/methods.md); the smaller shares' molecules are among the "
        "larger ones'. The whole train subset (the results table) is always run.",
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
        # Whether the run's pretraining method offers a head input is the registry's to say:
        # semmol.methods.check_head_input, called where the workflow loads the config.
        if self.finetune.mode == "method" and self.finetune.init != "pretrained":
            raise ValueError("finetune.mode 'method' needs finetune.init 'pretrained'")
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
