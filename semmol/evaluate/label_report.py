"""The Label efficiency section: test scores against the share of train labels learnt from.

Inputs are the results of fine-tuning runs and baselines (:mod:`semmol.evaluate.records`) at
every label fraction (``label_fraction`` in ``metrics.json``; :mod:`semmol.data.label_fractions`):
those at 1 are the results table's, the others were fine-tuned on a nested share of the same
train subsets. Per benchmark and split, a row per run and baseline and a column per fraction,
cells "mean ± std (n)" over seeds; :func:`semmol.evaluate.plots.plot_label_curves` draws the same
numbers as curves.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from semmol.evaluate.metrics import metric_label
from semmol.evaluate.probe_report import scores_cell
from semmol.evaluate.records import KIND_BASELINE
from semmol.evaluate.tables import KIND_ORDER

#: Per (benchmark, split), per row ('semmol', 'rf_ecfp4 (baseline)'), per label fraction
#: (ascending), the test scores of its seeds.
LabelCurves = dict[tuple[str, str], dict[str, dict[float, list[float]]]]


def fraction_label(fraction: float) -> str:
    """A label fraction as a percentage: 0.05 -> '5%', 0.125 -> '12.5%'."""
    return f"{fraction * 100:g}%"


def label_curves(results: Iterable[dict[str, Any]]) -> tuple[dict[str, str], LabelCurves]:
    """``(metrics, curves)``: each benchmark's metric, and its test scores per row and fraction;
    both empty when every result learnt from its whole train subset (no curve to draw).

    Pipeline runs come before baselines, each in the order of first appearance; a seed without
    a test score is left out of its cell.

    Args:
        results: from :func:`semmol.evaluate.aggregate.load_results`, at every label fraction.
    """
    results = sorted(results, key=lambda result: KIND_ORDER.index(result["kind"]))  # stable
    if all(result["label_fraction"] == 1.0 for result in results):
        return {}, {}
    metrics: dict[str, str] = {}
    curves: LabelCurves = {}
    for result in results:
        metrics[result["benchmark"]] = result["metric"]
        row = result["run"] + (" (baseline)" if result["kind"] == KIND_BASELINE else "")
        points = curves.setdefault((result["benchmark"], result["split"]), {}).setdefault(row, {})
        scores = points.setdefault(result["label_fraction"], [])
        if math.isfinite(result["test"]):
            scores.append(result["test"])
    for rows in curves.values():
        for row, points in rows.items():
            rows[row] = dict(sorted(points.items()))
    return metrics, curves


def label_markdown(metrics: dict[str, str], curves: LabelCurves) -> str:
    """The Label efficiency section of summary.md: a table per benchmark and split."""
    lines = [
        "## Label efficiency",
        "",
        "Test scores of every run and baseline fine-tuned on a share of each train subset "
        "(label_fractions; docs/methods.md, \"Label fractions\"): the first molecules of one "
        "permutation drawn from the split seed, so a smaller share's molecules are among every "
        "larger one's, and every row learns from the same ones; valid and test stay whole. Mean ± "
        "std over seeds (count in parentheses); 100% is the results table.",
    ]
    for (bench, split), rows in curves.items():
        fractions = sorted({fraction for points in rows.values() for fraction in points})
        lines += [
            "",
            f"### {bench} ({split}, test {metric_label(metrics[bench])})",
            "",
            "| row | " + " | ".join(map(fraction_label, fractions)) + " |",
            "|---|" + "---|" * len(fractions),
        ]
        for row, points in rows.items():
            lines.append(f"| {row} | " + " | ".join(scores_cell(points.get(f, [])) for f in fractions) + " |")
    return "\n".join(lines) + "\n"
