from __future__ import annotations

import hashlib
import json
import subprocess
import sys

import pytest

from semmol.cli.main import main
from semmol.config import DatasetConfig, LocalSource, SplitConfig


@pytest.fixture
def downloaded(tmp_path, moleculenet_dir):
    """A download directory as the download stage leaves it: the first 80 BBBP records + manifest."""
    lines = (moleculenet_dir / "bbbp.csv").read_text().splitlines(keepends=True)[:81]
    data = tmp_path / "resources" / "BBBP.csv"
    data.parent.mkdir()
    data.write_text("".join(lines))
    sha256 = hashlib.sha256(data.read_bytes()).hexdigest()
    manifest = data.parent / "manifest.json"
    manifest.write_text(json.dumps({"file": data.name, "sha256": sha256, "rows": 80}))
    return manifest


def _dataset(**overrides) -> str:
    source = LocalSource(kind="local", path="unused")
    dataset = DatasetConfig(source=source, targets=["p_np"], task="classification", **overrides)
    return dataset.model_dump_json()


def _split_args(manifest, dataset: str, split: str, seed: int, out) -> list[str]:
    """The flags the workflow's split rule passes."""
    return [
        "split",
        "--name",
        "bbbp",
        "--manifest",
        str(manifest),
        "--dataset",
        dataset,
        "--split",
        split,
        "--seed",
        str(seed),
        "--out",
        str(out),
    ]


def test_split_end_to_end(downloaded, tmp_path):
    out = tmp_path / "results" / "splits" / "scaffold-3.json"
    split = SplitConfig().model_dump_json()
    main(_split_args(downloaded, _dataset(), split, 3, out))
    record = json.loads(out.read_text())
    manifest = json.loads(downloaded.read_text())
    assert record["source"] == {"file": "BBBP.csv", "sha256": manifest["sha256"]}
    assert record["kind"] == "scaffold" and record["seed"] == 3
    assert [entry["row"] for entry in record["dropped"]] == [59, 61]
    rows = record["train"] + record["valid"] + record["test"]
    assert sorted(rows) == sorted(set(range(80)) - {59, 61})
    assert record["sizes"] == {name: len(record[name]) for name in ("train", "valid", "test", "dropped")}
    assert len(record["train"]) <= 0.8 * 78 and len(record["train"]) + len(record["valid"]) <= 0.9 * 78


def test_split_uses_max_rows_and_kind(downloaded, tmp_path):
    out = tmp_path / "random-0.json"
    split = SplitConfig(kind="random", fractions=[0.6, 0.2, 0.2]).model_dump_json()
    main(_split_args(downloaded, _dataset(max_rows=30), split, 0, out))
    record = json.loads(out.read_text())
    assert record["kind"] == "random" and record["fractions"] == [0.6, 0.2, 0.2]
    assert record["sizes"] == {"train": 18, "valid": 6, "test": 6, "dropped": 0}


def test_misspelled_smiles_column_is_one_clean_line(downloaded, tmp_path):
    out = tmp_path / "split.json"
    args = _split_args(downloaded, _dataset(smiles_column="smile"), "{}", 0, out)
    result = subprocess.run(
        [sys.executable, "-m", "semmol", *args],
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("semmol split: error: ")
    assert "BBBP.csv: column 'smile' not found; did you mean 'smiles'?" in lines[0]
    assert not out.exists()


def test_too_small_a_benchmark_is_one_clean_line_naming_it(downloaded, tmp_path):
    out = tmp_path / "split.json"
    args = _split_args(downloaded, _dataset(max_rows=4), SplitConfig().model_dump_json(), 0, out)
    result = subprocess.run([sys.executable, "-m", "semmol", *args], capture_output=True, text=True)
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("semmol split: error: ")]
    assert len(errors) == 1 and result.stderr.strip().endswith(errors[0]), result.stderr
    assert (
        "benchmark 'bbbp' (" in errors[0] and "BBBP.csv): 4 parseable molecules (0 unparsable)" in errors[0]
    )
    assert "of train 3, valid 0, test 1; fine-tuning needs every subset" in errors[0]
    assert not out.exists()


def test_manifest_without_file_is_named(tmp_path):
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps({"sha256": "0"}))
    with pytest.raises(SystemExit, match="manifest.json: manifest lacks the data file name"):
        main(_split_args(manifest, _dataset(), "{}", 0, tmp_path / "out.json"))
