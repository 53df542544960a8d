"""``semmol probe`` on the tiny ESOL benchmark with the few-step pretrained model."""

from __future__ import annotations

import json

import pytest

from semmol.cli.main import main
from semmol.evaluate.probe import PROBES
from semmol.evaluate.probe_stage import FEATURE_SETS

from ..conftest import ESOL_TARGET

pytestmark = pytest.mark.slow


ESOL_DATASET = json.dumps(
    {"source": {"kind": "local", "path": "esol.csv"}, "targets": [ESOL_TARGET], "task": "regression"}
)


def test_probe_writes_one_row_per_label_fraction_feature_set_and_probe(
    pretrained_dir, tiny_benchmark, tmp_path
):
    dataset = ESOL_DATASET
    out_dir = tmp_path / "results/probe/semmol/esol/scaffold-0"
    main(
        [
            "probe",
            *("--model", str(pretrained_dir / "model.pt"), "--molecules", str(tiny_benchmark["molecules"])),
            *("--shards-manifest", str(tiny_benchmark["manifest"]), "--split", str(tiny_benchmark["split"])),
            *("--dataset", dataset, "--modalities", "smiles", "graph2d", "fingerprint"),
            *("--name", "semmol", "--benchmark", "esol", "--seed", "0", "--out-dir", str(out_dir)),
            *("--label-fractions", "0.5", "1"),
        ]
    )
    metrics = json.loads((out_dir / "metrics.json").read_text())
    assert (metrics["run"], metrics["benchmark"], metrics["split"], metrics["seed"]) == (
        "semmol",
        "esol",
        "scaffold",
        0,
    )
    # The pretrained model has no fingerprint encoder: only the views it pretrained are probed.
    assert metrics["views"] == ["smiles", "graph2d"] and metrics["metric"] == "rmse"
    assert [(row["label_fraction"], row["features"], row["probe"]) for row in metrics["rows"]] == [
        (fraction, features, probe)
        for fraction in (0.5, 1.0)
        for features in FEATURE_SETS
        for probe in PROBES
    ]
    dims = {row["features"]: row["dim"] for row in metrics["rows"]}
    assert dims["pretrained"] == dims["random_init"] == 2 * 16 and dims["ecfp4"] == 2048
    assert all(row["test"] > 0 for row in metrics["rows"])
    assert sorted(metrics["geometry"]) == ["pretrained", "random_init"]
    assert all(1.0 <= g["effective_rank"] <= 2 * 16 and g["dim"] == 2 * 16 for g in metrics["geometry"].values())


def test_probe_refuses_a_multiclass_benchmark_in_one_line(multiclass_molecules, tmp_path):
    molecules, split = multiclass_molecules["molecules"], multiclass_molecules["split"]
    message = r"semmol probe: error: benchmark 'rings': the probe stage does not handle multiclass targets"
    with pytest.raises(SystemExit, match=message):  # before any model or shard is read
        main(
            [
                "probe",
                *("--model", str(tmp_path / "model.pt"), "--molecules", str(molecules)),
                *("--split", str(split), "--shards-manifest", str(tmp_path / "manifest.json")),
                *("--dataset", multiclass_molecules["dataset"].model_dump_json(), "--modalities", "graph2d"),
                *("--name", "semmol", "--benchmark", "rings", "--seed", "0"),
                *("--out-dir", str(tmp_path / "out")),
            ]
        )


def test_fingerprints_alone_need_no_model_and_match_the_full_probe(pretrained_dir, tiny_benchmark, tmp_path):
    dataset = ESOL_DATASET
    common = [
        *("--molecules", str(tiny_benchmark["molecules"]), "--shards-manifest", str(tiny_benchmark["manifest"])),
        *("--split", str(tiny_benchmark["split"]), "--dataset", dataset, "--benchmark", "esol", "--seed", "0"),
    ]
    main(["probe", *common, "--features", "ecfp4", "rdkit2d", "--out-dir", str(tmp_path / "fingerprints")])
    main(
        [
            "probe",
            *common,
            *("--model", str(pretrained_dir / "model.pt"), "--modalities", "graph2d", "--name", "semmol"),
            *("--out-dir", str(tmp_path / "full")),
        ]
    )
    alone = json.loads((tmp_path / "fingerprints/metrics.json").read_text())
    full = json.loads((tmp_path / "full/metrics.json").read_text())
    assert alone["run"] is None and alone["views"] == [] and alone["geometry"] == {}
    assert alone["rows"] == [row for row in full["rows"] if row["features"] in ("ecfp4", "rdkit2d")]


def test_encoder_feature_sets_without_a_model_are_refused_in_one_line(tiny_benchmark, tmp_path):
    with pytest.raises(SystemExit, match=r"semmol probe: error: feature sets \['random_init'\] need --model"):
        main(
            [
                "probe",
                *("--molecules", str(tiny_benchmark["molecules"]), "--split", str(tiny_benchmark["split"])),
                *("--shards-manifest", str(tiny_benchmark["manifest"]), "--dataset", ESOL_DATASET),
                *("--benchmark", "esol", "--seed", "0", "--features", "random_init", "ecfp4"),
                *("--out-dir", str(tmp_path / "out")),
            ]
        )


def test_the_random_init_rows_are_stored_once_and_read_by_a_run_of_the_same_architecture(
    pretrained_dir, tiny_benchmark, tmp_path
):
    store = tmp_path / "results/probe_random_init"

    def probe(name: str, seed: str = "0", *, stored: bool = True) -> dict:
        out_dir = tmp_path / name / seed / str(stored)
        main(
            [
                "probe",
                *("--model", str(pretrained_dir / "model.pt"), "--molecules", str(tiny_benchmark["molecules"])),
                *("--shards-manifest", str(tiny_benchmark["manifest"]), "--split", str(tiny_benchmark["split"])),
                *("--dataset", ESOL_DATASET, "--modalities", "graph2d", "--name", name, "--benchmark", "esol"),
                *("--seed", seed, "--label-fractions", "0.5", "1", "--features", "pretrained", "random_init"),
                *("--out-dir", str(out_dir), *(("--random-init-store", str(store)) if stored else ())),
            ]
        )
        return json.loads((out_dir / "metrics.json").read_text())

    first, computed = probe("semmol"), probe("semmol", stored=False)
    assert first["rows"] == computed["rows"] and first["geometry"] == computed["geometry"]
    (entry,) = store.glob("*.json")
    # mark the stored rows, so that a run reading them shows it
    kept = json.loads(entry.read_text())
    for row in kept["rows"]:
        row["test"] = 123.0
    entry.write_text(json.dumps(kept))

    second = probe("semmol_other_pretraining")
    assert [(r["label_fraction"], r["features"], r["probe"]) for r in second["rows"]] == [
        (r["label_fraction"], r["features"], r["probe"]) for r in first["rows"]
    ]
    assert [r for r in second["rows"] if r["features"] == "pretrained"] == [
        r for r in first["rows"] if r["features"] == "pretrained"
    ]
    assert {r["test"] for r in second["rows"] if r["features"] == "random_init"} == {123.0}
    assert second["geometry"] == first["geometry"]
    probe("semmol", seed="1")  # another seed, other fresh weights: an entry of its own
    assert len(list(store.glob("*.json"))) == 2
