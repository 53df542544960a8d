"""Markdown tables of the summary rows, in two shapes.

:func:`benchmark_table` has a line per benchmark and split and a column per run (the report's
results table); :func:`run_table` has a line per run and a column per benchmark (the shape a
paper or the README shows). Pipeline runs come first, then baselines, then published methods;
the best measured score of each benchmark is bold.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from semmol.evaluate.metrics import HIGHER_IS_BETTER, metric_label
from semmol.evaluate.records import KIND_BASELINE, KIND_PIPELINE
from semmol.evaluate.summary_row import SummaryRow

KIND_PUBLISHED = "published"
KIND_ORDER = (KIND_PIPELINE, KIND_BASELINE, KIND_PUBLISHED)


def run_label(row: SummaryRow) -> str:
    """The run's name, marked "(baseline)" or "(published)" where it is one."""
    suffix = {KIND_PIPELINE: "", KIND_BASELINE: " (baseline)", KIND_PUBLISHED: " (published)"}[row.kind]
    return f"{row.run}{suffix}"


def score_cell(row: SummaryRow) -> str:
    """"mean ± std (n)"; a published figure alone."""
    if math.isnan(row.mean):
        return "n/a"
    if row.kind == KIND_PUBLISHED:
        return f"{row.mean:.3f}"
    spread = "" if math.isnan(row.std) else f" ± {row.std:.3f}"
    return f"{row.mean:.3f}{spread} ({row.n})"


def _best(rows: list[SummaryRow], value: Callable[[SummaryRow], float]) -> float | None:
    """The best measured ``value`` among ``rows`` (one benchmark's), or None with fewer than two."""
    measured = [value(r) for r in rows if r.kind != KIND_PUBLISHED and not math.isnan(value(r))]
    if len(measured) < 2:
        return None
    return (max if HIGHER_IS_BETTER[rows[0].metric] else min)(measured)


def benchmark_table(
    rows: list[SummaryRow], *, value: Callable[[SummaryRow], float], cell: Callable[[SummaryRow], str]
) -> list[str]:
    """Markdown lines of a table: a line per benchmark and split, a column per run, then
    baselines, then published methods; the best measured ``value`` of each line in bold."""
    by_kind = sorted(rows, key=lambda row: KIND_ORDER.index(row.kind))
    columns = list(dict.fromkeys(run_label(row) for row in by_kind))
    lines_by_group: dict[tuple[str, str, str], dict[str, SummaryRow]] = {}
    for row in rows:
        lines_by_group.setdefault((row.benchmark, row.split, row.metric), {})[run_label(row)] = row
    table = [
        "| benchmark | split | metric | " + " | ".join(columns) + " |",
        "|---|---|---|" + "---|" * len(columns),
    ]
    for (benchmark, split, metric), cells in lines_by_group.items():
        best = _best(list(cells.values()), value)
        texts = []
        for column in columns:
            row = cells.get(column)
            text = "" if row is None else cell(row)
            if row is not None and row.kind != KIND_PUBLISHED and value(row) == best:
                text = f"**{text}**"
            texts.append(text)
        table.append(f"| {benchmark} | {split} | {metric_label(metric)} | " + " | ".join(texts) + " |")
    return table


def ensemble_cell(row: SummaryRow) -> str:
    """The seed ensemble's test score; a published figure as it is."""
    if row.kind == KIND_PUBLISHED:
        return f"{row.mean:.3f}"
    return "n/a" if math.isnan(row.ensemble) else f"{row.ensemble:.3f}"


def run_table(rows: list[SummaryRow]) -> list[str]:
    """Markdown lines of the test-score table with a line per run (then baselines, then published
    methods) and a column per benchmark and split, headed by its metric; the best measured
    mean of each column in bold."""
    by_kind = sorted(rows, key=lambda row: KIND_ORDER.index(row.kind))
    runs = list(dict.fromkeys(run_label(row) for row in by_kind))
    columns: dict[tuple[str, str], dict[str, SummaryRow]] = {}
    for row in rows:
        columns.setdefault((row.benchmark, row.split), {})[run_label(row)] = row
    heads = [f"{bench} ({split}) {metric_label(next(iter(c.values())).metric)}" for (bench, split), c in columns.items()]
    best = {key: _best(list(cells.values()), lambda row: row.mean) for key, cells in columns.items()}
    table = ["| run | " + " | ".join(heads) + " |", "|---|" + "---|" * len(heads)]
    for run in runs:
        texts = []
        for key, cells in columns.items():
            row = cells.get(run)
            text = "" if row is None else score_cell(row)
            if row is not None and row.kind != KIND_PUBLISHED and row.mean == best[key]:
                text = f"**{text}**"
            texts.append(text)
        table.append(f"| {run} | " + " | ".join(texts) + " |")
    return table
