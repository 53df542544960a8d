"""What each figure draws: the points, bars, reference lines and curves on its axes, not only
that a PNG file was written (an empty figure writes one too)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from matplotlib.collections import LineCollection, PathCollection

from semmol.evaluate import plots
from semmol.evaluate.summary_row import SummaryRow

from ...conftest import drawn_share


def _result(run, seed, test, *, history=None, best_epoch=None):
    return {
        "run": run, "benchmark": "esol", "split": "scaffold", "metric": "rmse", "seed": seed,
        "test": test, "history": history, "best_epoch": best_epoch,
    }  # fmt: skip


def _row(run, mean, kind, seeds=(0, 1, 2)):
    return SummaryRow(run, "esol", "scaffold", "rmse", mean, math.nan, len(seeds), tuple(seeds), kind)


def test_metrics_plot_draws_every_seed_each_mean_and_the_reference_lines(tmp_path, figures):
    scores = {"semmol": [1.1, 1.2, 1.0], "infonce": [1.3, 1.25, 1.2]}
    results = [_result(run, seed, test) for run, tests in scores.items() for seed, test in enumerate(tests)]
    rows = [_row(run, float(np.mean(tests)), "pipeline") for run, tests in scores.items()]
    rows += [_row("rf_ecfp4", 1.16, "baseline"), _row("Uni-Mol", 0.79, "published", seeds=())]
    plots.plot_metrics(results, rows, tmp_path / "metrics.png")

    (ax,) = figures["metrics.png"].axes
    points = [c for c in ax.collections if isinstance(c, PathCollection)]
    assert [sorted(p.get_offsets()[:, 1]) for p in points] == [sorted(tests) for tests in scores.values()]
    assert [p.get_offsets()[:, 0].mean() for p in points] == pytest.approx([0, 1])  # a column per run
    bars = [c for c in ax.collections if isinstance(c, LineCollection)]
    means = [segment[0, 1] for bar in bars for segment in bar.get_segments()]
    assert means == pytest.approx([np.mean(tests) for tests in scores.values()])
    references = {line.get_label(): line.get_ydata()[0] for line in ax.lines}
    assert references == {"rf_ecfp4 (baseline)": 1.16, "Uni-Mol (published)": 0.79}
    assert [label.get_text() for label in ax.get_xticklabels()] == list(scores)
    assert drawn_share(tmp_path / "metrics.png") > 0.03


def test_finetune_curves_draw_each_seed_s_validation_curve_and_kept_epoch(tmp_path, figures):
    history = [{"epoch": epoch, "valid": 2.0 - 0.1 * epoch} for epoch in range(1, 5)]
    results = [_result("semmol", seed, 1.0, history=history, best_epoch=3) for seed in (0, 1)]
    results.append(_result("rf_ecfp4", 0, 1.2))  # no history: draws nothing
    plots.plot_finetune_curves(results, tmp_path / "curves.png")

    (ax,) = figures["curves.png"].axes
    curves = [line for line in ax.lines if line.get_label().startswith("semmol")]
    assert [line.get_label() for line in curves] == ["semmol seed 0", "semmol seed 1"]
    for line in curves:
        assert list(line.get_xdata()) == [1, 2, 3, 4]
        assert list(line.get_ydata()) == pytest.approx([1.9, 1.8, 1.7, 1.6])
    kept = [(*line.get_xdata(), *line.get_ydata()) for line in ax.lines if line.get_marker() == "o"]
    np.testing.assert_allclose(kept, [(3, 1.7), (3, 1.7)])
    assert len({line.get_linestyle() for line in curves}) == 2  # seeds told apart

    plots.plot_finetune_curves([_result("rf_ecfp4", 0, 1.2)], tmp_path / "baseline.png")
    (ax,) = figures["baseline.png"].axes
    assert not ax.lines and [text.get_text() for text in ax.texts] == ["no training history\n(baseline only)"]


def test_pretrain_curves_draw_the_loss_and_each_term_per_run(tmp_path, figures):
    logs = {
        "semmol": [{"step": s, "loss": 3 / s, "loss_infonce": 2 / s, "loss_semantic": 1 / s} for s in (1, 2)],
        "infonce": [{"step": s, "loss": 2.5 / s, "loss_infonce": 2.5 / s} for s in (1, 2)],
    }
    plots.plot_pretrain_curves(logs, tmp_path / "pretrain.png")

    axes = figures["pretrain.png"].axes
    assert [ax.get_title() for ax in axes] == ["semmol", "infonce"]
    for ax, (run, entries) in zip(axes, logs.items()):
        drawn = {line.get_label(): list(line.get_ydata()) for line in ax.lines}
        assert drawn == {key: [entry[key] for entry in entries] for key in entries[0] if key != "step"}, run
    colour = {ax.get_title(): {line.get_label(): line.get_color() for line in ax.lines} for ax in axes}
    assert colour["semmol"]["loss_infonce"] == colour["infonce"]["loss_infonce"]  # one colour per term

    plots.plot_pretrain_curves({}, tmp_path / "none.png")
    assert [text.get_text() for text in figures["none.png"].texts] == ["no pretraining runs"]


def test_center_library_plot_draws_usage_per_snapshot_and_every_center(tmp_path, figures):
    rng = np.random.default_rng(0)
    usage = [{"usage_entropy": 0.5 + 0.1 * i, "dead_centers": 4 - i, "n_centers": 8} for i in range(3)]
    snapshots = {
        "semmol": [
            ({"step": step, "modalities": {"graph2d": stats}}, {"graph2d.centers": rng.normal(size=(8, 4))})
            for step, stats in zip((100, 200, 300), usage)
        ]
    }
    plots.plot_center_libraries(snapshots, tmp_path / "centers.png")

    usage_ax, projection, _colorbar = figures["centers.png"].axes
    assert [line.get_label() for line in usage_ax.lines] == ["usage entropy", "dead share"]
    drawn = [line.get_ydata() for line in usage_ax.lines]
    np.testing.assert_allclose(drawn, [[0.5, 0.6, 0.7], [0.5, 0.375, 0.25]])
    every, final = projection.collections
    assert len(every.get_offsets()) == 24 and list(every.get_array()) == [100] * 8 + [200] * 8 + [300] * 8
    np.testing.assert_allclose(final.get_offsets(), every.get_offsets()[-8:])

    plots.plot_center_libraries({"infonce": []}, tmp_path / "none.png")
    assert "no center-library snapshots" in figures["none.png"].texts[0].get_text()


def test_probe_curves_draw_each_encoder_against_the_share_of_labels(tmp_path, figures):
    lines = {
        "semmol pretrained": {0.1: [0.70, 0.72], 1.0: [0.80, 0.82]},
        "semmol random init": {0.1: [0.60, 0.62], 1.0: [0.65, 0.67]},
        "ECFP4": {0.1: [0.55], 1.0: [0.66]},
    }
    plots.plot_probe_curves({"bbbp": "roc_auc"}, {("bbbp", "linear"): lines}, tmp_path / "probes.png")

    (ax,) = figures["probes.png"].axes
    drawn = {line.get_label(): line for line in ax.lines}
    assert list(drawn) == list(lines)
    assert list(drawn["semmol pretrained"].get_xdata()) == [0.1, 1.0]
    assert list(drawn["semmol pretrained"].get_ydata()) == pytest.approx([0.71, 0.81])
    assert drawn["semmol pretrained"].get_color() == drawn["semmol random init"].get_color()
    assert drawn["semmol random init"].get_linestyle() == "--"
    assert ax.get_xscale() == "log" and ax.get_title() == "bbbp, linear probe"
    assert drawn_share(tmp_path / "probes.png") > 0.03

    plots.plot_probe_curves({}, {}, tmp_path / "none.png")
    assert [text.get_text() for text in figures["none.png"].texts] == ["no probes run (probe.enabled: false)"]


def test_label_curves_draw_each_row_against_the_share_of_labels_with_bands(tmp_path, figures):
    rows = {
        "semmol": {0.5: [0.70, 0.74], 1.0: [0.80, 0.82]},
        "rf_ecfp4 (baseline)": {0.5: [0.60], 1.0: []},  # a fraction without a score is left out
    }
    plots.plot_label_curves({"bbbp": "roc_auc"}, {("bbbp", "scaffold"): rows}, tmp_path / "labels.png")

    (ax,) = figures["labels.png"].axes
    drawn = {line.get_label(): line for line in ax.lines}
    assert list(drawn) == list(rows)
    assert list(drawn["semmol"].get_xdata()) == [0.5, 1.0]
    assert list(drawn["semmol"].get_ydata()) == pytest.approx([0.72, 0.81])
    assert list(drawn["rf_ecfp4 (baseline)"].get_xdata()) == [0.5]
    assert drawn["semmol"].get_linestyle() == "-" and drawn["rf_ecfp4 (baseline)"].get_linestyle() == "--"
    band = ax.collections[0].get_paths()[0].vertices[:, 1]  # ± one std over seeds around the mean
    assert band.min() == pytest.approx(0.72 - np.std([0.70, 0.74], ddof=1))
    assert ax.get_xscale() == "log" and ax.get_title() == "bbbp (scaffold)"
    assert ax.get_ylabel() == "test ROC-AUC ↑"
    assert drawn_share(tmp_path / "labels.png") > 0.03

    plots.plot_label_curves({}, {}, tmp_path / "none.png")
    assert [text.get_text() for text in figures["none.png"].texts] == [
        "no label fractions below 1 (label_fractions: [1.0])"
    ]
