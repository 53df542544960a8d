"""``semmol baseline --kind chemprop``: chemprop's own command line on our split, scored by our metrics.

The baseline's test needs the chemprop environment that ``make test`` installs (``.venv-chemprop``,
chemprop 2.3.1); the bench's tests time a fake chemprop whose cost per epoch is known, or a second job.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from semmol.cli.main import main

from ..conftest import ESOL_TARGET

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
CHEMPROP = ROOT / ".venv-chemprop" / "bin" / "chemprop"


def baseline(tiny_benchmark, out: Path, *, command: str, seed: int = 0) -> None:
    dataset = {
        "source": {"kind": "local", "path": "esol.csv"},
        "targets": [ESOL_TARGET],
        "task": "regression",
    }
    options = {"chemprop": {"command": command, "epochs": 3}}
    main(["baseline", "--kind", "chemprop", "--molecules", str(tiny_benchmark["molecules"]),
          "--split", str(tiny_benchmark["split"]), "--dataset", json.dumps(dataset),
          "--options", json.dumps(options), "--benchmark", "esol", "--seed", str(seed),
          "--out-dir", str(out)])  # fmt: skip


def test_chemprop_trains_on_our_split_and_is_scored_like_every_row(tiny_benchmark, tmp_path):
    assert CHEMPROP.exists(), f"{CHEMPROP} missing: `make chemprop` installs it (make test does)"
    baseline(tiny_benchmark, tmp_path / "a", command=str(CHEMPROP))
    metrics = json.loads((tmp_path / "a/metrics.json").read_text())
    split = json.loads(tiny_benchmark["split"].read_text())
    assert (metrics["run"], metrics["kind"], metrics["metric"]) == ("chemprop", "baseline", "rmse")
    assert metrics["n"] == {name: split["sizes"][name] for name in ("train", "valid", "test")}
    assert np.isfinite(metrics["test"])
    assert metrics["baseline"]["chemprop"]["epochs"] == 3
    predictions = pl.read_parquet(tmp_path / "a/predictions.parquet")
    test = predictions.filter(pl.col("subset") == "test")
    assert sorted(test["row"].to_list()) == sorted(split["test"])
    assert np.isfinite(predictions[f"{ESOL_TARGET}__pred"].to_numpy()).all()
    # the test score is our RMSE of chemprop's predictions of the test molecules
    errors = test[f"{ESOL_TARGET}__pred"].to_numpy() - test[ESOL_TARGET].to_numpy()
    assert metrics["test"] == pytest.approx(float(np.sqrt(np.mean(errors**2))))
    # chemprop trained on our train subset only: its saved split lists our train molecules
    (chemprop_split,) = json.loads((tmp_path / "a/chemprop/model/splits.json").read_text())
    assert len(chemprop_split["train"]) == split["sizes"]["train"]
    # the same seed gives the same model on the CPU
    baseline(tiny_benchmark, tmp_path / "b", command=str(CHEMPROP))
    assert json.loads((tmp_path / "b/metrics.json").read_text())["test"] == metrics["test"]


def test_a_missing_chemprop_names_the_fix(tiny_benchmark, tmp_path):
    with pytest.raises(SystemExit, match=r"chemprop executable 'no-such-chemprop' not found.*make chemprop"):
        baseline(tiny_benchmark, tmp_path, command="no-such-chemprop")


#: A stand-in for chemprop's command line whose training takes a known time: FAKE_CHEMPROP_SECONDS
#: "start,per_epoch" seconds; its predictions are the labels. The bench's per-epoch figure is then
#: known, where real chemprop's start-up noise on a few dozen molecules can swamp it.
FAKE_CHEMPROP = """\
import csv, os, sys, time
from pathlib import Path

command, args = sys.argv[1], sys.argv[2:]
option = lambda name: args[args.index(name) + 1]
if command == "train":
    start, per_epoch = map(float, os.environ["FAKE_CHEMPROP_SECONDS"].split(","))
    time.sleep(max(0.0, start + per_epoch * int(option("--epochs"))))
    Path(option("--output-dir"), "model_0").mkdir(parents=True)
else:
    with open(option("--test-path"), newline="") as handle:
        rows = list(csv.DictReader(handle))
    targets = [column for column in rows[0] if column.startswith("target_")]
    with open(option("--preds-path"), "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["smiles", *targets])
        writer.writerows([row["smiles"], *(row[t] or "0" for t in targets)] for row in rows)
"""


def bench_finetune_ratio(tiny_benchmark, tmp_path, monkeypatch, capsys, *, chemprop_seconds: str):
    """``semmol bench finetune-ratio`` against the fake chemprop: semmol's seconds per epoch,
    chemprop's, and their ratio."""
    fake = tmp_path / "chemprop"
    fake.write_text(f"#!{sys.executable}\n{FAKE_CHEMPROP}")
    fake.chmod(0o755)
    monkeypatch.setenv("FAKE_CHEMPROP_SECONDS", chemprop_seconds)
    dataset = {
        "source": {"kind": "local", "path": "esol.csv"},
        "targets": [ESOL_TARGET],
        "task": "regression",
    }
    job = {
        "dataset": dataset,
        "model": {"graph2d": {"name": "dmpnn", "dim": 32}},
        "finetune": {"modalities": ["graph2d"]},
    }
    main(["bench", "finetune-ratio", "--job", json.dumps(job), "--molecules", str(tiny_benchmark["molecules"]),
          "--shards-manifest", str(tiny_benchmark["manifest"]), "--split", str(tiny_benchmark["split"]),
          "--chemprop", str(fake), "--epochs", "1"])  # fmt: skip
    line = capsys.readouterr().out.strip().splitlines()[-1]
    ours, theirs, ratio = (float(cell) for cell in line.split("|")[2:5])
    return ours, theirs, ratio


def test_bench_finetune_ratio_times_both_on_one_split(tiny_benchmark, tmp_path, monkeypatch, capsys):
    # 2 s to start, 0.5 s per epoch: the start-up is left out of chemprop's per-epoch time
    ours, theirs, ratio = bench_finetune_ratio(
        tiny_benchmark, tmp_path, monkeypatch, capsys, chemprop_seconds="2.0,0.5"
    )
    assert ours > 0 and theirs == pytest.approx(0.5, rel=0.2)
    assert ratio == pytest.approx(ours / theirs, rel=1e-2)


def test_bench_finetune_ratio_is_nan_where_chemprop_s_epochs_cost_nothing(
    tiny_benchmark, tmp_path, monkeypatch, capsys
):
    # more epochs ran faster (start-up noise beyond the epochs' cost): NaN, never a bogus figure
    ours, theirs, ratio = bench_finetune_ratio(
        tiny_benchmark, tmp_path, monkeypatch, capsys, chemprop_seconds="2.0,-0.2"
    )
    assert ours > 0 and np.isnan(theirs) and np.isnan(ratio)


def test_bench_finetune_ratio_times_a_job_against_a_reference_job(tiny_benchmark, capsys):
    dataset = {
        "source": {"kind": "local", "path": "esol.csv"},
        "targets": [ESOL_TARGET],
        "task": "regression",
    }

    def job(dim: int) -> str:
        model = {"graph2d": {"name": "dmpnn", "dim": dim}}
        return json.dumps({"dataset": dataset, "model": model, "finetune": {"modalities": ["graph2d"]}})

    main(["bench", "finetune-ratio", "--job", job(32), "--reference-job", job(16), "--max-ratio", "3",
          "--molecules", str(tiny_benchmark["molecules"]),
          "--shards-manifest", str(tiny_benchmark["manifest"]), "--split", str(tiny_benchmark["split"]),
          "--chemprop", "/nonexistent/chemprop", "--epochs", "1"])  # fmt: skip
    cells = [cell.strip() for cell in capsys.readouterr().out.strip().splitlines()[-1].split("|")[1:-1]]
    figure, ours, theirs, ratio, target = cells
    assert figure == "finetune: s per epoch, job vs reference job (same split)" and target == "<= 3.0"
    assert float(ours) > 0 and float(theirs) > 0
    assert float(ratio) == pytest.approx(float(ours) / float(theirs), rel=1e-2)
