"""PNG figures of the results: test scores per seed, fine-tuning and pretraining curves.

Figures are built with :class:`matplotlib.figure.Figure` and rendered by the Agg canvas, so
no GUI backend or global pyplot state is involved.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from semmol.evaluate.metrics import metric_label
from semmol.evaluate.records import KIND_BASELINE, KIND_PIPELINE
from semmol.runtime.atomic import atomic_path

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from semmol.evaluate.label_report import LabelCurves
    from semmol.evaluate.probe_report import ProbeCurves
    from semmol.evaluate.summary_row import SummaryRow

_DPI = 120
_PANELS_PER_LINE = 3
#: Line styles of the reference lines in the metrics plot.
_BASELINE_STYLE = {"color": "0.35", "linestyle": "--", "linewidth": 1.5}
_PUBLISHED_COLORS = ("tab:red", "tab:purple", "tab:brown", "tab:olive")
#: Line styles telling the seeds of one run apart in the fine-tuning curves (colors tell runs apart).
_SEED_STYLES = ("-", "--", ":", "-.")


def _grid(n_panels: int, *, width: float = 4.8) -> tuple[Figure, list[Axes]]:
    """A figure of ``n_panels`` axes, :data:`_PANELS_PER_LINE` per line, each ``width`` inches wide."""
    columns = min(n_panels, _PANELS_PER_LINE)
    lines = math.ceil(n_panels / columns)
    figure = Figure(figsize=(width * columns, 3.8 * lines), layout="constrained")
    axes = list(figure.subplots(lines, columns, squeeze=False).ravel())
    for unused in axes[n_panels:]:
        figure.delaxes(unused)
    return figure, axes[:n_panels]


def _save(figure: Figure, path: str | Path) -> None:
    with atomic_path(path) as tmp:
        figure.savefig(tmp, dpi=_DPI)


def _message(path: str | Path, text: str) -> None:
    figure = Figure(figsize=(6, 2.5))
    figure.text(0.5, 0.5, text, ha="center", va="center", fontsize="large")
    _save(figure, path)


def _legend(ax: Axes, *, outside: bool, fontsize: str = "small") -> None:
    """A legend, unless the panel has nothing labelled (matplotlib would warn).

    Args:
        ax: the panel.
        outside: right of the panel, so that it hides no data; else where matplotlib finds room.
        fontsize: font size of the entries (default: 'small').
    """
    if not ax.get_legend_handles_labels()[0]:
        return
    if outside:
        ax.legend(fontsize=fontsize, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0)
    else:
        ax.legend(fontsize=fontsize)


def _number(value: Any) -> float:
    """A history value as a float; NaN when absent or not a number."""
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else math.nan


def plot_metrics(results: list[dict[str, Any]], rows: list[SummaryRow], path: str | Path) -> None:
    """Test score of every seed of every run, per benchmark and split, with reference lines.

    Each pipeline run is a column of seed points with its mean as a black bar; baselines are
    dashed and published figures dotted horizontal lines.

    Args:
        results: result files' contents (:func:`semmol.evaluate.aggregate.load_results`).
        rows: their summary (:func:`semmol.evaluate.aggregate.summarize`).
        path: the PNG file to write.
    """
    panels = list(dict.fromkeys((row.benchmark, row.split, row.metric) for row in rows))
    figure, axes = _grid(len(panels), width=6.4)
    for ax, (benchmark, split, metric) in zip(axes, panels):
        here = [row for row in rows if (row.benchmark, row.split) == (benchmark, split)]
        runs = [row for row in here if row.kind == KIND_PIPELINE]
        for x, row in enumerate(runs):
            key = (row.run, benchmark, split)
            values = [r["test"] for r in results if (r["run"], r["benchmark"], r["split"]) == key]
            offsets = np.linspace(-0.15, 0.15, len(values)) if len(values) > 1 else np.zeros(1)
            ax.scatter(x + offsets, values, color=f"C{x}", alpha=0.75, zorder=3)
            ax.hlines(
                row.mean,
                x - 0.3,
                x + 0.3,
                color="black",
                linewidth=2.5,
                zorder=4,
                label="mean over seeds" if x == 0 else None,
            )
        references = [row for row in here if row.kind != KIND_PIPELINE and math.isfinite(row.mean)]
        published = itertools.cycle(_PUBLISHED_COLORS)
        for row in references:
            if row.kind == KIND_BASELINE:
                ax.axhline(row.mean, label=f"{row.run} (baseline)", **_BASELINE_STYLE)
            else:
                label = f"{row.run} (published)"
                ax.axhline(row.mean, color=next(published), linestyle=":", linewidth=1.8, label=label)
        ax.set_xticks(range(len(runs)), [row.run for row in runs], rotation=20, ha="right")
        ax.set_xlim(-0.6, max(len(runs), 1) - 0.4)
        ax.set_title(f"{benchmark} ({split})")
        ax.set_ylabel(f"test {metric_label(metric)}")
        ax.grid(axis="y", alpha=0.3)
        _legend(ax, outside=True)
    _save(figure, path)


def plot_finetune_curves(results: list[dict[str, Any]], path: str | Path) -> None:
    """Validation score per epoch of every fine-tuning run and seed, one panel per benchmark split.

    Results without a history (the baseline) draw nothing; a circle marks each run's kept epoch.

    Args:
        results: result files' contents (:func:`semmol.evaluate.aggregate.load_results`).
        path: the PNG file to write.
    """
    panels = list(dict.fromkeys((r["benchmark"], r["split"], r["metric"]) for r in results))
    trained = [r for r in results if r["history"]]
    colors = {run: f"C{i}" for i, run in enumerate(dict.fromkeys(r["run"] for r in trained))}
    seeds = {run: sorted({r["seed"] for r in trained if r["run"] == run}) for run in colors}
    figure, axes = _grid(len(panels), width=6.4)
    for ax, (benchmark, split, metric) in zip(axes, panels):
        curves = [r for r in trained if (r["benchmark"], r["split"]) == (benchmark, split)]
        if not curves:
            message = "no training history\n(baseline only)"
            ax.text(0.5, 0.5, message, transform=ax.transAxes, ha="center", va="center")
        for result in curves:
            epochs = [_number(entry["epoch"]) for entry in result["history"]]
            valid = [_number(entry.get("valid")) for entry in result["history"]]
            color = colors[result["run"]]
            style = _SEED_STYLES[seeds[result["run"]].index(result["seed"]) % len(_SEED_STYLES)]
            label = f"{result['run']} seed {result['seed']}"
            ax.plot(epochs, valid, color=color, linestyle=style, label=label)
            best = result.get("best_epoch")
            if best in epochs:
                ax.plot(best, valid[epochs.index(best)], "o", color=color, markersize=5)
        ax.set_title(f"{benchmark} ({split})")
        ax.set_xlabel("epoch")
        ax.set_ylabel(f"validation {metric_label(metric)}")
        ax.grid(alpha=0.3)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        _legend(ax, outside=True, fontsize="x-small")
    _save(figure, path)


def plot_center_libraries(
    snapshots: Mapping[str, list[tuple[dict, dict[str, np.ndarray]]]], path: str | Path
) -> None:
    """The SemMol center libraries over training, one line of two panels per run and modality.

    Left: usage entropy (1 = every center used evenly) and the share of dead centers per
    snapshot. Right: the centers of every snapshot projected on the first two principal
    axes of all of them, coloured by step (final centers ringed).

    Args:
        snapshots: per run, its snapshots (:func:`semmol.methods.semmol.objective.read_snapshots`);
            empty gives a figure saying so.
        path: the PNG file to write.
    """
    panels = [
        (run, modality)
        for run, snaps in snapshots.items()
        if snaps
        for modality in snaps[-1][0]["modalities"]
    ]
    if not panels:
        _message(path, "no center-library snapshots (no run pretrained with method 'semmol')")
        return
    figure = Figure(figsize=(10, 3.6 * len(panels)), layout="constrained")
    axes = figure.subplots(len(panels), 2, squeeze=False)
    for (usage_ax, projection_ax), (run, modality) in zip(axes, panels):
        snaps = snapshots[run]
        steps = [summary["step"] for summary, _ in snaps]
        stats = [summary["modalities"][modality] for summary, _ in snaps]
        usage_ax.plot(steps, [s["usage_entropy"] for s in stats], marker="o", label="usage entropy")
        usage_ax.plot(
            steps, [s["dead_centers"] / s["n_centers"] for s in stats], marker="s", label="dead share"
        )
        usage_ax.set_ylim(-0.05, 1.05)
        usage_ax.set_xlabel("step")
        usage_ax.set_title(f"{run}: {modality} center usage")
        usage_ax.grid(alpha=0.3)
        _legend(usage_ax, outside=False)
        centers = [arrays[f"{modality}.centers"] for _, arrays in snaps]
        stacked = np.concatenate(centers)
        centred = stacked - stacked.mean(axis=0)
        axes_2d = np.linalg.svd(centred, full_matrices=False)[2][:2].T
        projected = centred @ axes_2d
        colours = np.repeat(steps, [len(c) for c in centers])
        scatter = projection_ax.scatter(projected[:, 0], projected[:, 1], c=colours, s=10, cmap="viridis")
        final = projected[-len(centers[-1]) :]
        projection_ax.scatter(
            final[:, 0], final[:, 1], s=40, facecolors="none", edgecolors="black", linewidths=0.8
        )
        projection_ax.set_title(f"{run}: {modality} centers (PCA)")
        figure.colorbar(scatter, ax=projection_ax, label="step")
    _save(figure, path)


def plot_pretrain_curves(logs: Mapping[str, list[dict[str, float]]], path: str | Path) -> None:
    """Pretraining losses against step, one panel per run: the total 'loss' and each 'loss_*' term.

    Args:
        logs: per run, the lines of its ``metrics.jsonl``
            (:func:`semmol.evaluate.aggregate.read_pretrain_log`); empty gives a figure saying so.
        path: the PNG file to write.
    """
    if not logs:
        _message(path, "no pretraining runs")
        return
    terms = {
        run: sorted({key for entry in entries for key in entry if key.startswith("loss_")})
        for run, entries in logs.items()
    }
    # One colour per loss term across all panels, so that runs which drop a term (ablations) stay comparable.
    colours = {term: f"C{i}" for i, term in enumerate(sorted(set().union(*terms.values())))}
    figure, axes = _grid(len(logs))
    for ax, (run, entries) in zip(axes, logs.items()):
        steps = [entry["step"] for entry in entries]
        ax.plot(steps, [entry["loss"] for entry in entries], color="black", linewidth=2, label="loss")
        for term in terms[run]:
            values = [entry.get(term, math.nan) for entry in entries]
            ax.plot(steps, values, color=colours[term], linewidth=1, label=term)
        if not entries:
            ax.text(0.5, 0.5, "empty log", transform=ax.transAxes, ha="center", va="center")
        ax.set_title(run)
        ax.set_xlabel("step")
        ax.set_ylabel("loss")
        ax.grid(alpha=0.3)
        _legend(ax, outside=False)
    _save(figure, path)


def _probe_run(label: str) -> str | None:
    """The run of an encoder's probe label ('<run> pretrained', '<run> random init'), else None."""
    for suffix in (" pretrained", " random init"):
        if label.endswith(suffix):
            return label.removesuffix(suffix)
    return None


def plot_probe_curves(metrics: Mapping[str, str], curves: ProbeCurves, path: str | Path) -> None:
    """Probe test score against the share of train labels, one panel per benchmark and probe.

    Each run's pretrained encoder is a solid line and its random initialisation a dashed one
    in the same colour (one random-init line per architecture would hide which run it floors);
    ECFP4 and RDKit 2D are grey. Bands: ± one standard deviation over splits and seeds.

    Args:
        metrics: each benchmark's metric (:func:`semmol.evaluate.probe_report.probe_curves`).
        curves: per (benchmark, probe), per feature label, per fraction, the test scores.
        path: the PNG file to write.
    """
    if not curves:
        _message(path, "no probes run (probe.enabled: false)")
        return
    encoder_runs = dict.fromkeys(
        _probe_run(label) for lines in curves.values() for label in lines if _probe_run(label)
    )
    colors = {run: f"C{i}" for i, run in enumerate(encoder_runs)}
    figure, axes = _grid(len(curves), width=6.4)
    for ax, ((bench, probe), lines) in zip(axes, curves.items()):
        for label, points in lines.items():
            run = _probe_run(label)
            if run:
                style = {"color": colors[run], "linestyle": "-" if label.endswith("pretrained") else "--"}
            else:  # the fingerprints, the same for every run
                style = {"color": "0.25" if label == "ECFP4" else "0.6", "linestyle": ":"}
            _fraction_curve(ax, points, label=label, style=style)
        _fraction_axes(ax, title=f"{bench}, {probe} probe", metric=metrics[bench])
    _save(figure, path)


def _fraction_curve(
    ax: Axes, points: Mapping[float, list[float]], *, label: str, style: dict[str, Any]
) -> None:
    """A line of mean score against label fraction, with a band of ± one standard deviation;
    fractions without a score are left out."""
    fractions = sorted(fraction for fraction, scores in points.items() if scores)
    mean = np.array([np.mean(points[f]) for f in fractions])
    std = np.array([np.std(points[f], ddof=1) if len(points[f]) > 1 else 0.0 for f in fractions])
    ax.plot(fractions, mean, marker="o", markersize=3, label=label, **style)
    ax.fill_between(fractions, mean - std, mean + std, color=style["color"], alpha=0.12)


def _fraction_axes(ax: Axes, *, title: str, metric: str) -> None:
    """A label-efficiency panel's log x axis, labels, grid and legend."""
    ax.set_xscale("log")
    ax.set_title(title)
    ax.set_xlabel("share of train labels")
    ax.set_ylabel(f"test {metric_label(metric)}")
    ax.grid(alpha=0.3)
    _legend(ax, outside=True, fontsize="x-small")


def plot_label_curves(metrics: Mapping[str, str], curves: LabelCurves, path: str | Path) -> None:
    """Fine-tuned test score against the share of train labels, one panel per benchmark and split.

    A solid line per run and a dashed one per baseline; bands: ± one standard deviation over seeds.

    Args:
        metrics: each benchmark's metric (:func:`semmol.evaluate.label_report.label_curves`).
        curves: per (benchmark, split), per row, per fraction, the test scores.
        path: the PNG file to write.
    """
    if not curves:
        _message(path, "no label fractions below 1 (label_fractions: [1.0])")
        return
    figure, axes = _grid(len(curves), width=6.4)
    for ax, ((bench, split), rows) in zip(axes, curves.items()):
        for number, (row, points) in enumerate(rows.items()):
            style = {"color": f"C{number % 10}", "linestyle": "--" if row.endswith("(baseline)") else "-"}
            _fraction_curve(ax, points, label=row, style=style)
        _fraction_axes(ax, title=f"{bench} ({split})", metric=metrics[bench])
    _save(figure, path)

