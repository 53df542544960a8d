"""Multiclass targets: reading class cells, numbering classes, and the standardize stage's outputs."""

from __future__ import annotations

import json
import math

import polars as pl
import pyarrow.parquet as pq
import pytest

from semmol.config import DatasetConfig, StandardizeConfig
from semmol.data.benchmark import BenchmarkError, load_benchmark_split
from semmol.data.classes import ClassIndex, parse_class, read_classes
from semmol.data.standardize import NO_LABEL_REASON, standardize, standardize_table, write_outputs


def _dataset(**fields) -> DatasetConfig:
    return DatasetConfig.model_validate(
        {"source": {"kind": "local", "path": "unused"}, "targets": ["kind"], "task": "multiclass", **fields}
    )


@pytest.mark.parametrize(
    ("text", "value", "reason"),
    [
        ("3", 3, None),
        (" 3.0 ", 3, None),  # the same class however it is written
        ("-1", -1, None),
        ("inhibitor", "inhibitor", None),  # a named class
        ("low", 0, None),  # numbered through label_map
        ("", None, None),
        (None, None, None),
        ("nan", None, None),
        ("2.5", None, "multiclass label is not a whole number (classes are integers or names)"),
        ("inf", None, "label is not finite"),
    ],
)
def test_parse_class(text, value, reason):
    assert parse_class(text, label_map={"low": 0}) == (value, reason)


def test_classes_are_numbered_in_sorted_order_whatever_the_row_order():
    labels = ["b", 10, None, 9, "a", 10, "b", "b"]
    index = ClassIndex.of(labels, label_map={})
    assert index.names == ("9", "10", "a", "b")  # integers by value, before words
    codes = index.codes(labels)
    assert math.isnan(codes[2]) and codes[:2] + codes[3:] == [3.0, 1.0, 0.0, 2.0, 1.0, 3.0, 3.0]
    assert index.counts(labels) == [1, 2, 1, 3]
    assert ClassIndex.of(list(reversed(labels)), label_map={}) == index


def test_label_map_orders_classes_and_names_them():
    label_map = {"low": 0, "mid": 1, "medium": 1, "high": 2}
    labels = [parse_class(text, label_map=label_map)[0] for text in ["high", "medium", "low", "mid"]]
    index = ClassIndex.of(labels, label_map=label_map)
    assert index.names == ("low", "mid", "high")  # by number, not alphabetically; first key names 1
    assert index.codes(labels) == [2.0, 1.0, 0.0, 1.0]


#: Row 3 has no label, row 4 a fractional one, row 5 an unparsable SMILES.
RECORDS = "smiles,kind\nCCO,alcohol\nCCN,amine\nCCCO,alcohol\nCCCN,\nCCC,1.5\nC1CC,amine\nc1ccccc1,arene\n"


def test_standardize_numbers_the_classes_and_stores_their_names(tmp_path):
    source = tmp_path / "mols.csv"
    source.write_text(RECORDS)
    result = standardize(
        source, dataset=_dataset(), options=StandardizeConfig(), benchmark=True, out_dir=tmp_path / "out"
    )
    molecules = pl.read_parquet(tmp_path / "out/molecules.parquet")
    assert molecules["row"].to_list() == [0, 1, 2, 6]
    assert molecules["kind"].to_list() == [0.0, 1.0, 0.0, 2.0]
    assert read_classes(tmp_path / "out/molecules.parquet") == {"kind": ["alcohol", "amine", "arene"]}
    report = json.loads((tmp_path / "out/standardize.json").read_text())
    assert report["classes"] == {"kind": ["alcohol", "amine", "arene"]}
    assert report["class_counts"] == {"kind": [2, 1, 1]}
    # nothing lost: the unlabelled, mislabelled and unparsable rows are rejected, each with a reason
    rejected = pq.read_table(tmp_path / "out/rejected.parquet").to_pylist()
    assert {(r["row"], r["reason"]) for r in rejected} >= {(3, NO_LABEL_REASON), (4, NO_LABEL_REASON)}
    assert {r["row"] for r in rejected} == {3, 4, 5}
    assert result.report["accepted"] + result.report["rejected_records"] == 7


def test_a_multiclass_column_of_one_class_stops_the_stage_in_one_line(tmp_path):
    source = tmp_path / "mols.csv"
    source.write_text("smiles,kind\nCCO,alcohol\nCCCO,alcohol\nOCCO,alcohol\nCCN,\n")
    copy = tmp_path / "logs/mols.rejected.parquet"
    message = (
        r"^.*mols\.csv: multiclass column 'kind' holds the single class 'alcohol' in all 3 labelled rows; "
        r"a multiclass target needs at least two classes; the rejected rows are in .*mols\.rejected\.parquet$"
    )
    with pytest.raises(ValueError, match=message):
        standardize(
            source,
            dataset=_dataset(),
            options=StandardizeConfig(),
            benchmark=True,
            out_dir=tmp_path / "out",
            rejected_copy=copy,
        )
    assert pq.read_table(copy).column("row").to_pylist() == [3]  # the unlabelled row, kept for the user


def test_multiclass_takes_exactly_one_target():
    with pytest.raises(ValueError, match=r"task 'multiclass' takes exactly one target column .*got 2"):
        _dataset(targets=["kind", "size"])


def test_load_benchmark_split_reads_the_class_names_of_a_multiclass_benchmark(tmp_path):
    table = pl.DataFrame({"smiles": ["CCO", "CCN", "CCCO", "c1ccccc1"], "kind": ["a", "b", "a", "c"]})
    result = standardize_table(table, dataset=_dataset(), options=StandardizeConfig(), benchmark=True)
    write_outputs(result, tmp_path)
    split = tmp_path / "split.json"
    split.write_text(json.dumps({"kind": "random", "seed": 0, "train": [0, 1], "valid": [2], "test": [3]}))
    loaded = load_benchmark_split(tmp_path / "molecules.parquet", split, targets=["kind"], task="multiclass")
    assert loaded.classes == ["a", "b", "c"] and loaded["test"].labels.tolist() == [[2.0]]
    # molecules standardized for another task have no class names: named, not guessed
    pl.read_parquet(tmp_path / "molecules.parquet").write_parquet(tmp_path / "plain.parquet")
    with pytest.raises(BenchmarkError, match=r"plain\.parquet: holds no class names for multiclass target"):
        load_benchmark_split(tmp_path / "plain.parquet", split, targets=["kind"], task="multiclass")
