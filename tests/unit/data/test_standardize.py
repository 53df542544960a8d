from __future__ import annotations

import json
import math

import polars as pl
import pyarrow.parquet as pq
import pytest

from semmol.config import DatasetConfig, LocalSource, StandardizeConfig
from semmol.data.schema import REJECTED_SCHEMA
from semmol.data.standardize import parse_label, standardize, standardize_table
from semmol.data.tables import TableError

KEPT = "kept the molecule with this label missing"

#: (SMILES, label p, label q) per source row, with what should become of each row.
RECORDS = [
    ("CCO", "1", "0"),  # 0 accepted
    ("C1CC", "1", "1"),  # 1 syntax error
    ("C(C)(C)(C)(C)C", "0", "1"),  # 2 valence error
    (None, "1", "1"),  # 3 empty cell
    ("[Na+].CC(=O)[O-]", "0", "0"),  # 4 salt: the acetate is kept
    ("C", "1", "1"),  # 5 one heavy atom: kept for a benchmark, too small for the corpus
    ("OCC", "0", "1"),  # 6 duplicate of row 0
    ("c1ccccc1", "active", "inactive"),  # 7 textual labels through label_map
    ("CCN", "abc", "1"),  # 8 non-numeric p: cell rejected, molecule kept
    ("CCCl", "2", "0"),  # 9 non-binary p: cell rejected, molecule kept
    ("CCBr", "", ""),  # 10 no label at all: record rejected
    ("CCI", "maybe", ""),  # 11 bad label and nothing else: record rejected
    ("CCCO", " 1 ", "nan"),  # 12 padded label; 'nan' is missing, not bad
    ("BrCC", "1", "1"),  # 13 same molecule as the rejected row 10: not a duplicate
]
DATASET = DatasetConfig(
    source=LocalSource(kind="local", path="unused"),
    targets=["p", "q"],
    task="classification",
    label_map={"active": 1, "inactive": 0},
)
CORPUS = DatasetConfig(source=LocalSource(kind="local", path="unused"))


def _table(records=RECORDS, columns=("smiles", "p", "q")) -> pl.DataFrame:
    return pl.DataFrame(
        {name: [record[i] for record in records] for i, name in enumerate(columns)},
        schema={name: pl.Utf8 for name in columns},
    )


def _run(*, benchmark: bool, table=None, dataset=DATASET, **options):
    table = _table() if table is None else table
    return standardize_table(
        table, dataset=dataset, options=StandardizeConfig(**options), benchmark=benchmark, source="mols.csv"
    )


def _rejected_rows(result) -> set[int]:
    """Rows rejected as a whole (not only one of their label cells)."""
    return {r["row"] for r in result.rejected if not r["reason"].endswith(KEPT)}


def _reasons(result) -> dict[tuple[int, str], str]:
    return {(r["row"], r["column"]): r["reason"] for r in result.rejected}


def _assert_every_record_accounted_for(result, n_records: int) -> None:
    accepted = set(result.molecules.get_column("row").to_list())
    assert not accepted & _rejected_rows(result)
    assert accepted | _rejected_rows(result) == set(range(n_records))
    assert result.molecules.height + len(_rejected_rows(result)) == n_records


def test_benchmark_keeps_every_parsable_labelled_record():
    result = _run(benchmark=True)
    _assert_every_record_accounted_for(result, len(RECORDS))
    molecules = result.molecules
    assert molecules.columns == ["row", "smiles_input", "smiles", "duplicate_of", "p", "q"]
    assert molecules.get_column("row").to_list() == [0, 4, 5, 6, 7, 8, 9, 12, 13]
    assert molecules.get_column("smiles").to_list() == [
        "CCO", "CC(=O)[O-]", "C", "CCO", "c1ccccc1", "CCN", "CCCl", "CCCO", "CCBr"
    ]  # fmt: skip
    duplicates = molecules.filter(pl.col("duplicate_of").is_not_null())
    assert duplicates.select("row", "duplicate_of").rows() == [(6, 0)]  # not (13, 10): row 10 was rejected
    labels = {row: (p, q) for row, p, q in molecules.select("row", "p", "q").iter_rows()}
    assert labels[7] == (1.0, 0.0) and labels[12][0] == 1.0 and math.isnan(labels[12][1])
    assert math.isnan(labels[8][0]) and labels[8][1] == 1.0
    assert math.isnan(labels[9][0]) and labels[9][1] == 0.0
    assert result.report["duplicates_kept"] == 1


def test_reasons_name_row_and_column():
    reasons = _reasons(_run(benchmark=True))
    assert reasons[(1, "smiles")] == "unparsable SMILES (syntax)"
    assert reasons[(2, "smiles")].startswith("unparsable SMILES (AtomValenceException: Explicit valence")
    assert reasons[(3, "smiles")] == "empty SMILES"
    assert reasons[(8, "p")] == f"label is not a number (map textual labels with label_map); {KEPT}"
    assert reasons[(9, "p")] == f"classification label is not 0 or 1; {KEPT}"
    assert reasons[(10, "p,q")] == "no usable label in any target column"
    # the molecule of row 11 is not kept, so its bad cell does not claim it was
    assert reasons[(11, "p")] == "label is not a number (map textual labels with label_map)"
    assert reasons[(11, "p,q")] == "no usable label in any target column"
    assert len(reasons) == 8


def test_corpus_drops_duplicates_and_size_outliers():
    result = _run(benchmark=False)
    _assert_every_record_accounted_for(result, len(RECORDS))
    assert result.molecules.get_column("row").to_list() == [0, 4, 7, 8, 9, 12, 13]
    assert result.molecules.get_column("duplicate_of").null_count() == result.molecules.height
    reasons = _reasons(result)
    assert reasons[(5, "smiles")] == "heavy atoms outside [2, 100] (1)"
    assert reasons[(6, "smiles")] == "duplicate of row 0"
    assert (13, "smiles") not in reasons  # row 10 (same molecule) was rejected, so row 13 is the first
    assert result.report["reasons"] == {
        "unparsable SMILES": 2,
        "label is not a number": 2,
        "no usable label in any target column": 2,
        "empty SMILES": 1,
        "heavy atoms outside [2, 100]": 1,
        "duplicate": 1,
        "classification label is not 0 or 1": 1,
    }


def test_size_bounds_and_deduplication_are_options():
    table = _table([("CCO", "1", "1"), ("OCC", "1", "1"), ("CCCCCC", "1", "1")])
    result = _run(benchmark=False, table=table, deduplicate=False, min_heavy_atoms=3, max_heavy_atoms=5)
    assert result.molecules.get_column("row").to_list() == [0, 1]
    assert result.molecules.get_column("duplicate_of").to_list() == [None, 0]
    assert _reasons(result) == {(2, "smiles"): "heavy atoms outside [3, 5] (6)"}


def test_report_counts():
    result = _run(benchmark=False)
    report = result.report
    assert report["source"] == "mols.csv"
    assert report["records"] == len(RECORDS)
    assert report["accepted"] == 7
    assert report["rejected_records"] == 7
    assert report["bad_label_cells"] == 3  # rows 8, 9 and 11
    assert report["duplicates_kept"] == 0
    assert report["seconds"] >= 0


@pytest.mark.parametrize(
    ("neutralize", "largest_fragment", "smiles", "expected"),
    [
        (False, True, "C[NH3+].[Cl-]", "C[NH3+]"),
        (True, True, "C[NH3+].[Cl-]", "CN"),
        (True, True, "[Na+].CC(=O)[O-]", "CC(=O)O"),
        (False, False, "CCO.[Na+].[Cl-]", "CCO.[Cl-].[Na+]"),
    ],
)
def test_fragment_and_charge_options(neutralize, largest_fragment, smiles, expected):
    result = _run(
        benchmark=False,
        table=_table([(smiles,)], columns=("smiles",)),
        dataset=CORPUS,
        neutralize=neutralize,
        largest_fragment=largest_fragment,
    )
    assert result.molecules.get_column("smiles").to_list() == [expected]


def test_no_heavy_atoms_is_rejected_for_benchmarks_too():
    result = _run(benchmark=True, table=_table([("[H][H]", "1", "1"), ("CC", "1", "1")]))
    assert _reasons(result) == {(0, "smiles"): "no heavy atoms"}


@pytest.mark.parametrize(
    ("text", "task", "value", "reason"),
    [
        ("1", "classification", 1.0, None),
        (" 0.0 ", "classification", 0.0, None),
        ("active", "classification", 1.0, None),
        (None, "classification", math.nan, None),
        ("", "regression", math.nan, None),
        ("NaN", "regression", math.nan, None),
        ("-1.5e2", "regression", -150.0, None),
        ("inf", "regression", math.nan, "label is not finite"),
        ("0.5", "classification", math.nan, "classification label is not 0 or 1"),
        ("x", "regression", math.nan, "label is not a number"),
        ("x", "classification", math.nan, "label is not a number (map textual labels with label_map)"),
    ],
)
def test_parse_label(text, task, value, reason):
    got, got_reason = parse_label(text, task=task, label_map={"active": 1})
    assert got_reason == reason
    assert (math.isnan(got) and math.isnan(value)) or got == value


def _csv(tmp_path, text: str, name: str = "mols.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def _standardize(source, out_dir, *, dataset=CORPUS, benchmark=False):
    return standardize(
        source, dataset=dataset, options=StandardizeConfig(), benchmark=benchmark, out_dir=out_dir
    )


def test_standardize_writes_three_outputs(tmp_path):
    lines = ["smiles,p,q", *(",".join("" if cell is None else cell for cell in record) for record in RECORDS)]
    source = _csv(tmp_path, "\n".join(lines) + "\n")
    out_dir = tmp_path / "out"
    result = _standardize(source, out_dir, dataset=DATASET, benchmark=True)

    molecules = pl.read_parquet(out_dir / "molecules.parquet")
    assert molecules.equals(result.molecules)
    assert molecules.schema["duplicate_of"] == pl.Int64 and molecules.schema["p"] == pl.Float64
    rejected = pq.read_table(out_dir / "rejected.parquet")
    assert rejected.schema.equals(REJECTED_SCHEMA)
    assert rejected.to_pylist() == result.rejected
    assert set(rejected.column("stage").to_pylist()) == {"standardize"}
    report = json.loads((out_dir / "standardize.json").read_text())
    assert report == result.report
    assert report["source"] == str(source)
    assert report["accepted"] + report["rejected_records"] == report["records"] == len(RECORDS)


def test_max_rows(tmp_path):
    source = _csv(tmp_path, "smiles\nCCO\nCCN\nCCC\n")
    result = _standardize(source, tmp_path, dataset=CORPUS.model_copy(update={"max_rows": 2}))
    assert result.molecules.get_column("smiles").to_list() == ["CCO", "CCN"]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"smiles_column": "smile"}, r"mols\.csv: column 'smile' not found; did you mean 'smiles'\?"),
        ({"targets": ["p_np2"]}, r"mols\.csv: column 'p_np2' not found; did you mean 'p_np'\?"),
    ],
)
def test_misspelled_column_names_file_and_close_name(tmp_path, overrides, message):
    source = _csv(tmp_path, "smiles,p_np\nCCO,1\n")
    fields = {"source": {"kind": "local", "path": "unused"}, "targets": ["p_np"], "task": "classification"}
    dataset = DatasetConfig.model_validate(fields | overrides)
    with pytest.raises(TableError, match=message):
        _standardize(source, tmp_path / "o", dataset=dataset, benchmark=True)
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(
    ("content", "message"),
    [("", r"empty\.csv: cannot read table"), ("smiles\n", r"empty\.csv: no data rows")],
)
def test_empty_file_fails_clearly(tmp_path, content, message):
    source = _csv(tmp_path, content, name="empty.csv")
    with pytest.raises(TableError, match=message):
        _standardize(source, tmp_path / "o")


def test_nothing_accepted_fails_and_points_at_the_rejections(tmp_path):
    source = _csv(tmp_path, "smiles\nC1CC\nXx\n")
    out_dir = tmp_path / "out"
    message = (
        r"mols\.csv: no molecule survived standardization; the rejected rows are in .*out/rejected\.parquet"
    )
    with pytest.raises(ValueError, match=message):
        _standardize(source, out_dir)
    assert pq.read_table(out_dir / "rejected.parquet").num_rows == 2


#: 3 of 5 records rejected (a syntax error, an empty cell, no heavy atom), one bad label cell kept.
MOSTLY_REJECTED = "smiles,p,q\nCCO,1,0\nC1CC,0,0\n,1,1\n[H][H],0,1\nCCN,x,1\n"


def test_too_many_rejected_fails_with_the_counts_and_a_copy_of_the_rejections(tmp_path):
    source = _csv(tmp_path, MOSTLY_REJECTED)
    copy = tmp_path / "logs" / "mols.rejected.parquet"
    message = (
        r"mols\.csv: 3 of 5 records rejected \(60\.0%\), more than standardize\.max_rejected_fraction "
        r"0\.5; the rejected rows are in .*logs/mols\.rejected\.parquet$"
    )
    with pytest.raises(ValueError, match=message):
        standardize(
            source,
            dataset=DATASET,
            options=StandardizeConfig(),
            benchmark=True,
            out_dir=tmp_path / "out",
            rejected_copy=copy,
        )
    assert not (tmp_path / "out").exists()
    rejected = pq.read_table(copy)
    assert rejected.schema.equals(REJECTED_SCHEMA)
    assert rejected.select(["row", "column"]).to_pylist() == [
        {"row": row, "column": column}
        for row, column in [(1, "smiles"), (2, "smiles"), (3, "smiles"), (4, "p")]
    ]
    # a looser bound lets the same table through, and the copy of the failure goes
    options = StandardizeConfig(max_rejected_fraction=0.6)
    result = standardize(
        source, dataset=DATASET, options=options, benchmark=True, out_dir=tmp_path / "out", rejected_copy=copy
    )
    assert result.report["accepted"] == 2 and not copy.exists()
    assert (tmp_path / "out" / "rejected.parquet").exists()


@pytest.mark.parametrize("fraction", [-0.1, 1.5])
def test_max_rejected_fraction_is_a_share(fraction):
    with pytest.raises(ValueError, match="max_rejected_fraction"):
        StandardizeConfig(max_rejected_fraction=fraction)


def test_esol_is_accepted_whole(full_moleculenet_dir, tmp_path):
    esol = DatasetConfig(
        source=LocalSource(kind="local", path=str(full_moleculenet_dir / "esol.csv")),
        targets=["measured log solubility in mols per litre"],
        task="regression",
    )
    result = _standardize(full_moleculenet_dir / "esol.csv", tmp_path, dataset=esol, benchmark=True)
    assert result.report["records"] == result.report["accepted"] == 1128
    assert result.rejected == []
    assert result.molecules.get_column("row").to_list() == list(range(1128))
    assert result.molecules.get_column("measured log solubility in mols per litre").is_nan().sum() == 0
    duplicates = result.molecules.filter(pl.col("duplicate_of").is_not_null())
    assert duplicates.height == result.report["duplicates_kept"] > 0
    smiles_of = dict(result.molecules.select("row", "smiles").iter_rows())
    for first, smiles in duplicates.select("duplicate_of", "smiles").iter_rows():
        assert smiles_of[first] == smiles


def test_a_split_column_is_carried_through_and_its_unknown_values_rejected():
    records = [
        ("CCO", "1", "0", "Train"),
        ("CCN", "0", "1", "val"),
        ("CCC", "1", "1", "tset"),
        ("C1CC", "1", "1", "test"),
    ]
    table = _table(records, columns=("smiles", "p", "q", "fold"))
    result = standardize_table(
        table,
        dataset=DATASET,
        options=StandardizeConfig(),
        benchmark=True,
        source="mols.csv",
        split_column="fold",
    )
    assert result.molecules.select("row", "split").rows() == [(0, "train"), (1, "valid")]
    assert _reasons(result)[(2, "fold")] == "split value 'tset' is not train, valid (or val) or test"
    assert (3, "smiles") in _reasons(result)  # a bad SMILES is its reason, whatever the split cell
    _assert_every_record_accounted_for(result, len(records))
    assert "split" not in _run(benchmark=True).molecules.columns  # carried only when asked for
    with pytest.raises(TableError, match="column 'folds' not found"):
        standardize_table(
            table, dataset=DATASET, options=StandardizeConfig(), benchmark=True, split_column="folds"
        )
