"""Markdown tables of the summary rows, in two shapes, and the documents that hold them.

:func:`benchmark_table` has a line per benchmark and split and a column per run (the report's
results table); :func:`run_table` has a line per run and a column per benchmark (the shape a
paper or the README shows). Pipeline runs come first, then baselines, then published methods;
the best measured score of each benchmark is bold. :func:`summary_markdown` (``summary.md``) and
:func:`summary_by_run_markdown` (``summary-by-run.md``) put a header saying what the numbers are
above them.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from semmol.evaluate.metrics import HIGHER_IS_BETTER, metric_label
from semmol.evaluate.published import SOURCE_NOTE
from semmol.evaluate.records import KIND_BASELINE, KIND_PIPELINE
from semmol.evaluate.summary_row import SummaryRow

KIND_PUBLISHED = "published"
KIND_ORDER = (KIND_PIPELINE, KIND_BASELINE, KIND_PUBLISHED)
#: What the multiclass metric is, said under the table when a row uses it.
MULTICLASS_NOTE = (
    "ROC-AUC one-vs-rest ↑ (multiclass benchmarks) is the macro mean of each class's ROC-AUC against all "
    "other classes, over the classes present among the labelled test molecules; accuracy is in each "
    "result's metrics.json."
)
#: What each baseline is, for the table's header.
BASELINES = {
    "rf_ecfp4": "random forest on ECFP4 bits",
    "chemprop": "chemprop's D-MPNN with its default settings (its own command line)",
}


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


def summary_markdown(rows: list[SummaryRow]) -> str:
    """The results table in Markdown, with a header saying what the numbers are, then the
    seed-ensemble table (:func:`semmol.evaluate.aggregate.ensemble_score`) in the same layout.

    One line per benchmark and split; one column per run, then baselines, then published
    methods. The best measured (non-published) score of each line is bold.
    """
    header = [
        "# Results",
        "",
        "Test-set scores: mean ± sample standard deviation over fine-tuning seeds, number of seeds in "
        "parentheses. ROC-AUC ↑ is a fraction in [0, 1], the mean over tasks whose labelled test molecules "
        "hold both classes (missing labels masked); higher is better. RMSE ↓ is in the target's units; "
        "lower is better. Bold: the best measured score of a line.",
        *(["", MULTICLASS_NOTE] if any(row.metric == "roc_auc_ovr" for row in rows) else []),
        "",
        *(
            f"{run} (baseline): {BASELINES.get(run, 'a baseline')}, trained by the pipeline on the same "
            "splits and seeds."
            for run in dict.fromkeys(row.run for row in rows if row.kind == KIND_BASELINE)
        ),
        *(
            f"{run}: the fine-tuned {', '.join(views)} got no gradient from its pretraining method's own "
            "terms (at most from its reconstruction terms), so this row does not measure that method."
            for run, views in dict.fromkeys(
                (row.run, row.untrained_views) for row in rows if row.untrained_views
            )
        ),
    ]
    if any(row.kind != KIND_PUBLISHED and row.n == 0 for row in rows):
        header += [
            "",
            "n/a without a score: no seed has a test score. Split none (and a split column without "
            "test rows) trains models for deployment on every row but a validation hold-out used for "
            "early stopping, so there is no test set to score.",
        ]
    if any(row.kind == KIND_PUBLISHED for row in rows):
        header += [
            "",
            f"(published): figures from the literature, not run here: {SOURCE_NOTE}. Compare them only "
            "with runs on the full data sets.",
        ]
    ensembles = [
        "## Seed ensembles",
        "",
        "Test score of the mean of the seeds' predictions: what a user deploying all seeds' models "
        "gets (`semmol predict` with several models). n/a: the seeds' test sets differ.",
        "",
    ]
    results = benchmark_table(rows, value=lambda row: row.mean, cell=score_cell)
    ensemble = benchmark_table(rows, value=lambda row: row.ensemble, cell=ensemble_cell)
    return "\n".join([*header, "", *results, "", *ensembles, *ensemble]) + "\n"


def summary_by_run_markdown(rows: list[SummaryRow]) -> str:
    """The results table with a line per run and a column per benchmark (:func:`run_table`)."""
    header = [
        "# Results by run",
        "",
        "Test-set scores, mean ± sample standard deviation over fine-tuning seeds (number of seeds in "
        "parentheses); the best measured score of each benchmark in bold. summary.md says what each "
        "metric is and what each baseline and published row is.",
        "",
    ]
    return "\n".join([*header, *run_table(rows)]) + "\n"
