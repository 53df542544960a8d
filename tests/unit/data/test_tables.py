from __future__ import annotations

import gzip
import json

import polars as pl
import pytest
from rdkit import Chem

from semmol.data.tables import TableError, manifest_table_path, read_table, require_columns

CSV = "smiles,y,note\nCCO,007,a\n,1.50,\nc1ccccc1,,c\n"
EXPECTED = {"smiles": ["CCO", None, "c1ccccc1"], "y": ["007", "1.50", None], "note": ["a", None, "c"]}


def _frame(path, **options) -> dict:
    frame = read_table(path, **options)
    assert all(dtype == pl.Utf8 for dtype in frame.dtypes)
    return frame.to_dict(as_series=False)


def test_csv_is_read_as_text_in_file_order(tmp_path):
    path = tmp_path / "mols.csv"
    path.write_text(CSV)
    assert _frame(path) == EXPECTED  # '007' and '1.50' stay as written; empty cells are null


@pytest.mark.parametrize("name", ["mols.tsv", "mols.tsv.gz", "mols.csv.gz"])
def test_tsv_and_gzip(tmp_path, name):
    text = CSV.replace(",", "\t") if ".tsv" in name else CSV
    path = tmp_path / name
    path.write_bytes(gzip.compress(text.encode()) if name.endswith(".gz") else text.encode())
    assert _frame(path) == EXPECTED


def test_parquet_columns_become_text(tmp_path):
    path = tmp_path / "mols.parquet"
    pl.DataFrame({"smiles": ["CCO", "CC"], "y": [1.5, None], "n": [1, 2]}).write_parquet(path)
    assert _frame(path) == {"smiles": ["CCO", "CC"], "y": ["1.5", None], "n": ["1", "2"]}
    assert _frame(path, max_rows=1) == {"smiles": ["CCO"], "y": ["1.5"], "n": ["1"]}


def _write_sdf(path, *, broken_second: bool) -> None:
    """Two molecules with a ``y`` property (and optionally an unreadable record between them)."""
    blocks = []
    for smiles, value in [("CCO", "0.50"), ("c1ccccc1", "007")]:
        mol = Chem.MolFromSmiles(smiles)
        mol.SetProp("y", value)
        blocks.append(Chem.MolToMolBlock(mol) + f"> <y>\n{value}\n\n$$$$\n")
    if broken_second:
        blocks.insert(1, "broken\n\n\n  1  0  0  0  0  0  0  0  0  0999 V2000\nM  END\n$$$$\n")
    text = "".join(blocks)
    path.write_bytes(gzip.compress(text.encode()) if path.name.endswith(".gz") else text.encode())


@pytest.mark.parametrize("name", ["mols.sdf", "mols.sdf.gz"])
def test_sdf_properties_as_text_and_smiles_column(tmp_path, name):
    path = tmp_path / name
    _write_sdf(path, broken_second=False)
    assert _frame(path) == {"smiles": ["CCO", "C1=CC=CC=C1"], "y": ["0.50", "007"]}
    assert _frame(path, max_rows=1) == {"smiles": ["CCO"], "y": ["0.50"]}


def test_unreadable_sdf_record_keeps_its_row(tmp_path):
    path = tmp_path / "mols.sdf"
    _write_sdf(path, broken_second=True)
    frame = _frame(path)
    assert frame["y"] == ["0.50", None, "007"]  # row indices still count the broken record
    assert frame["smiles"][1] is None


def test_max_rows_keeps_the_first_records(tmp_path):
    path = tmp_path / "mols.csv"
    path.write_text(CSV)
    assert _frame(path, max_rows=2) == {key: values[:2] for key, values in EXPECTED.items()}
    assert _frame(path, max_rows=100) == EXPECTED


def test_ragged_csv_error_names_the_file_in_one_line(tmp_path):
    path = tmp_path / "ragged.csv"
    path.write_text("smiles,y\nCCO,1\nCC,2,3\n")
    with pytest.raises(TableError, match=r"ragged\.csv: cannot read table") as error:
        read_table(path)
    assert "\n" not in str(error.value)


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("empty.csv", "", r"empty\.csv: cannot read table"),
        ("header.csv", "smiles,y\n", r"header\.csv: no data rows"),
        ("mols.xlsx", "smiles\nCCO\n", r"mols\.xlsx: unsupported file type"),
    ],
)
def test_unusable_files_are_named(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(TableError, match=message):
        read_table(path)


def test_missing_file_is_named(tmp_path):
    with pytest.raises(TableError, match=r"nowhere\.csv: cannot read table"):
        read_table(tmp_path / "nowhere.csv")


def test_require_columns_suggests_the_close_name():
    frame = pl.DataFrame({"smiles": ["C"], "p_np": ["1"]})
    require_columns(frame.columns, ["smiles", "p_np"], path="bbbp.csv")
    with pytest.raises(TableError, match=r"bbbp\.csv: column 'smile' not found; did you mean 'smiles'\?"):
        require_columns(frame.columns, ["smile"], path="bbbp.csv")
    with pytest.raises(TableError) as error:
        require_columns(frame.columns, ["zzz"], path="bbbp.csv")
    assert "did you mean" not in str(error.value)
    assert "(columns: smiles, p_np)" in str(error.value)


def test_manifest_table_path(tmp_path):
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps({"file": "mols.csv", "rows": 3}))
    assert manifest_table_path(manifest) == tmp_path / "mols.csv"
    manifest.write_text(json.dumps({"rows": 3}))
    with pytest.raises(TableError, match=r"manifest\.json: manifest lacks the data file name"):
        manifest_table_path(manifest)
    manifest.write_text("{not json")
    with pytest.raises(TableError, match=r"manifest\.json: not a JSON manifest"):
        manifest_table_path(manifest)
