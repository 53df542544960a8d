"""The few-shot table: per row, the mean ROC-AUC on each held-out task, mean ± std over seeds.

Inputs are the ``metrics.json`` files of the ``fewshot`` stage
(:func:`semmol.fewshot.stage.run_fewshot`); a seed's task score is the mean over its episodes.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np

from semmol.runtime.atomic import atomic_path

FEWSHOT_CSV = "fewshot.csv"


def _mean_std(values: list[float]) -> tuple[float, float]:
    return float(np.mean(values)), float(np.std(values, ddof=1)) if len(values) > 1 else math.nan


def fewshot_rows(paths: list[str | Path]) -> tuple[list[str], dict[str, dict]]:
    """``(tasks, rows)``: the held-out tasks and, per row, its learner, seeds and per-task and mean scores.

    Raises:
        ValueError: two files of one row and seed, or rows scored on different tasks.
    """
    rows: dict[str, dict] = {}
    tasks: list[str] | None = None
    for path in map(Path, paths):
        metrics = json.loads(path.read_text())
        row = rows.setdefault(metrics["row"], {"learner": metrics["learner"], "seeds": {}})
        if metrics["seed"] in row["seeds"]:
            raise ValueError(f"{path}: row '{metrics['row']}' seed {metrics['seed']} given twice")
        row["seeds"][metrics["seed"]] = metrics
        found = list(metrics["per_task"])
        if tasks is None:
            tasks = found
        elif sorted(found) != sorted(tasks):
            raise ValueError(f"{path}: scored on tasks {found}, others on {tasks}")
    for row in rows.values():
        seeds = list(row["seeds"].values())
        row["tasks"] = {task: _mean_std([m["per_task"][task]["mean"] for m in seeds]) for task in tasks or []}
        row["mean"] = _mean_std([m["mean"] for m in seeds])
        row["n"] = len(seeds)
    return tasks or [], rows


def _cell(mean: float, std: float, n: int) -> str:
    return f"{mean:.3f}" + ("" if math.isnan(std) else f" ± {std:.3f}") + f" ({n})"


def fewshot_markdown(tasks: list[str], rows: dict[str, dict], *, k_shot: int, query_size: int) -> str:
    """The few-shot section of summary.md; the best mean per column in bold."""
    columns = [*tasks, "mean"]
    best = {
        column: max(
            (row["tasks"][column][0] if column != "mean" else row["mean"][0]) for row in rows.values()
        )
        for column in columns
    }
    lines = [
        "## Few-shot",
        "",
        f"ROC-AUC on the query sets of held-out tasks ({k_shot} positives and {k_shot} negatives in each "
        f"support set, {query_size} balanced query molecules): per task the mean over its episodes, then mean ± "
        "std over seeds (seeds in parentheses). Every row sees the same episodes. Bold: the best of a column.",
        "",
        "| row | learner | " + " | ".join(columns) + " |",
        "|---|---|" + "---|" * len(columns),
    ]
    for name, row in rows.items():
        cells = []
        for column in columns:
            mean, std = row["tasks"][column] if column != "mean" else row["mean"]
            text = _cell(mean, std, row["n"])
            cells.append(f"**{text}**" if mean == best[column] else text)
        lines.append(f"| {name} | {row['learner']} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def write_fewshot_csv(tasks: list[str], rows: dict[str, dict], path: Path) -> None:
    """One line per row and column (task or 'mean'): mean, std, n."""
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["row", "learner", "task", "mean", "std", "n"])
        for name, row in rows.items():
            for task in [*tasks, "mean"]:
                mean, std = row["tasks"][task] if task != "mean" else row["mean"]
                writer.writerow(
                    [name, row["learner"], task, repr(mean), "" if math.isnan(std) else repr(std), row["n"]]
                )
