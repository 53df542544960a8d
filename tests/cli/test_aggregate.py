from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from semmol.cli.main import main
from semmol.evaluate.records import KIND_BASELINE, write_result

from ..conftest import drawn_share


def _result(root, run, seed, *, kind="pipeline", history=None):
    """A real result directory for a two-molecule-per-subset regression benchmark."""
    rng = np.random.default_rng(seed)
    subsets = {
        name: (np.array([2 * i, 2 * i + 1]), ["CCO", "CCN"], rng.normal(size=(2, 1)), rng.normal(size=(2, 1)))
        for i, name in enumerate(("train", "valid", "test"))
    }
    out_dir = root / run / "esol" / f"scaffold-{seed}"
    write_result(
        out_dir,
        run=run,
        benchmark="esol",
        split_kind="scaffold",
        seed=seed,
        task="regression",
        targets=["logS"],
        subsets=subsets,
        missing={},
        seconds=0.1,
        history=history,
        kind=kind,
    )
    return out_dir / "metrics.json"


def test_aggregate_command_writes_table_and_plots(tmp_path, figures):
    history = [{"epoch": epoch, "train_loss": 1.0, "valid": 1.5 - 0.1 * epoch} for epoch in range(3)]
    files = [_result(tmp_path, "semmol", seed, history=history) for seed in (0, 1)]
    files.append(_result(tmp_path, "rf_ecfp4", 0, kind=KIND_BASELINE))
    log = tmp_path / "metrics.jsonl"
    log.write_text(json.dumps({"step": 1, "loss": 2.0, "loss_recon": 1.0}) + "\n")
    out = tmp_path / "results/report"

    main(["aggregate", "--out-dir", str(out), "--pretrain-metrics", f"semmol={log}", *map(str, files)])

    for name in ("summary.csv", "summary.md", "summary.html"):
        assert (out / name).stat().st_size > 0, name
    for name in ("plots/metrics.png", "plots/finetune_curves.png", "plots/pretrain_curves.png"):
        assert drawn_share(out / name) > 0.04, name  # more than bare axes
    (metrics,) = figures["metrics.png"].axes
    assert len(metrics.collections[0].get_offsets()) == 2  # semmol's seeds
    assert [line.get_label() for line in metrics.lines] == [
        "rf_ecfp4 (baseline)",
        "chemprop D-MPNN (published)",
        "Uni-Mol (published)",
    ]
    (curves,) = figures["finetune_curves.png"].axes
    assert [line.get_label() for line in curves.lines] == ["semmol seed 0", "semmol seed 1"]
    (pretrain,) = figures["pretrain_curves.png"].axes
    assert [line.get_label() for line in pretrain.lines] == ["loss", "loss_recon"]
    with open(out / "summary.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [(row["run"], row["kind"]) for row in rows] == [
        ("semmol", "pipeline"),
        ("rf_ecfp4", "baseline"),
        ("chemprop D-MPNN", "published"),
        ("Uni-Mol", "published"),
    ]
    tests = [json.loads(path.read_text())["test"] for path in files[:2]]
    assert float(rows[0]["mean"]) == pytest.approx(np.mean(tests))
    assert float(rows[0]["std"]) == pytest.approx(np.std(tests, ddof=1))

    main(["aggregate", "--out-dir", str(out), "--no-published", *map(str, files)])
    assert "(published)" not in (out / "summary.md").read_text()


def test_aggregate_command_adds_the_probes_table(tmp_path):
    files = [_result(tmp_path, "semmol", seed) for seed in (0, 1)]
    probes = []
    for seed in (0, 1):
        path = tmp_path / f"probe/semmol/esol/scaffold-{seed}/metrics.json"
        path.parent.mkdir(parents=True)
        rows = [{"features": "pretrained", "probe": "knn", "test": 1.0 + seed}]
        result = {"run": "semmol", "benchmark": "esol", "split": "scaffold", "seed": seed, "metric": "rmse"}
        path.write_text(json.dumps({**result, "rows": rows}))
        probes += ["--probe-metrics", str(path)]
    out = tmp_path / "report"

    main(["aggregate", "--out-dir", str(out), "--no-published", *probes, *map(str, files)])

    summary = (out / "summary.md").read_text()
    assert "## Probes" in summary and "| semmol pretrained | knn | 1.500 ± 0.707 (2) |" in summary
    assert "Probes" in (out / "summary.html").read_text()


def _dataset_dir(directory, *, accepted):
    """A dataset directory whose stage reports say ``accepted`` of 12 records were kept."""
    (directory / "shards").mkdir(parents=True)
    report = {"records": 12, "accepted": accepted, "rejected_records": 12 - accepted, "bad_label_cells": 0}
    statuses = {"ok": accepted - 1, "mmff_failed": 0, "embed_failed": 0, "timeout": 1}
    (directory / "standardize.json").write_text(json.dumps(report))
    (directory / "shards/manifest.json").write_text(json.dumps({"molecules": accepted, "statuses": statuses}))
    return directory


def test_aggregate_command_writes_the_data_table(tmp_path, capsys):
    files = [_result(tmp_path, "semmol", seed) for seed in (0, 1)]
    esol = _dataset_dir(tmp_path / "data/esol", accepted=10)
    out = tmp_path / "report"

    main(["aggregate", "--out-dir", str(out), "--dataset-report", f"esol={esol}", *map(str, files)])

    assert "| esol | 12 | 10 | 2 | 0 | 1 (10.0%) | – |" in (out / "summary.md").read_text()
    with open(out / "data.csv", newline="") as handle:
        (row,) = csv.DictReader(handle)
    assert (row["dataset"], row["accepted"], row["no_conformer"]) == ("esol", "10", "1")

    args = ["aggregate", "--out-dir", str(out)]
    with pytest.raises(SystemExit, match=r"--dataset-report names dataset\(s\) \['esol'\] more than once"):
        main([*args, "--dataset-report", f"esol={esol}", "--dataset-report", f"esol={esol}", str(files[0])])
    with pytest.raises(SystemExit, match="standardize.json: not found"):
        main([*args, "--dataset-report", f"esol={tmp_path}", str(files[0])])
    with pytest.raises(SystemExit):
        main([*args, "--dataset-report", str(esol), str(files[0])])
    assert f"expected NAME=PATH, got '{esol}'" in capsys.readouterr().err


def test_aggregate_command_reports_inconsistent_inputs(tmp_path):
    first = _result(tmp_path / "a", "semmol", 0)
    second = _result(tmp_path / "b", "semmol", 0)
    with pytest.raises(SystemExit, match="semmol aggregate: error: .* both hold run 'semmol'"):
        main(["aggregate", "--out-dir", str(tmp_path / "out"), str(first), str(second)])
    out = ["--out-dir", str(tmp_path / "out")]
    with pytest.raises(SystemExit, match=r"--pretrain-metrics names run\(s\) \['x'\] more than once"):
        main(["aggregate", *out, "--pretrain-metrics", "x=a", "--pretrain-metrics", "x=b", str(first)])
    with pytest.raises(SystemExit, match="pretraining metrics file not found"):
        main(["aggregate", *out, "--pretrain-metrics", f"x={tmp_path}/no.jsonl", str(first)])
