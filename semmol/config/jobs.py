"""Stage jobs: the slices of a resolved run that one stage needs (passed as JSON by the rules)."""

from __future__ import annotations

from pydantic import Field

from semmol.config.datasets import DatasetConfig, StandardizeConfig
from semmol.config.finetune import FinetuneConfig
from semmol.config.model import ModelConfig
from semmol.config.pretrain import LGMCLConfig, MMSAConfig, PretrainConfig, SemanticConfig
from semmol.config.section import Section


class PretrainJob(Section):
    standardize: StandardizeConfig = Field(default_factory=StandardizeConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    pretrain: PretrainConfig = Field(default_factory=PretrainConfig)
    semantic: SemanticConfig = Field(default_factory=SemanticConfig)
    mmsa: MMSAConfig = Field(default_factory=MMSAConfig)
    lgmcl: LGMCLConfig = Field(default_factory=LGMCLConfig)


class FinetuneJob(Section):
    dataset: DatasetConfig
    standardize: StandardizeConfig = Field(default_factory=StandardizeConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    finetune: FinetuneConfig = Field(default_factory=FinetuneConfig)
