from __future__ import annotations

import json
import re
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


def _args(
    manifest, out_dir, *, dataset: str, options: str = "{}", benchmark: bool = True, rejected_copy=None
) -> list[str]:
    """The flags the workflow's standardize rule passes."""
    flags = ["standardize", "--manifest", str(manifest), "--dataset", dataset, "--options", options]
    copy = [] if rejected_copy is None else ["--rejected-copy", str(rejected_copy)]
    return [*flags, *(["--benchmark"] if benchmark else []), "--out-dir", str(out_dir), *copy]


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


@pytest.mark.parametrize(
    ("overrides", "max_fraction", "message"),
    [
        ({}, 0.25, r"2 of 7 records rejected \(28\.6%\), more than standardize\.max_rejected_fraction 0\.25"),
        # the SMILES column set to the label column: not one SMILES parses
        ({"smiles_column": "activity"}, 0.5, r"no molecule survived standardization"),
    ],
)
def test_too_many_rejections_stop_with_a_copy_that_outlives_the_job(
    downloaded, tmp_path, overrides, max_fraction, message
):
    out_dir = tmp_path / "results" / "data" / "mols"
    copy = tmp_path / "logs" / "standardize" / "mols.rejected.parquet"
    options = StandardizeConfig(max_rejected_fraction=max_fraction).model_dump_json()
    args = _args(downloaded, out_dir, dataset=_dataset(**overrides), options=options, rejected_copy=copy)
    result = _semmol(*args)
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("semmol standardize: error: ")]
    assert len(errors) == 1 and result.stderr.strip().endswith(errors[0]), result.stderr
    expected = rf"mols\.csv: {message}; the rejected rows are in {re.escape(str(copy))}$"
    assert re.search(expected, errors[0]), errors[0]
    rejected = pl.read_parquet(copy)
    assert rejected.height > 0 and set(rejected.get_column("stage")) == {"standardize"}
    assert not (out_dir / "rejected.parquet").exists()


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
