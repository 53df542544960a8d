"""The results table: test scores of every run, benchmark and split, mean +- std over seeds.

Inputs are the ``metrics.json`` files of fine-tuning runs and of the fingerprint baseline
(:mod:`semmol.evaluate.records`), for the training-curve plot the ``metrics.jsonl`` logs of
pretraining runs, and for the data table each dataset's ``standardize.json`` and
``shards/manifest.json``. Outputs, under one directory:

``summary.csv``
    one row per run x benchmark x split: run, benchmark, split, metric, mean, std (sample
    standard deviation, ddof=1; empty for fewer than two seeds), n (seeds with a score),
    seeds (';'-separated), kind ('pipeline', 'baseline' or 'published'; published rows leave
    std, n and seeds empty), ensemble (the test score of the mean of the seeds' predictions;
    empty unless every seed predicted the same test molecules, i.e. one fixed split).
``summary.md``
    the results table: a line per benchmark and split, a column per run, baseline and
    published method, cells "mean ± std (n)"; the seed-ensemble table in the same layout;
    then, given the datasets' directories, the data table (:mod:`semmol.evaluate.data_report`).
``summary-by-run.md``
    the results table turned: a line per run, baseline and published method, a column per
    benchmark and split (the shape a paper or the README shows).
``summary.html``
    the tables of ``summary.md`` and the metrics plot in one self-contained page
    (:mod:`semmol.evaluate.page`): what ``snakemake --report`` shows of them.
``data.csv``
    given the datasets' directories, the data table: one row per dataset.
``plots/metrics.png``, ``plots/finetune_curves.png``, ``plots/pretrain_curves.png``, ``plots/centers.png``,
``plots/probe_curves.png``, ``plots/label_curves.png``
    see :mod:`semmol.evaluate.plots`.

Results with a ``label_fraction`` below 1 (fine-tuned on a share of the train subset) stay out
of the results tables and plots; with them, summary.md gains the Label efficiency section
(:mod:`semmol.evaluate.label_report`) and ``plots/label_curves.png`` draws it.
"""

from __future__ import annotations

import csv
import json
import logging
import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from semmol.evaluate import page, plots
from semmol.evaluate.data_report import data_markdown, read_dataset, write_data_csv
from semmol.evaluate.fewshot_report import FEWSHOT_CSV, fewshot_markdown, fewshot_rows, write_fewshot_csv
from semmol.evaluate.label_report import label_curves, label_markdown
from semmol.evaluate.metrics import evaluate
from semmol.evaluate.probe_report import geometry_markdown, probe_curves, probe_markdown, probe_table
from semmol.evaluate.published import published_scores
from semmol.evaluate.records import PREDICTIONS_FILE, read_metrics, score_columns
from semmol.evaluate.summary_row import SummaryRow
from semmol.evaluate.tables import KIND_ORDER, KIND_PUBLISHED, summary_by_run_markdown, summary_markdown
from semmol.methods.semmol.objective import read_snapshots
from semmol.runtime.atomic import atomic_path

log = logging.getLogger(__name__)

#: Output files, relative to the output directory.
SUMMARY_CSV = "summary.csv"
SUMMARY_MD = "summary.md"
SUMMARY_BY_RUN_MD = "summary-by-run.md"
SUMMARY_HTML = "summary.html"
DATA_CSV = "data.csv"
METRICS_PLOT = "plots/metrics.png"
FINETUNE_PLOT = "plots/finetune_curves.png"
PRETRAIN_PLOT = "plots/pretrain_curves.png"
CENTERS_PLOT = "plots/centers.png"
PROBE_PLOT = "plots/probe_curves.png"
LABEL_PLOT = "plots/label_curves.png"
METRICS_CAPTION = (
    "Test score of every seed (points) and their mean (black bar) per run; baselines dashed, "
    "published figures dotted."
)
SUMMARY_COLUMNS = ("run", "benchmark", "split", "metric", "mean", "std", "n", "seeds", "kind", "ensemble")


class AggregateError(ValueError):
    """The result files do not form one consistent table."""


def load_results(paths: Iterable[str | Path]) -> list[dict[str, Any]]:
    """Read and cross-check result files; each result gets its file under the key 'path'.

    Raises:
        AggregateError: two files for the same run, benchmark, split, seed and label fraction;
            one benchmark scored with two metrics; one run name used for a pipeline run and a
            baseline.
        MetricsFileError: a malformed file.
    """
    results: list[dict[str, Any]] = []
    by_seed: dict[tuple[str, str, str, int, float], Path] = {}
    metric_of: dict[str, tuple[str, Path]] = {}
    kind_of: dict[str, tuple[str, Path]] = {}
    for path in map(Path, paths):
        result = read_metrics(path)
        key = (result["run"], result["benchmark"], result["split"], result["seed"])
        key += (result["label_fraction"],)
        if key in by_seed:
            raise AggregateError(
                f"{path} and {by_seed[key]} both hold run '{key[0]}', benchmark '{key[1]}', split '{key[2]}',"
                f" seed {key[3]}, label fraction {key[4]}"
            )
        by_seed[key] = path
        metric, first = metric_of.setdefault(result["benchmark"], (result["metric"], path))
        if metric != result["metric"]:
            raise AggregateError(
                f"benchmark '{result['benchmark']}' is scored with '{metric}' in {first}"
                f" but with '{result['metric']}' in {path}"
            )
        kind, first = kind_of.setdefault(result["run"], (result["kind"], path))
        if kind != result["kind"]:
            raise AggregateError(
                f"run '{result['run']}' is a {kind} in {first} but a {result['kind']} in {path}"
            )
        results.append({**result, "path": path})
    if not results:
        raise AggregateError("no metrics files given")
    return results


def _seed_row(run: str, benchmark: str, split: str, results: list[dict[str, Any]]) -> SummaryRow:
    scored = sorted((r["seed"], r["test"]) for r in results if math.isfinite(r["test"]))
    unscored = [str(r["path"]) for r in results if not math.isfinite(r["test"])]
    if unscored:
        log.warning(
            "run '%s' on %s (%s): no test score in %s; left out of the mean", run, benchmark, split, unscored
        )
    values = np.asarray([value for _, value in scored])
    scored_results = [r for r in results if math.isfinite(r["test"])]
    return SummaryRow(
        run=run,
        benchmark=benchmark,
        split=split,
        metric=results[0]["metric"],
        mean=float(values.mean()) if len(values) else math.nan,
        std=float(values.std(ddof=1)) if len(values) > 1 else math.nan,
        n=len(values),
        seeds=tuple(seed for seed, _ in scored),
        kind=results[0]["kind"],
        ensemble=ensemble_score(scored_results),
        untrained_views=tuple(
            dict.fromkeys(view for r in results for view in r.get("views_without_method_gradient", []))
        ),
    )


def ensemble_score(results: list[dict[str, Any]]) -> float:
    """The test score of the mean of the seeds' test predictions (``predictions.parquet``
    beside each ``metrics.json``); NaN when the seeds predicted different test molecules (a
    split that changes with the seed) or there are none."""
    if not results:
        return math.nan
    tests = [
        pl.read_parquet(Path(r["path"]).parent / PREDICTIONS_FILE)
        .filter(pl.col("subset") == "test")
        .sort("row")
        for r in results
    ]
    if any(not test["row"].equals(tests[0]["row"]) for test in tests[1:]):
        return math.nan
    targets, classes = results[0]["targets"], results[0].get("classes")
    y_true = tests[0].select(targets).to_numpy().astype(np.float64)
    predictions = [test.select(score_columns(targets, classes)).to_numpy() for test in tests]
    y_pred = np.mean(predictions, axis=0, dtype=np.float64)  # multiclass: the mean class probabilities
    return float(evaluate(results[0]["task"], y_true, y_pred, targets=targets, classes=classes)["value"])


def summarize(results: list[dict[str, Any]], *, include_published: bool = True) -> list[SummaryRow]:
    """Mean and std of the test scores per benchmark, split and run, and the published rows.

    Benchmarks, splits and runs keep the order in which they first appear in ``results``;
    within a benchmark and split, pipeline runs come first, then baselines, then published
    methods.

    Args:
        results: from :func:`load_results`.
        include_published: add published reference rows where known (default: True).
    """
    groups: dict[tuple[str, str], dict[str, list[dict[str, Any]]]] = {}
    for result in results:
        runs = groups.setdefault((result["benchmark"], result["split"]), {})
        runs.setdefault(result["run"], []).append(result)
    rows: list[SummaryRow] = []
    for (benchmark, split), runs in groups.items():
        measured = [_seed_row(run, benchmark, split, seeds) for run, seeds in runs.items()]
        rows.extend(sorted(measured, key=lambda row: KIND_ORDER.index(row.kind)))  # stable: keeps run order
        if not include_published:
            continue
        metric = measured[0].metric
        for score in published_scores(benchmark, split=split):
            if score.metric != metric:
                log.warning(
                    "%s: published %s %s not shown beside %s", benchmark, score.method, score.metric, metric
                )
                continue
            rows.append(
                SummaryRow(
                    run=score.method,
                    benchmark=benchmark,
                    split=split,
                    metric=metric,
                    mean=score.value,
                    std=math.nan,
                    n=None,
                    seeds=(),
                    kind=KIND_PUBLISHED,
                )
            )
    return rows


def _csv_number(value: float | int | None) -> str:
    return "" if value is None or (isinstance(value, float) and math.isnan(value)) else repr(value)


def write_summary_csv(rows: list[SummaryRow], path: str | Path) -> None:
    """Write the summary rows as CSV (columns :data:`SUMMARY_COLUMNS`), atomically."""
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(SUMMARY_COLUMNS)
        for row in rows:
            seeds = ";".join(map(str, row.seeds))
            writer.writerow(
                [
                    row.run,
                    row.benchmark,
                    row.split,
                    row.metric,
                    _csv_number(row.mean),
                    _csv_number(row.std),
                    _csv_number(row.n),
                    seeds,
                    row.kind,
                    _csv_number(row.ensemble),
                ]
            )


def read_pretrain_log(path: str | Path) -> list[dict[str, float]]:
    """The lines of a pretraining ``metrics.jsonl``: each needs a numeric 'step' and 'loss'.

    Keys starting with 'loss_' are kept when numeric (null becomes NaN); other keys are dropped.

    Raises:
        AggregateError: naming the file and line, when a line is not such a JSON object.
        FileNotFoundError: the file does not exist.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: pretraining metrics file not found")
    entries = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise AggregateError(f"{path}, line {number}: not JSON: {error}") from None
        if not isinstance(record, dict):
            raise AggregateError(f"{path}, line {number}: expected a JSON object")
        entry = {}
        for key, value in record.items():
            if key not in ("step", "loss") and not key.startswith("loss_"):
                continue
            if value is None and key != "step":
                value = math.nan
            if not isinstance(value, (int, float)) or isinstance(value, bool):
                raise AggregateError(f"{path}, line {number}: '{key}' is {value!r}, not a number")
            entry[key] = float(value)
        for key in ("step", "loss"):
            if key not in entry:
                raise AggregateError(f"{path}, line {number}: key '{key}' missing")
        entries.append(entry)
    return entries


def aggregate(
    metrics: Iterable[str | Path],
    *,
    out_dir: str | Path,
    pretrain_logs: Mapping[str, str | Path] | None = None,
    center_snapshots: Mapping[str, str | Path] | None = None,
    datasets: Mapping[str, str | Path] | None = None,
    fewshot: Iterable[str | Path] = (),
    probes: Iterable[str | Path] = (),
    include_published: bool = True,
) -> list[SummaryRow]:
    """Write the results table and plots for a set of result files.

    Args:
        metrics: ``metrics.json`` files of fine-tuning runs and baselines, at every label fraction;
            may be empty where ``fewshot`` or ``probes`` are given (then only :data:`SUMMARY_MD`,
            :data:`SUMMARY_HTML` and the sections' CSV files are written, no plots).
        out_dir: output directory (:data:`SUMMARY_CSV`, :data:`SUMMARY_MD`, :data:`SUMMARY_HTML`,
            :data:`DATA_CSV` and the plots).
        pretrain_logs: pretraining ``metrics.jsonl`` per run name (default: none).
        center_snapshots: per SemMol run, the directory of its center-library snapshots
            (default: none).
        datasets: per dataset, its directory of stage reports (``standardize.json``,
            ``shards/manifest.json``) for the data table and :data:`DATA_CSV` (default: none,
            no data table).
        fewshot: ``metrics.json`` files of the few-shot stage, for the few-shot section and
            ``fewshot.csv`` (default: none).
        probes: ``metrics.json`` files of the probe stage, for the Probes section (default: none).
        include_published: add published reference figures (default: True).

    Returns:
        The summary rows.
    """
    out_dir = Path(out_dir)
    metrics, fewshot, probes = list(metrics), list(fewshot), list(probes)
    # A few-shot or probe page may have no fine-tuning results; then only its tables are written.
    everything = load_results(metrics) if metrics or not (fewshot or probes) else []
    results = [result for result in everything if result["label_fraction"] == 1.0]
    if everything and not results:
        raise AggregateError("no metrics file of a whole train subset (label_fraction 1) given")
    data_rows = [read_dataset(name, directory) for name, directory in (datasets or {}).items()]
    rows = summarize(results, include_published=include_published)
    sections = [summary_markdown(rows)] if rows else []
    if fewshot:
        tasks, fewshot_table = fewshot_rows(fewshot)
        first = json.loads(Path(fewshot[0]).read_text())
        sections.append(
            fewshot_markdown(tasks, fewshot_table, k_shot=first["k_shot"], query_size=first["query_size"])
        )
        write_fewshot_csv(tasks, fewshot_table, out_dir / FEWSHOT_CSV)
    if probes:
        sections.append(probe_markdown(*probe_table(probes)))
        if geometry := geometry_markdown(probes):
            sections.append(geometry)
    curves = label_curves(everything)
    if curves[1]:
        sections.append(label_markdown(*curves))
    if data_rows:
        write_data_csv(data_rows, out_dir / DATA_CSV)
        sections.append(data_markdown(data_rows))
    with atomic_path(out_dir / SUMMARY_MD) as tmp:
        tmp.write_text("\n".join(sections))
    parts = [page.markdown_html(section) for section in sections]
    if results:  # the metrics plot follows the results table
        plots.plot_metrics(results, rows, out_dir / METRICS_PLOT)
        parts.insert(1, page.figure_html(out_dir / METRICS_PLOT, METRICS_CAPTION))
    page.write_page(out_dir / SUMMARY_HTML, title="semmol results", parts=parts)
    if not results:
        log.info("tables without fine-tuning results written to %s", out_dir)
        return rows
    write_summary_csv(rows, out_dir / SUMMARY_CSV)
    with atomic_path(out_dir / SUMMARY_BY_RUN_MD) as tmp:
        tmp.write_text(summary_by_run_markdown(rows))
    logs = {run: read_pretrain_log(path) for run, path in (pretrain_logs or {}).items()}
    plots.plot_finetune_curves(results, out_dir / FINETUNE_PLOT)
    plots.plot_pretrain_curves(logs, out_dir / PRETRAIN_PLOT)
    snapshots = {run: read_snapshots(directory) for run, directory in (center_snapshots or {}).items()}
    plots.plot_center_libraries(snapshots, out_dir / CENTERS_PLOT)
    plots.plot_probe_curves(*probe_curves(probes), out_dir / PROBE_PLOT)
    plots.plot_label_curves(*curves, out_dir / LABEL_PLOT)
    log.info("results table of %d rows written to %s", len(rows), out_dir)
    return rows
