from __future__ import annotations

import json

import pytest

from semmol.evaluate.fewshot_report import fewshot_markdown, fewshot_rows


def _metrics(directory, row, seed, scores, learner="maml"):
    path = directory / f"{row}-{seed}.json"
    per_task = {task: {"mean": sum(s) / len(s), "episodes": s} for task, s in scores.items()}
    mean = sum(t["mean"] for t in per_task.values()) / len(per_task)
    path.write_text(
        json.dumps({"row": row, "learner": learner, "seed": seed, "per_task": per_task, "mean": mean})
    )
    return path


def test_rows_average_episodes_then_seeds(tmp_path):
    paths = [
        _metrics(tmp_path, "metamm", 0, {"a": [0.6, 0.8], "b": [0.5, 0.5]}),
        _metrics(tmp_path, "metamm", 1, {"a": [0.9, 0.9], "b": [0.7, 0.5]}),
        _metrics(tmp_path, "rf", 0, {"a": [0.5, 0.5], "b": [0.6, 0.6]}, learner="rf"),
    ]
    tasks, rows = fewshot_rows(paths)
    assert tasks == ["a", "b"]
    assert rows["metamm"]["tasks"]["a"][0] == pytest.approx(0.8)  # mean of 0.7 and 0.9
    assert rows["metamm"]["mean"][0] == pytest.approx((0.6 + 0.75) / 2) and rows["metamm"]["n"] == 2
    text = fewshot_markdown(tasks, rows, k_shot=10, query_size=16)
    assert (
        "| metamm | maml | **0.800 ± 0.141 (2)** |" in text
        and "| rf | rf | 0.500 (1) | **0.600 (1)** |" in text
    )


def test_rows_on_other_tasks_or_repeated_seeds_are_refused(tmp_path):
    a = _metrics(tmp_path, "x", 0, {"a": [0.5]})
    with pytest.raises(ValueError, match="given twice"):
        fewshot_rows([a, a])
    with pytest.raises(ValueError, match="scored on tasks"):
        fewshot_rows([a, _metrics(tmp_path, "y", 0, {"b": [0.5]})])
