from __future__ import annotations

import json

import pytest

from semmol.evaluate.probe_report import geometry_markdown, probe_curves, probe_markdown, probe_table


def _write(directory, *, run: str, seed: int, pretrained: float, ecfp: float, geometry=None) -> str:
    rows = [
        {"features": "pretrained", "probe": "linear", "test": pretrained},
        {"features": "random_init", "probe": "linear", "test": 0.5},
        {"features": "ecfp4", "probe": "linear", "test": ecfp},
    ]
    path = directory / f"{run}-{seed}.json"
    result = {"run": run, "benchmark": "bbbp", "split": "scaffold", "seed": seed, "metric": "roc_auc"}
    path.write_text(json.dumps({**result, "rows": rows, **({"geometry": geometry} if geometry else {})}))
    return str(path)


def test_encoder_rows_are_per_run_and_fingerprint_rows_count_each_seed_once(tmp_path):
    paths = [
        _write(tmp_path, run=run, seed=seed, pretrained=score + seed / 100, ecfp=0.7 + seed / 100)
        for run, score in (("semmol", 0.8), ("infonce", 0.6))
        for seed in (0, 1)
    ]
    metrics, rows = probe_table(paths)
    assert metrics == {"bbbp": "roc_auc"}
    assert sorted(rows) == [
        ("ECFP4", "linear"),
        ("infonce pretrained", "linear"),
        ("infonce random init", "linear"),
        ("semmol pretrained", "linear"),
        ("semmol random init", "linear"),
    ]
    assert rows[("semmol pretrained", "linear")]["bbbp"] == [0.8, 0.81]
    assert rows[("ECFP4", "linear")]["bbbp"] == [0.7, 0.71]  # two seeds, not four files
    table = probe_markdown(metrics, rows)
    assert "| semmol pretrained | linear | 0.805 ± 0.007 (2) |" in table
    assert "ROC-AUC ↑" in table


def test_a_result_given_twice_is_an_error(tmp_path):
    path = _write(tmp_path, run="semmol", seed=0, pretrained=0.8, ecfp=0.7)
    with pytest.raises(ValueError, match="given twice"):
        probe_table([path, path])


def test_label_fractions_are_rows_of_their_own(tmp_path):
    path = tmp_path / "semmol-0.json"
    rows = [
        {"label_fraction": fraction, "features": "ecfp4", "probe": "knn", "test": test}
        for fraction, test in ((0.1, 0.6), (1.0, 0.7))
    ]
    result = {"run": "semmol", "benchmark": "bbbp", "split": "scaffold", "seed": 0, "metric": "roc_auc"}
    path.write_text(json.dumps({**result, "rows": rows}))
    _, table = probe_table([path])
    assert table == {
        ("ECFP4, 10% of train labels", "knn"): {"bbbp": [0.6]},
        ("ECFP4", "knn"): {"bbbp": [0.7]},
    }


def test_label_efficiency_curves_per_benchmark_and_probe(tmp_path):
    paths = []
    for seed in (0, 1):
        path = tmp_path / f"semmol-{seed}.json"
        rows = [
            {"label_fraction": fraction, "features": features, "probe": "linear", "test": test + seed / 100}
            for fraction in (0.05, 0.5, 1.0)
            for features, test in (("pretrained", fraction), ("ecfp4", 0.6))
        ]
        result = {"run": "semmol", "benchmark": "bbbp", "split": "scaffold", "seed": seed, "metric": "roc_auc"}
        path.write_text(json.dumps({**result, "rows": rows}))
        paths.append(path)
    metrics, curves = probe_curves(paths)
    assert metrics == {"bbbp": "roc_auc"}
    assert list(curves) == [("bbbp", "linear")]
    semmol = curves[("bbbp", "linear")]["semmol pretrained"]
    assert list(semmol) == [0.05, 0.5, 1.0]
    assert semmol[0.5] == pytest.approx([0.5, 0.51])
    assert curves[("bbbp", "linear")]["ECFP4"][0.05] == pytest.approx([0.6, 0.61])


def test_geometry_table_averages_seeds_and_is_empty_without_geometry(tmp_path):
    def geometry(rank: float) -> dict:
        return {
            "pretrained": {"effective_rank": rank, "mean_cosine": 0.9, "constant_dims": 0, "dim": 4},
            "random_init": {"effective_rank": 3.0, "mean_cosine": 0.5, "constant_dims": 0, "dim": 4},
        }

    paths = [
        _write(tmp_path, run="semmol", seed=seed, pretrained=0.8, ecfp=0.7, geometry=geometry(1.0 + seed))
        for seed in (0, 1)
    ]
    table = geometry_markdown(paths)
    assert "| semmol pretrained | 1.5 / 0.90 |" in table
    assert "| semmol random init | 3.0 / 0.50 |" in table
    assert geometry_markdown([_write(tmp_path, run="old", seed=0, pretrained=0.8, ecfp=0.7)]) == ""
