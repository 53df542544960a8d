from __future__ import annotations

import json
import subprocess
import sys

import polars as pl
import pytest

from semmol.cli.main import main
from semmol.config import DatasetConfig, LocalSource, StandardizeConfig

TABLE = "smiles,activity\nCCO,1\nC1CC,0\n[Na+].CC(=O)[O-],0\nC,1\nOCC,1\nc1ccccc1,active\nCCN,\n"


@pytest.fixture
def downloaded(tmp_path):
    """A download directory as the download stage leaves it: the table and its manifest.json."""
    data = tmp_path / "resources" / "mols.csv"
    data.parent.mkdir()
    data.write_text(TABLE)
    manifest = data.parent / "manifest.json"
    manifest.write_text(json.dumps({"name": "mols", "file": data.name, "rows": 7}))
    return manifest


def _dataset(**overrides) -> str:
    fields = {"targets": ["activity"], "task": "classification", "label_map": {"active": 1}} | overrides
    return DatasetConfig(source=LocalSource(kind="local", path="unused"), **fields).model_dump_json()


def _args(manifest, out_dir, *, dataset: str, options: str = "{}", benchmark: bool = True) -> list[str]:
    """The flags the workflow's standardize rule passes."""
    flags = ["standardize", "--manifest", str(manifest), "--dataset", dataset, "--options", options]
    return [*flags, *(["--benchmark"] if benchmark else []), "--out-dir", str(out_dir)]


def _semmol(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "semmol", *args], capture_output=True, text=True, check=False
    )


def test_benchmark_end_to_end(downloaded, tmp_path):
    out_dir = tmp_path / "results" / "data" / "mols"
    main(_args(downloaded, out_dir, dataset=_dataset(), options=StandardizeConfig().model_dump_json()))
    molecules = pl.read_parquet(out_dir / "molecules.parquet")
    rejected = pl.read_parquet(out_dir / "rejected.parquet")
    report = json.loads((out_dir / "standardize.json").read_text())
    assert molecules.get_column("row").to_list() == [0, 2, 3, 4, 5]
    assert molecules.get_column("smiles").to_list() == ["CCO", "CC(=O)[O-]", "C", "CCO", "c1ccccc1"]
    assert molecules.get_column("duplicate_of").to_list() == [None, None, None, 0, None]
    assert molecules.get_column("activity").to_list() == [1.0, 0.0, 1.0, 1.0, 1.0]
    assert rejected.select("row", "column").rows() == [(1, "smiles"), (6, "activity")]
    assert report["source"].endswith("mols.csv")
    assert report["records"] == 7 == molecules.height + rejected.get_column("row").n_unique()


def test_corpus_end_to_end(downloaded, tmp_path):
    out_dir = tmp_path / "corpus"
    options = StandardizeConfig(neutralize=True).model_dump_json()
    main(
        _args(downloaded, out_dir, dataset=_dataset(targets=[], task=None), options=options, benchmark=False)
    )
    molecules = pl.read_parquet(out_dir / "molecules.parquet")
    assert molecules.columns == ["row", "smiles_input", "smiles", "duplicate_of"]
    assert molecules.get_column("smiles").to_list() == ["CCO", "CC(=O)O", "c1ccccc1", "CCN"]
    reasons = dict(pl.read_parquet(out_dir / "rejected.parquet").select("row", "reason").rows())
    assert reasons == {
        1: "unparsable SMILES (syntax)",
        3: "heavy atoms outside [2, 100] (1)",
        4: "duplicate of row 0",
    }


def test_misspelled_column_is_one_clean_line(downloaded, tmp_path):
    out_dir = tmp_path / "out"
    result = _semmol(*_args(downloaded, out_dir, dataset=_dataset(targets=["activty"])))
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("semmol standardize: error: ")
    assert "mols.csv: column 'activty' not found; did you mean 'activity'?" in lines[0]
    assert not out_dir.exists()


def test_manifest_without_file_is_named(tmp_path):
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps({"rows": 3}))
    with pytest.raises(SystemExit, match=r"semmol standardize: error: .*manifest\.json: manifest lacks"):
        main(_args(manifest, tmp_path / "out", dataset=_dataset()))


def test_bad_options_json_is_an_argument_error(downloaded, tmp_path):
    result = _semmol(*_args(downloaded, tmp_path / "out", dataset=_dataset(), options='{"neutralise": true}'))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "semmol standardize: error: argument --options: invalid StandardizeConfig" in result.stderr
    assert "neutralise" in result.stderr
    assert not (tmp_path / "out").exists()
