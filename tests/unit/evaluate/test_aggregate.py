from __future__ import annotations

import csv
import json
import math
import re

import numpy as np
import polars as pl
import pytest

from semmol.evaluate.aggregate import (
    CENTERS_PLOT,
    DATA_CSV,
    FINETUNE_PLOT,
    METRICS_PLOT,
    PRETRAIN_PLOT,
    SUMMARY_BY_RUN_MD,
    SUMMARY_CSV,
    SUMMARY_HTML,
    SUMMARY_MD,
    AggregateError,
    aggregate,
    load_results,
    read_pretrain_log,
    summarize,
)
from semmol.evaluate.fewshot_report import FEWSHOT_CSV
from semmol.evaluate.tables import summary_markdown

from ...conftest import drawn_share

#: Test scores per (run, benchmark) for seeds 0, 1, 2.
SCORES = {
    ("semmol", "bbbp"): [0.70, 0.72, 0.74],
    ("infonce", "bbbp"): [0.65, 0.70, 0.66],
    ("rf_ecfp4", "bbbp"): [0.68, 0.69, 0.70],
    ("semmol", "esol"): [1.10, 1.20, 1.00],
    ("infonce", "esol"): [1.30, 1.20, 1.25],
    ("rf_ecfp4", "esol"): [1.15, 1.16, 1.17],
}
TASK = {"bbbp": ("classification", "roc_auc", True), "esol": ("regression", "rmse", False)}


#: Test molecules of every synthetic result: source rows, labels, and per seed the predictions.
TEST_ROWS = [4, 7, 9, 12]
TEST_LABELS = {"bbbp": [0.0, 1.0, 0.0, 1.0], "esol": [-1.0, -2.0, -3.0, -4.0]}
TEST_PREDICTIONS = {
    "bbbp": [[0.6, 0.7, 0.2, 0.9], [0.1, 0.3, 0.4, 0.8], [0.5, 0.4, 0.6, 0.7]],
    "esol": [[-1.5, -2.0, -2.5, -4.5], [-0.5, -2.5, -3.5, -3.0], [-1.0, -1.0, -3.0, -5.0]],
}


def _result(
    directory,
    run,
    benchmark,
    seed,
    test,
    *,
    split="scaffold",
    kind=None,
    metric=None,
    test_rows=None,
    untrained_views=None,
    label_fraction=None,
):
    """A metrics.json as written by semmol.evaluate.records.write_result, and beside it a
    predictions.parquet whose test subset is :data:`TEST_ROWS` (or ``test_rows``)."""
    task, default_metric, higher = TASK[benchmark]
    kind = kind or ("baseline" if run == "rf_ecfp4" else "pipeline")
    history = (
        None
        if kind == "baseline"
        else [
            {"epoch": epoch, "train_loss": 1.0 / (epoch + 1), "valid": test + 0.01 * epoch}
            for epoch in range(4)
        ]
    )
    metrics = {
        "run": run,
        "benchmark": benchmark,
        "split": split,
        "seed": seed,
        "task": task,
        "kind": kind,
        "targets": ["y"],
        "metric": metric or default_metric,
        "higher_is_better": higher,
        "train": test,
        "valid": test,
        "test": test,
        "per_task_test": {"y": test},
        "n": {"train": 8, "valid": 1, "test": 1},
        "missing": {"train": 0, "valid": 0, "test": 0},
        "history": history,
        "best_epoch": None if history is None else 2,
        "seconds": 1.0,
    }
    if untrained_views is not None:
        metrics["views_without_method_gradient"] = untrained_views
    if label_fraction is not None:  # files written before label fractions lack the key
        metrics["label_fraction"] = label_fraction
    labels = "" if label_fraction is None else f"-labels{label_fraction}"
    path = directory / run / benchmark / f"{split}{labels}-{seed}" / "metrics.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(metrics))
    rows = TEST_ROWS if test_rows is None else test_rows
    pl.DataFrame(
        {
            "row": rows,
            "subset": ["test"] * len(rows),
            "smiles": ["C"] * len(rows),
            "y": TEST_LABELS[benchmark][: len(rows)],
            "y__pred": TEST_PREDICTIONS[benchmark][seed % 3][: len(rows)],
        }
    ).write_parquet(path.parent / "predictions.parquet")
    return path


@pytest.fixture
def result_files(tmp_path):
    return [
        _result(tmp_path / "in", run, benchmark, seed, value)
        for (run, benchmark), values in SCORES.items()
        for seed, value in enumerate(values)
    ]


@pytest.fixture
def pretrain_log(tmp_path):
    path = tmp_path / "metrics.jsonl"
    lines = [{"step": s, "loss": 3.0 / s, "loss_infonce": 2.0 / s, "lr": 1e-3} for s in range(1, 20)]
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    return path


def _csv(path) -> dict[tuple[str, str], dict[str, str]]:
    with open(path, newline="") as handle:
        return {(row["run"], row["benchmark"]): row for row in csv.DictReader(handle)}


def test_summary_csv_holds_mean_and_sample_std_per_run(tmp_path, result_files, pretrain_log):
    out = tmp_path / "report"
    aggregate(result_files, out_dir=out, pretrain_logs={"semmol": pretrain_log})
    rows = _csv(out / SUMMARY_CSV)
    assert len(rows) == 10  # 2 benchmarks x (2 runs + baseline + 2 published)
    for (run, benchmark), values in SCORES.items():
        row = rows[(run, benchmark)]
        mean = sum(values) / 3
        std = math.sqrt(sum((value - mean) ** 2 for value in values) / 2)
        assert float(row["mean"]) == pytest.approx(mean)
        assert float(row["std"]) == pytest.approx(std)
        assert (row["n"], row["seeds"], row["split"]) == ("3", "0;1;2", "scaffold")
        assert row["kind"] == ("baseline" if run == "rf_ecfp4" else "pipeline")
        assert row["metric"] == TASK[benchmark][1]
    assert float(rows[("semmol", "bbbp")]["std"]) == pytest.approx(0.02)
    published = {key: row for key, row in rows.items() if row["kind"] == "published"}
    assert {key: float(row["mean"]) for key, row in published.items()} == {
        ("chemprop D-MPNN", "bbbp"): 0.710,
        ("Uni-Mol", "bbbp"): 0.729,
        ("chemprop D-MPNN", "esol"): 1.050,
        ("Uni-Mol", "esol"): 0.788,
    }
    assert all(row["std"] == row["n"] == row["seeds"] == row["ensemble"] == "" for row in published.values())


def test_the_seed_ensemble_scores_the_mean_prediction(tmp_path, result_files):
    from semmol.evaluate.metrics import masked_roc_auc, rmse

    rows = {(row.run, row.benchmark): row for row in summarize(load_results(result_files))}
    for benchmark, score in (("bbbp", masked_roc_auc), ("esol", rmse)):
        mean_prediction = np.mean(TEST_PREDICTIONS[benchmark], axis=0)
        expected, _ = score(np.array(TEST_LABELS[benchmark])[:, None], mean_prediction[:, None])
        assert rows[("semmol", benchmark)].ensemble == pytest.approx(expected)
    text = summary_markdown(list(rows.values()))
    ensemble_table = text.split("## Seed ensembles")[1]
    expected_bbbp, _ = masked_roc_auc(
        np.array(TEST_LABELS["bbbp"])[:, None], np.mean(TEST_PREDICTIONS["bbbp"], 0)[:, None]
    )
    assert f"| bbbp | scaffold | ROC-AUC ↑ | **{expected_bbbp:.3f}** |" in ensemble_table


def test_no_ensemble_when_the_seeds_test_sets_differ(tmp_path):
    files = [
        _result(tmp_path, "semmol", "esol", 0, 1.0, split="random", test_rows=[1, 2, 3, 4]),
        _result(tmp_path, "semmol", "esol", 1, 1.1, split="random", test_rows=[1, 2, 3, 5]),
    ]
    (row,) = summarize(load_results(files), include_published=False)
    assert math.isnan(row.ensemble) and "| esol | random | RMSE ↓ | n/a |" in summary_markdown([row])


def test_summary_markdown_table(tmp_path, result_files):
    out = tmp_path / "report"
    aggregate(result_files, out_dir=out)
    text = (out / SUMMARY_MD).read_text()
    assert text.startswith("# Results\n")
    assert (
        "| benchmark | split | metric | semmol | infonce | rf_ecfp4 (baseline) | chemprop D-MPNN (published)"
        " | Uni-Mol (published) |" in text
    )
    assert (
        "| bbbp | scaffold | ROC-AUC ↑ | **0.720 ± 0.020 (3)** | 0.670 ± 0.026 (3) | 0.690 ± 0.010 (3)"
        " | 0.710 | 0.729 |" in text
    )
    assert (
        "| esol | scaffold | RMSE ↓ | **1.100 ± 0.100 (3)** | 1.250 ± 0.050 (3) | 1.160 ± 0.010 (3)"
        " | 1.050 | 0.788 |" in text
    )
    assert "Uni-Mol" in text and "ICLR 2023" in text
    assert "got no gradient" not in text


def test_summary_by_run_has_a_line_per_run_and_a_column_per_benchmark(tmp_path, result_files):
    out = tmp_path / "report"
    aggregate(result_files, out_dir=out)
    lines = (out / SUMMARY_BY_RUN_MD).read_text().splitlines()
    table = [line for line in lines if line.startswith("|")]
    assert table == [
        "| run | bbbp (scaffold) ROC-AUC ↑ | esol (scaffold) RMSE ↓ |",
        "|---|---|---|",
        "| semmol | **0.720 ± 0.020 (3)** | **1.100 ± 0.100 (3)** |",
        "| infonce | 0.670 ± 0.026 (3) | 1.250 ± 0.050 (3) |",
        "| rf_ecfp4 (baseline) | 0.690 ± 0.010 (3) | 1.160 ± 0.010 (3) |",
        "| chemprop D-MPNN (published) | 0.710 | 1.050 |",
        "| Uni-Mol (published) | 0.729 | 0.788 |",
    ]


def test_a_row_whose_fine_tuned_view_its_method_never_trained_says_so(tmp_path):
    files = [
        _result(tmp_path / "in", run, "bbbp", seed, 0.7, untrained_views=views)
        for run, views in [("semmol", ["graph2d"]), ("infonce", [])]
        for seed in range(2)
    ]
    aggregate(files, out_dir=tmp_path / "report")
    text = (tmp_path / "report" / SUMMARY_MD).read_text()
    assert "semmol: the fine-tuned graph2d got no gradient from its pretraining method's own terms" in text
    assert "infonce: the fine-tuned" not in text


def _dataset_dir(directory, *, records, rejected, bad_labels, no_conformer):
    """A dataset directory with the two stage reports the data table reads."""
    accepted = records - rejected
    (directory / "shards").mkdir(parents=True)
    report = {
        "records": records,
        "accepted": accepted,
        "rejected_records": rejected,
        "bad_label_cells": bad_labels,
        "reasons": {"unparsable SMILES": rejected} if rejected else {},
    }
    statuses = {"ok": accepted - no_conformer, "mmff_failed": 0, "embed_failed": no_conformer, "timeout": 0}
    (directory / "standardize.json").write_text(json.dumps(report))
    (directory / "shards/manifest.json").write_text(json.dumps({"molecules": accepted, "statuses": statuses}))
    return directory


def test_data_table_follows_the_results_table(tmp_path, result_files):
    datasets = {
        "corpus": _dataset_dir(tmp_path / "corpus", records=200, rejected=4, bad_labels=0, no_conformer=2),
        "bbbp": _dataset_dir(tmp_path / "bbbp", records=50, rejected=0, bad_labels=3, no_conformer=0),
    }
    out = tmp_path / "report"
    aggregate(result_files, out_dir=out, datasets=datasets)
    results, data = (out / SUMMARY_MD).read_text().split("\n## Data\n")
    assert "| bbbp | scaffold | ROC-AUC ↑ |" in results and "| corpus |" not in results
    lines = [line for line in data.splitlines() if line.startswith("| ")]
    assert lines == [
        "| dataset | records | accepted | rejected records | bad label cells | no conformer | reasons |",
        "| corpus | 200 | 196 | 4 | 0 | 2 (1.0%) | unparsable SMILES: 4 |",
        "| bbbp | 50 | 50 | 0 | 3 | 0 (0.0%) | – |",
    ]
    with open(out / DATA_CSV, newline="") as handle:
        assert [row["dataset"] for row in csv.DictReader(handle)] == ["corpus", "bbbp"]
    page = (out / SUMMARY_HTML).read_text()
    results_at, plot_at, data_at = (page.index(text) for text in ("<td>bbbp</td>", "<img", "<td>corpus</td>"))
    assert results_at < plot_at < data_at  # the results table, the metrics plot, the data table
    assert "<td>2 (1.0%)</td>" in page

    aggregate(result_files, out_dir=tmp_path / "plain")
    assert "## Data" not in (tmp_path / "plain" / SUMMARY_MD).read_text()
    assert not (tmp_path / "plain" / DATA_CSV).exists()


def test_plots_draw_every_result(tmp_path, result_files, pretrain_log, figures):
    out = tmp_path / "report"
    aggregate(result_files, out_dir=out, pretrain_logs={"semmol": pretrain_log, "infonce": pretrain_log})
    assert sorted(p.name for p in (out / "plots").iterdir()) == [
        "centers.png",
        "finetune_curves.png",
        "label_curves.png",  # saying that no label fraction is below 1
        "metrics.png",
        "pretrain_curves.png",
        "probe_curves.png",  # saying that no probes ran
    ]
    for name in (METRICS_PLOT, FINETUNE_PLOT, PRETRAIN_PLOT):
        assert drawn_share(out / name) > 0.04, name  # more than bare axes
    metrics = figures["metrics.png"].axes
    assert [ax.get_title() for ax in metrics] == ["bbbp (scaffold)", "esol (scaffold)"]
    for ax, benchmark in zip(metrics, ("bbbp", "esol")):
        seeds = [sorted(points.get_offsets()[:, 1]) for points in ax.collections[::2]]  # points, mean bar
        np.testing.assert_allclose(seeds, [sorted(SCORES[(run, benchmark)]) for run in ("semmol", "infonce")])
    for ax in figures["finetune_curves.png"].axes:  # a curve per run and seed, a dot at its kept epoch
        assert len([line for line in ax.lines if line.get_marker() != "o"]) == 6
    pretrain = figures["pretrain_curves.png"].axes
    assert [ax.get_title() for ax in pretrain] == ["semmol", "infonce"]
    assert all([line.get_label() for line in ax.lines] == ["loss", "loss_infonce"] for ax in pretrain)
    assert "no center-library snapshots" in figures["centers.png"].texts[0].get_text()
    assert "## Label efficiency" not in (out / SUMMARY_MD).read_text()


def test_label_fractions_make_their_own_section_and_stay_out_of_the_results_table(
    tmp_path, result_files, figures
):
    halves = [
        _result(tmp_path / "in", run, benchmark, seed, value - 0.05, label_fraction=0.5)
        for (run, benchmark), values in SCORES.items()
        for seed, value in enumerate(values)
    ]
    out = tmp_path / "report"
    rows = aggregate([*result_files, *halves], out_dir=out, include_published=False)

    assert {(row.run, row.benchmark): row.mean for row in rows} == {
        key: pytest.approx(np.mean(values)) for key, values in SCORES.items()
    }
    section = (out / SUMMARY_MD).read_text().split("## Label efficiency")[1]
    bbbp = section.split("### bbbp (scaffold, test ROC-AUC ↑)")[1].split("###")[0]
    assert "| row | 50% | 100% |" in bbbp
    semmol = next(line for line in bbbp.splitlines() if line.startswith("| semmol |"))
    assert semmol == "| semmol | 0.670 ± 0.020 (3) | 0.720 ± 0.020 (3) |"
    assert "| rf_ecfp4 (baseline) | 0.640 ± 0.010 (3) | 0.690 ± 0.010 (3) |" in bbbp
    assert "<h2>Label efficiency</h2>" in (out / SUMMARY_HTML).read_text()
    (ax, _) = figures["label_curves.png"].axes
    assert ax.get_title() == "bbbp (scaffold)"
    assert [line.get_label() for line in ax.lines] == ["semmol", "infonce", "rf_ecfp4 (baseline)"]
    assert list(ax.lines[0].get_ydata()) == pytest.approx([0.67, 0.72])


def test_without_published_rows_or_pretraining(tmp_path, result_files, figures):
    out = tmp_path / "report"
    rows = aggregate(result_files, out_dir=out, include_published=False)
    assert {row.kind for row in rows} == {"pipeline", "baseline"}
    assert "(published)" not in (out / SUMMARY_MD).read_text()
    assert (out / PRETRAIN_PLOT).read_bytes().startswith(b"\x89PNG")
    assert [text.get_text() for text in figures["pretrain_curves.png"].texts] == ["no pretraining runs"]


def test_single_seed_unscored_seed_and_non_scaffold_split(tmp_path):
    files = [
        _result(tmp_path, "semmol", "bbbp", 0, 0.8, split="random"),
        _result(tmp_path, "semmol", "bbbp", 1, math.nan, split="random"),
    ]
    metrics = json.loads(files[1].read_text())
    files[1].write_text(json.dumps({**metrics, "test": None}))
    (row,) = summarize(load_results(files))  # published figures exist for scaffold splits only
    assert (row.mean, row.n, row.seeds) == (0.8, 1, (0,))
    assert math.isnan(row.std)


def test_two_files_for_one_seed_are_an_error(tmp_path):
    first = _result(tmp_path / "a", "semmol", "bbbp", 0, 0.7)
    second = _result(tmp_path / "b", "semmol", "bbbp", 0, 0.8)
    held = "both hold run 'semmol', benchmark 'bbbp', split 'scaffold', seed 0, label fraction 1.0"
    message = re.escape(f"{second} and {first} {held}")
    with pytest.raises(AggregateError, match=message):
        load_results([first, second])


def test_mixed_metrics_and_kinds_are_errors(tmp_path):
    good = _result(tmp_path / "a", "semmol", "bbbp", 0, 0.7)
    other = _result(tmp_path / "b", "infonce", "bbbp", 0, 1.2, metric="rmse")
    metrics = json.loads(other.read_text())
    other.write_text(json.dumps({**metrics, "task": "regression", "higher_is_better": False}))
    with pytest.raises(AggregateError, match="'bbbp' is scored with 'roc_auc' in .* but with 'rmse' in"):
        load_results([good, other])
    baseline = _result(tmp_path / "c", "semmol", "bbbp", 1, 0.7, kind="baseline")
    with pytest.raises(AggregateError, match="run 'semmol' is a pipeline in .* but a baseline in"):
        load_results([good, baseline])
    with pytest.raises(AggregateError, match="no metrics files"):
        load_results([])


def test_read_pretrain_log_checks_each_line(tmp_path, pretrain_log):
    entries = read_pretrain_log(pretrain_log)
    assert entries[0] == {"step": 1.0, "loss": 3.0, "loss_infonce": 2.0}
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"step": 1, "loss": 2.0}\n\n{"step": 2}\n')
    with pytest.raises(AggregateError, match=r"bad\.jsonl, line 3: key 'loss' missing"):
        read_pretrain_log(bad)
    bad.write_text('{"step": 1, "loss": "high"}\n')
    with pytest.raises(AggregateError, match=r"line 1: 'loss' is 'high', not a number"):
        read_pretrain_log(bad)
    bad.write_text("step,loss\n")
    with pytest.raises(AggregateError, match=r"line 1: not JSON"):
        read_pretrain_log(bad)


def test_center_library_plot_from_real_snapshots(tmp_path, result_files, figures):
    import torch

    from semmol.config import SemanticConfig
    from semmol.methods.semmol.objective import SemMolObjective

    cfg = SemanticConfig(n_centers=4, top_m=2, init_cache=8, warmup_updates=1, memory_bank_size=0)
    objective = SemMolObjective(cfg, dim=8, targets=["graph2d", "geom3d"], seed=0, total_steps=6)
    generator = torch.Generator().manual_seed(0)
    for step in range(6):

        def unit():
            return torch.nn.functional.normalize(torch.randn(8, 8, generator=generator), dim=1)

        keys = torch.arange(8 * step, 8 * step + 8)
        valid = torch.ones(8, dtype=torch.bool)
        objective(unit(), {"graph2d": (unit(), valid), "geom3d": (unit(), valid)}, keys, step)
        if step % 2:
            objective.save_snapshot(tmp_path / "centers" / f"step-{step + 1:06d}")
    out = tmp_path / "report"
    aggregate(result_files, out_dir=out, center_snapshots={"semmol": tmp_path / "centers"})
    assert drawn_share(out / CENTERS_PLOT) > 0.04
    usage, projection = figures["centers.png"].axes[:2]  # the first modality's line of panels
    assert [len(line.get_xdata()) for line in usage.lines] == [3, 3]  # the snapshots after steps 2, 4, 6
    assert len(projection.collections[0].get_offsets()) == 3 * 4  # every snapshot's 4 centers


def test_models_without_a_test_set_are_na_and_say_why(tmp_path, figures):
    """Split none: every seed's test is empty (null score, no test predictions)."""
    files = [
        _result(tmp_path / "in", run, "esol", seed, 1.0, split="none", test_rows=[])
        for run in ("semmol", "rf_ecfp4")
        for seed in (0, 1)
    ]
    for path in files:
        metrics = json.loads(path.read_text())
        path.write_text(json.dumps({**metrics, "test": None, "per_task_test": {"y": None}}))
    rows = aggregate(files, out_dir=tmp_path / "report")
    assert [(row.run, row.n, math.isnan(row.mean), math.isnan(row.ensemble)) for row in rows] == [
        ("semmol", 0, True, True),
        ("rf_ecfp4", 0, True, True),
    ]
    markdown = (tmp_path / "report" / SUMMARY_MD).read_text()
    assert "| esol | none | RMSE ↓ | n/a | n/a |" in markdown
    assert "Split none (and a split column without test rows) trains models for deployment" in markdown
    assert "for deployment" not in summary_markdown(summarize(load_results(_scored(tmp_path))))
    assert (tmp_path / "report" / METRICS_PLOT).read_bytes().startswith(b"\x89PNG")


def _scored(tmp_path):
    return [_result(tmp_path / "scored", "semmol", "esol", seed, 1.0 + seed) for seed in (0, 1)]


def test_multiclass_rows_name_their_metric_and_ensemble_the_class_probabilities(tmp_path):
    from semmol.evaluate.metrics import multiclass_scores
    from semmol.evaluate.records import write_result

    labels = np.array([[0.0], [1.0], [2.0], [1.0]])
    seeds = [  # class probabilities of the same four test molecules
        np.array([[0.5, 0.3, 0.2], [0.2, 0.3, 0.5], [0.1, 0.2, 0.7], [0.4, 0.5, 0.1]]),
        np.array([[0.3, 0.6, 0.1], [0.1, 0.8, 0.1], [0.3, 0.3, 0.4], [0.6, 0.2, 0.2]]),
    ]
    files = []
    for seed, proba in enumerate(seeds):
        part = (np.array([4, 7, 9, 12]), ["C"] * 4, labels, proba)
        out = tmp_path / f"semmol/rings/scaffold-{seed}"
        write_result(
            out, run="semmol", benchmark="rings", split_kind="scaffold", seed=seed, task="multiclass",
            targets=["rings"], subsets={"train": part, "valid": part, "test": part}, missing={}, seconds=1.0,
            classes=["acyclic", "one_ring", "polycyclic"],
        )  # fmt: skip
        files.append(out / "metrics.json")
    (row,) = summarize(load_results(files))
    expected, _, _ = multiclass_scores(labels, np.mean(seeds, axis=0))
    assert row.metric == "roc_auc_ovr" and row.ensemble == pytest.approx(expected)
    text = summary_markdown([row])
    assert "| rings | scaffold | ROC-AUC one-vs-rest ↑ |" in text and "over the classes present" in text


def test_a_few_shot_page_needs_no_fine_tuning_results(tmp_path):
    episodes = {"Cardiac disorders": {"mean": 0.75, "episodes": [0.7, 0.8]}}
    files = []
    for seed, row in enumerate(("metamm", "transfer")):
        path = tmp_path / f"{row}.json"
        record = {"row": row, "learner": "maml", "seed": seed, "per_task": episodes, "mean": 0.75}
        path.write_text(json.dumps({**record, "k_shot": 10, "query_size": 16}))
        files.append(path)
    out = tmp_path / "sider"
    assert aggregate([], out_dir=out, fewshot=files) == []
    assert sorted(p.name for p in out.iterdir()) == [FEWSHOT_CSV, SUMMARY_HTML, SUMMARY_MD]
    text = (out / SUMMARY_MD).read_text()
    assert text.startswith("## Few-shot") and "| metamm | maml | **0.750 (1)** | **0.750 (1)** |" in text
    with pytest.raises(AggregateError, match="no metrics files"):
        aggregate([], out_dir=out)
