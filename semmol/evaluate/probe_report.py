"""The Probes table: per feature set and probe, the test score on each benchmark, mean ± std over
seeds; and the Embedding geometry table: how spread out each encoder's embedding is.

Inputs are the ``metrics.json`` files of the probe stage (:func:`semmol.evaluate.probe_stage.run_probe`).
The encoder rows are per run ('<run> pretrained', '<run> random init'); ECFP4 and RDKit 2D do not
depend on the run, so each split and seed of them counts once, whichever run's file holds it.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from semmol.evaluate.metrics import metric_label

#: How the feature sets of the probe stage are named in the table; None: prefixed by the run.
_LABELS = {"pretrained": "pretrained", "random_init": "random init", "ecfp4": None, "rdkit2d": None}
_SHARED = {"ecfp4": "ECFP4", "rdkit2d": "RDKit 2D"}


#: Per (row label with its label fraction, probe), per benchmark, the test scores of its splits and seeds.
ProbeRows = dict[tuple[str, str], dict[str, list[float]]]
#: Per (benchmark, probe), per feature label ('<run> pretrained', 'ECFP4', ...), per label
#: fraction, the test scores of its splits and seeds: the label-efficiency curves.
ProbeCurves = dict[tuple[str, str], dict[str, dict[float, list[float]]]]


def _probe_scores(paths: list[str | Path]) -> tuple[dict[str, str], dict[tuple[str, str, float], dict[str, list[float]]]]:
    """``(metrics, scores)``: each benchmark's metric, and per (feature label, probe, label
    fraction) the test scores of each benchmark, one per split and seed.

    Raises:
        ValueError: a file names a feature set this table does not know, or two files give the
            same run, benchmark, split and seed.
    """
    metrics: dict[str, str] = {}
    scores: dict[tuple[str, str, float], dict[str, dict[tuple[str, int], float]]] = {}
    seen: set[tuple[str, str, str, int]] = set()
    for path in map(Path, paths):
        result = json.loads(path.read_text())
        key = (result["run"], result["benchmark"], result["split"], result["seed"])
        if key in seen:
            raise ValueError(f"{path}: run '{key[0]}' on {key[1]} {key[2]}-{key[3]} given twice")
        seen.add(key)
        metrics[result["benchmark"]] = result["metric"]
        for row in result["rows"]:
            if row["features"] not in _LABELS:
                raise ValueError(f"{path}: unknown feature set '{row['features']}'")
            label = _SHARED.get(row["features"]) or f"{result['run']} {_LABELS[row['features']]}"
            fraction = row.get("label_fraction", 1.0)  # absent: every train label
            cell = scores.setdefault((label, row["probe"], fraction), {}).setdefault(result["benchmark"], {})
            if row["test"] is not None:
                cell[(result["split"], result["seed"])] = row["test"]
    return metrics, {
        key: {bench: list(by_seed.values()) for bench, by_seed in cells.items()} for key, cells in scores.items()
    }


def probe_table(paths: list[str | Path]) -> tuple[dict[str, str], ProbeRows]:
    """``(metrics, rows)``: each benchmark's metric, and per (row label, probe) the test scores
    of each benchmark, one per split and seed; a label fraction below 1 is part of the label.

    Raises:
        ValueError: as :func:`_probe_scores`.
    """
    metrics, scores = _probe_scores(paths)
    rows: ProbeRows = {}
    for (label, probe, fraction), cells in scores.items():
        if fraction != 1.0:
            label += f", {fraction:.0%} of train labels"
        rows[(label, probe)] = cells
    return metrics, rows


def probe_curves(paths: list[str | Path]) -> tuple[dict[str, str], ProbeCurves]:
    """``(metrics, curves)``: each benchmark's metric, and per (benchmark, probe), per feature
    label, per label fraction, the test scores: the label-efficiency curves.

    Raises:
        ValueError: as :func:`_probe_scores`.
    """
    metrics, scores = _probe_scores(paths)
    curves: ProbeCurves = {}
    for (label, probe, fraction), cells in scores.items():
        for bench, values in cells.items():
            if values:
                curves.setdefault((bench, probe), {}).setdefault(label, {})[fraction] = values
    return metrics, curves


def scores_cell(scores: list[float]) -> str:
    """"mean ± std (n)" of scores, "–" for none."""
    if not scores:
        return "–"
    std = float(np.std(scores, ddof=1)) if len(scores) > 1 else math.nan
    return f"{np.mean(scores):.3f}" + ("" if math.isnan(std) else f" ± {std:.3f}") + f" ({len(scores)})"


def probe_markdown(metrics: dict[str, str], rows: ProbeRows) -> str:
    """The Probes section of summary.md."""
    benches = list(metrics)
    lines = [
        "## Probes",
        "",
        "Test scores of probes on frozen features (docs/methods.md, \"Representation probes\"): "
        "logistic or ridge regression ('linear') and cosine k-nearest neighbours ('knn'), the "
        "regularisation strength and k chosen on valid; mean ± std over split seeds (count in "
        "parentheses). 'random init' is the same encoders with fresh weights: the floor a "
        "pretrained embedding must clear. A share of train labels: the probe fit on that share of "
        "the train subset (probe.label_fractions), chosen and scored on the whole valid and test.",
        "",
        "| features | probe | " + " | ".join(f"{b} ({metric_label(metrics[b])})" for b in benches) + " |",
        "|---|---|" + "---|" * len(benches),
    ]
    for (label, probe), cells in rows.items():
        cells_text = " | ".join(scores_cell(cells.get(b, [])) for b in benches)
        lines.append(f"| {label} | {probe} | {cells_text} |")
    return "\n".join(lines) + "\n"


def geometry_markdown(paths: list[str | Path]) -> str:
    """The Embedding geometry section: per encoder row, effective rank and mean cosine on each
    benchmark, means over split seeds; empty where no file reports geometry (files written
    before the probe stage did)."""
    metrics: dict[str, str] = {}
    cells: dict[str, dict[str, list[tuple[float, float]]]] = {}
    for path in map(Path, paths):
        result = json.loads(path.read_text())
        metrics[result["benchmark"]] = result["metric"]
        for name, geometry in result.get("geometry", {}).items():
            label = f"{result['run']} {_LABELS[name]}"
            spread = (geometry["effective_rank"], geometry["mean_cosine"])
            cells.setdefault(label, {}).setdefault(result["benchmark"], []).append(spread)
    if not cells:
        return ""
    benches = list(metrics)
    lines = [
        "## Embedding geometry",
        "",
        "How spread out each encoder's embedding of a benchmark's molecules is "
        "(docs/methods.md, \"Representation probes\"): effective rank (1: every molecule on one "
        "line) / mean cosine similarity of two molecules (1: all point one way); means over split "
        "seeds. A pretrained embedding far below its random-init twin in rank, or near 1 in "
        "cosine, has collapsed.",
        "",
        "| features | " + " | ".join(benches) + " |",
        "|---|" + "---|" * len(benches),
    ]
    for label, by_bench in cells.items():
        row = []
        for bench in benches:
            values = by_bench.get(bench)
            if not values:
                row.append("–")
                continue
            rank, cosine = np.mean([v[0] for v in values]), [v[1] for v in values if v[1] is not None]
            row.append(f"{rank:.1f} / " + (f"{np.mean(cosine):.2f}" if cosine else "–"))
        lines.append(f"| {label} | " + " | ".join(row) + " |")
    return "\n".join(lines) + "\n"
