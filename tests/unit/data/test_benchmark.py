from __future__ import annotations

import json
import logging
import math

import numpy as np
import polars as pl
import pytest

from semmol.data.benchmark import BenchmarkError, load_benchmark_split

TARGETS = ["active", "toxic"]


@pytest.fixture
def molecules(tmp_path):
    """Five accepted records; source row 3 was rejected at standardization."""
    path = tmp_path / "molecules.parquet"
    pl.DataFrame(
        {
            "row": [0, 1, 2, 4, 5],
            "smiles_input": ["C", "CC", "CCC", "CCCCC", "CCCCCC"],
            "smiles": ["C", "CC", "CCC", "CCCCC", "CCCCCC"],
            "duplicate_of": [None, None, None, None, None],
            "active": [1.0, 0.0, math.nan, 1.0, 0.0],
            "toxic": [0.0, math.nan, 1.0, 1.0, 0.0],
        },
        schema_overrides={"duplicate_of": pl.Int64},
    ).write_parquet(path)
    return path


def _split(tmp_path, **subsets) -> object:
    layout = {"kind": "scaffold", "seed": 3, "fractions": [0.6, 0.2, 0.2], "dropped": [], "sizes": {}}
    layout.update({"train": [5, 3, 0], "valid": [2], "test": [4, 1]})
    layout.update(subsets)
    path = tmp_path / "split.json"
    path.write_text(json.dumps(layout))
    return path


def test_subsets_follow_the_split_and_skip_rejected_rows(tmp_path, molecules, caplog):
    with caplog.at_level(logging.WARNING):
        data = load_benchmark_split(molecules, _split(tmp_path), targets=TARGETS)
    assert (data.kind, data.seed, data.targets) == ("scaffold", 3, TARGETS)
    train = data["train"]
    assert train.rows.tolist() == [5, 0] and train.rows.dtype == np.int64
    assert train.mol_index.tolist() == [4, 0]
    assert train.smiles == ["CCCCCC", "C"]
    np.testing.assert_array_equal(train.labels, [[0.0, 0.0], [1.0, 0.0]])
    np.testing.assert_array_equal(data["valid"].labels, [[np.nan, 1.0]])
    assert data["test"].mol_index.tolist() == [3, 1]
    assert data.missing == {"train": 1, "valid": 0, "test": 0}
    assert "1 train row(s)" in caplog.text and caplog.text.rstrip().endswith("skipped: 3")


def test_absent_target_column_names_the_file_and_the_closest_column(tmp_path, molecules):
    with pytest.raises(BenchmarkError, match=r"molecules\.parquet.*'actve'.*did you mean 'active'"):
        load_benchmark_split(molecules, _split(tmp_path), targets=["actve"])


def test_row_in_two_subsets_is_an_error(tmp_path, molecules):
    with pytest.raises(BenchmarkError, match="row 2 is in both 'valid' and 'test'"):
        load_benchmark_split(molecules, _split(tmp_path, test=[2, 4]), targets=TARGETS)


def test_malformed_split_file_is_named(tmp_path, molecules):
    path = _split(tmp_path)
    layout = json.loads(path.read_text())
    del layout["valid"]
    path.write_text(json.dumps(layout))
    with pytest.raises(BenchmarkError, match=r"split\.json: split file lacks the key 'valid'"):
        load_benchmark_split(molecules, path, targets=TARGETS)
    path.write_text("{not json")
    with pytest.raises(BenchmarkError, match=r"split\.json: not a JSON split file"):
        load_benchmark_split(molecules, path, targets=TARGETS)
    path.write_text(json.dumps({**layout, "valid": ["2"]}))
    with pytest.raises(BenchmarkError, match="'valid' must be a list of integer source rows"):
        load_benchmark_split(molecules, path, targets=TARGETS)


def test_missing_files_raise_file_not_found(tmp_path, molecules):
    with pytest.raises(FileNotFoundError, match="split file not found"):
        load_benchmark_split(molecules, tmp_path / "nope.json", targets=TARGETS)
    with pytest.raises(FileNotFoundError, match="molecules file not found"):
        load_benchmark_split(tmp_path / "nope.parquet", _split(tmp_path), targets=TARGETS)
