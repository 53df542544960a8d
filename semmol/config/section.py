"""What every config section shares: the base class and the option types several sections use."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict


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


class Section(BaseModel):
    """Base for every config section: unknown keys are errors, not silently ignored."""

    model_config = ConfigDict(extra="forbid")
