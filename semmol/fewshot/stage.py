"""The ``fewshot`` stage: one row of the few-shot table for one seed.

The row's learner is fitted on the meta-training tasks (a learner without training skips
that), then scored on the episodes of the held-out tasks drawn from the seed; ``metrics.json``
holds the ROC-AUC of every episode, the mean per task, and the mean over tasks.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import numpy as np
import torch

from semmol.config import FewShotConfig, ModelConfig
from semmol.fewshot.episodes import draw_episodes
from semmol.fewshot.learners import (
    ForestLearner,
    MetaLearner,
    PrototypeLearner,
    TransferLearner,
    build_classifier,
    evaluate,
    load_data,
)
from semmol.models.multimodal import MultiModalEncoder
from semmol.runtime.atomic import atomic_path

log = logging.getLogger(__name__)


def run_fewshot(
    *,
    row: str,
    learner: str,
    options: FewShotConfig,
    model: ModelConfig,
    molecules: Path,
    shards_manifest: Path,
    seed: int,
    pretrained: Path | None,
    out_dir: Path,
) -> dict:
    """Fit and score one few-shot row; write ``metrics.json`` to ``out_dir`` and return it."""
    started = time.perf_counter()
    torch.manual_seed(seed)
    views = options.views
    if learner == "protonet":
        if pretrained is None:
            raise ValueError(f"few-shot row '{row}': protonet needs a pretrained model")
        encoder, _ = MultiModalEncoder.load(pretrained)
        views = encoder.modalities
    targets = options.train_tasks + options.test_tasks
    data = load_data(molecules, shards_manifest, targets=targets, images="image" in views)
    if learner == "maml":
        fitted = MetaLearner(
            options, build_classifier(options, model, data, n_tasks=1, pretrained=pretrained), seed=seed
        )
    elif learner == "transfer":
        classifier = build_classifier(
            options, model, data, n_tasks=len(options.train_tasks), pretrained=pretrained
        )
        fitted = TransferLearner(options, classifier, seed=seed)
    elif learner == "rf":
        fitted = ForestLearner(seed=seed)
    else:
        fitted = PrototypeLearner(encoder.eval(), views=views)
    fitted.fit(data)
    episodes = draw_episodes(
        data.labels, options.test_tasks, targets, k_shot=options.k_shot, query_size=options.query_size,
        episodes=options.episodes, seed=seed,
    )  # fmt: skip
    scores = evaluate(fitted, data, episodes)
    per_task = {task: {"mean": float(np.mean(aucs)), "episodes": aucs} for task, aucs in scores.items()}
    metrics = {
        "row": row,
        "learner": learner,
        "seed": seed,
        "metric": "roc_auc",
        "mean": float(np.mean([task["mean"] for task in per_task.values()])),
        "per_task": per_task,
        "k_shot": options.k_shot,
        "query_size": options.query_size,
        "pretrained": None if pretrained is None else str(pretrained),
        "skipped_train_tasks": getattr(fitted, "skipped_tasks", {}),
        "seconds": time.perf_counter() - started,
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    with atomic_path(out_dir / "metrics.json") as tmp:
        tmp.write_text(json.dumps(metrics, indent=2) + "\n")
    log.info(
        "%s (%s), seed %d: mean ROC-AUC %.4f over %s", row, learner, seed, metrics["mean"], list(per_task)
    )
    return metrics
