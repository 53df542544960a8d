"""``semmol baseline --kind chemprop``: chemprop's own command line on our split, scored by our metrics.

Needs the chemprop environment that ``make test`` installs (``.venv-chemprop``, chemprop 2.3.1).
"""

from __future__ import annotations

import json
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


def test_bench_finetune_ratio_times_both_on_one_split(tiny_benchmark, capsys):
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
          "--chemprop", str(CHEMPROP), "--epochs", "1"])  # fmt: skip
    line = capsys.readouterr().out.strip().splitlines()[-1]
    ours, theirs, ratio = (float(cell) for cell in line.split("|")[2:5])
    assert ours > 0
    # on a few dozen molecules chemprop's start-up noise may swamp 6 epochs: then NaN, never a bogus figure
    assert (theirs > 0 and ratio == pytest.approx(ours / theirs, rel=1e-2)) or (
        np.isnan(theirs) and np.isnan(ratio)
    )
