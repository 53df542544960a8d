"""Few-shot evaluation on held-out tasks (the ``fewshot`` section)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from semmol.config.section import Modality, Section


class FewShotRow(Section):
    """A row of the few-shot table: a learner, and the run whose pretraining it starts from."""

    learner: Literal["maml", "transfer", "rf", "protonet"] = Field(
        description="maml (Meta-MM), transfer (multitask, then adapted), rf (random forest on the "
        "support set's ECFP4), protonet (nearest class mean in a pretrained embedding)."
    )
    pretrained: str | None = Field(
        None, description="A run whose pretrained encoders the learner starts from (protonet needs one)."
    )
    description: str = Field("", description="Shown in the report.")


class FewShotConfig(Section):
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
