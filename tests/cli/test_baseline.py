from __future__ import annotations

import json

import polars as pl
import pytest

from semmol.cli.main import main

from ..conftest import RING_CLASSES

#: Alcohols (label 1) and alkanes (label 0): canonical SMILES an ECFP4 forest separates.
MOLECULES = [("C" * k + "O", 1.0) for k in range(1, 13)] + [("C" * k, 0.0) for k in range(2, 14)]
DATASET = json.dumps(
    {"source": {"kind": "local", "path": "unused"}, "targets": ["alcohol"], "task": "classification"}
)
OPTIONS = json.dumps({"n_estimators": 20, "ecfp_radius": 2, "ecfp_bits": 256})


@pytest.fixture
def inputs(tmp_path):
    molecules, split = tmp_path / "molecules.parquet", tmp_path / "scaffold-4.json"
    pl.DataFrame(
        {
            "row": list(range(len(MOLECULES))),
            "smiles_input": [smiles for smiles, _ in MOLECULES],
            "smiles": [smiles for smiles, _ in MOLECULES],
            "duplicate_of": pl.Series([None] * len(MOLECULES), dtype=pl.Int64),
            "alcohol": [label for _, label in MOLECULES],
        }
    ).write_parquet(molecules)
    rows = list(range(len(MOLECULES)))
    subsets = {"train": rows[::2], "valid": rows[1::4], "test": rows[3::4]}
    split.write_text(json.dumps({"kind": "scaffold", "seed": 4, **subsets}))
    return molecules, split


def _argv(molecules, split, out_dir, *, dataset=DATASET):
    return [
        "baseline",
        *("--molecules", str(molecules), "--split", str(split)),
        *("--dataset", dataset, "--options", OPTIONS),
        *("--benchmark", "alcohols", "--seed", "4", "--out-dir", str(out_dir), "--threads", "1"),
    ]


def test_baseline_command_writes_the_result_directory(tmp_path, inputs):
    out_dir = tmp_path / "results/baseline/rf_ecfp4/alcohols/scaffold-4"
    main(_argv(*inputs, out_dir))
    metrics = json.loads((out_dir / "metrics.json").read_text())
    assert (metrics["run"], metrics["benchmark"], metrics["split"], metrics["seed"]) == (
        "rf_ecfp4",
        "alcohols",
        "scaffold",
        4,
    )
    assert metrics["test"] == 1.0 and metrics["baseline"]["n_estimators"] == 20
    assert pl.read_parquet(out_dir / "predictions.parquet").height == len(MOLECULES)


def test_baseline_command_reports_bad_input_in_one_line(tmp_path, inputs, capsys):
    wrong_target = DATASET.replace('"alcohol"', '"alcohols"')
    message = r"semmol baseline: error: .*molecules\.parquet: column 'alcohols' not found"
    with pytest.raises(SystemExit, match=message):
        main(_argv(*inputs, tmp_path / "out", dataset=wrong_target))
    with pytest.raises(SystemExit):
        main(_argv(*inputs, tmp_path / "out", dataset='{"targets": ["alcohol"]}'))
    assert "invalid DatasetConfig" in capsys.readouterr().err


def test_baseline_and_aggregate_commands_on_a_multiclass_benchmark(tmp_path, multiclass_molecules):
    molecules, split = multiclass_molecules["molecules"], multiclass_molecules["split"]
    out_dir = tmp_path / "results/baseline/rf_ecfp4/rings/random-0"
    main(
        [
            "baseline",
            *("--molecules", str(molecules), "--split", str(split), "--options", OPTIONS),
            *("--dataset", multiclass_molecules["dataset"].model_dump_json()),
            *("--benchmark", "rings", "--seed", "0", "--out-dir", str(out_dir), "--threads", "1"),
        ]
    )
    metrics = json.loads((out_dir / "metrics.json").read_text())
    assert (metrics["metric"], metrics["classes"]) == ("roc_auc_ovr", RING_CLASSES)
    assert metrics["test"] > 0.8 and metrics["accuracy"]["test"] > 0.6  # ECFP4 bits see ring atoms
    predictions = pl.read_parquet(out_dir / "predictions.parquet")
    probabilities = [f"rings__prob_{name}" for name in RING_CLASSES]
    assert predictions.columns == ["row", "subset", "smiles", "rings", "rings__pred", *probabilities]
    assert predictions.height == 300
    main(["aggregate", "--out-dir", str(tmp_path / "report"), str(out_dir / "metrics.json")])
    summary = (tmp_path / "report/summary.md").read_text()
    assert f"| rings | random | ROC-AUC one-vs-rest ↑ | {metrics['test']:.3f} (1) |" in summary


def test_chemprop_refuses_a_multiclass_benchmark_in_one_line(tmp_path, multiclass_molecules):
    molecules, split = multiclass_molecules["molecules"], multiclass_molecules["split"]
    dataset = multiclass_molecules["dataset"].model_dump_json()
    argv = _argv(molecules, split, tmp_path / "out", dataset=dataset)
    argv[argv.index("--options") + 1] = json.dumps({"chemprop": {"command": "chemprop"}})
    message = r"semmol baseline: error: benchmark 'alcohols': the chemprop baseline does not handle multi"
    with pytest.raises(SystemExit, match=message):
        main([*argv, "--kind", "chemprop"])


def test_the_forest_learns_from_a_label_fraction_split_and_records_its_share(tmp_path, inputs):
    molecules, split = inputs
    cut = tmp_path / "scaffold-labels0.5-4.json"
    main(
        [
            *("label-fraction", "--split", str(split), "--molecules", str(molecules)),
            *("--fraction", "0.5", "--out", str(cut)),
        ]
    )
    out_dir = tmp_path / "results/baseline/rf_ecfp4/alcohols/scaffold-labels0.5-4"
    main(_argv(molecules, cut, out_dir))
    metrics = json.loads((out_dir / "metrics.json").read_text())
    whole = json.loads(split.read_text())
    assert metrics["label_fraction"] == 0.5 and metrics["split"] == "scaffold"
    assert metrics["n"] == {"train": 6, "valid": len(whole["valid"]), "test": len(whole["test"])}
    predictions = pl.read_parquet(out_dir / "predictions.parquet")
    trained = predictions.filter(pl.col("subset") == "train")["row"].to_list()
    assert trained == json.loads(cut.read_text())["train"]
