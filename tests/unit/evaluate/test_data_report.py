from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from semmol.config import ConformerConfig, DatasetConfig, StandardizeConfig
from semmol.data.conformers import build_shard
from semmol.data.shards import gather
from semmol.data.standardize import standardize
from semmol.evaluate.data_report import (
    DATA_COLUMNS,
    SHARDS_MANIFEST,
    STANDARDIZE_REPORT,
    DataReportError,
    DatasetRow,
    data_markdown,
    read_dataset,
    write_data_csv,
)

#: Six records: two good, an unparsable and an empty SMILES, a bad label (the record's only
#: one), no label at all.
RECORDS = "smiles,y\nCCO,1.0\nC1CC,2.0\n,3.0\nCCN,abc\nc1ccccc1O,0.5\nCC(=O)O,\n"


def stage_reports(directory: Path, *, timeout_s: float) -> Path:
    """``standardize.json`` and ``shards/manifest.json`` of the real stages over :data:`RECORDS`."""
    source = directory / "records.csv"
    directory.mkdir(parents=True, exist_ok=True)
    source.write_text(RECORDS)
    dataset = DatasetConfig(source={"kind": "local", "path": str(source)}, targets=["y"], task="regression")
    # Four of six rejected on purpose: above the default stop threshold.
    options = StandardizeConfig(max_rejected_fraction=1.0)
    standardize(source, dataset=dataset, options=options, benchmark=True, out_dir=directory)
    shard = directory / "shards" / "0.parquet"
    conformers = ConformerConfig(n_conformers=1, timeout_s=timeout_s, ecfp_bits=64)
    build_shard(directory / "molecules.parquet", shard=0, n_shards=1, options=conformers, out=shard)
    gather([shard], out=directory / SHARDS_MANIFEST)
    return directory


def test_row_from_the_real_stage_reports(tmp_path):
    # A deadline too short for any embedding: every accepted molecule times out.
    row = read_dataset("tiny", stage_reports(tmp_path / "tiny", timeout_s=1e-9))
    assert row == DatasetRow(
        dataset="tiny",
        records=6,
        accepted=2,
        rejected_records=4,
        bad_label_cells=1,
        no_conformer=2,
        reasons={
            "no usable label in any target column": 2,
            "unparsable SMILES": 1,
            "empty SMILES": 1,
            "label is not a number": 1,
        },
    )
    assert read_dataset("tiny", stage_reports(tmp_path / "ok", timeout_s=10)).no_conformer == 0


def _write(directory: Path, report: dict, manifest: dict) -> Path:
    (directory / "shards").mkdir(parents=True, exist_ok=True)
    (directory / STANDARDIZE_REPORT).write_text(json.dumps(report))
    (directory / SHARDS_MANIFEST).write_text(json.dumps(manifest))
    return directory


REPORT = {"records": 10, "accepted": 8, "rejected_records": 2, "bad_label_cells": 1, "reasons": {"x": 3}}
MANIFEST = {"molecules": 8, "statuses": {"ok": 5, "mmff_failed": 1, "embed_failed": 1, "timeout": 1}}


def test_no_conformer_counts_failed_and_timed_out_embeddings_only(tmp_path):
    row = read_dataset("d", _write(tmp_path, REPORT, MANIFEST))
    assert (row.accepted, row.no_conformer) == (8, 2)  # an MMFF failure still has its conformer


@pytest.mark.parametrize(
    ("report", "manifest", "message"),
    [
        (
            {**REPORT, "accepted": 7},
            MANIFEST,
            r"manifest\.json: 8 molecules, but .*standardize\.json accepted 7",
        ),
        ({**REPORT, "records": "10"}, MANIFEST, r"standardize\.json: 'records' is '10', not a count"),
        ({**REPORT, "bad_label_cells": None}, MANIFEST, r"'bad_label_cells' is None, not a count"),
        ({**REPORT, "reasons": ["x"]}, MANIFEST, r"'reasons' is \['x'\], not an object"),
        (REPORT, {"molecules": 8}, r"manifest\.json: 'statuses' missing"),
        (REPORT, {**MANIFEST, "statuses": {"timeout": 1}}, r"'embed_failed' is None, not a count"),
    ],
)
def test_malformed_or_inconsistent_reports_are_errors(tmp_path, report, manifest, message):
    with pytest.raises(DataReportError, match=message):
        read_dataset("d", _write(tmp_path, report, manifest))


def test_missing_or_non_json_report_names_the_file(tmp_path):
    _write(tmp_path, REPORT, MANIFEST)
    (tmp_path / SHARDS_MANIFEST).unlink()
    with pytest.raises(FileNotFoundError, match=r"shards/manifest\.json: not found"):
        read_dataset("d", tmp_path)
    (tmp_path / SHARDS_MANIFEST).write_text("[1]")
    with pytest.raises(DataReportError, match=r"manifest\.json: expected a JSON object"):
        read_dataset("d", tmp_path)
    (tmp_path / STANDARDIZE_REPORT).write_text("{")
    with pytest.raises(DataReportError, match=r"standardize\.json: not JSON"):
        read_dataset("d", tmp_path)


def test_markdown_section_and_csv(tmp_path):
    rows = [
        DatasetRow("corpus", 160, 150, 10, 0, 3, {"duplicate of row": 6, "unparsable SMILES": 4}),
        DatasetRow("bbbp", 150, 150, 0, 0, 0, {}),
    ]
    text = data_markdown(rows)
    assert text.startswith("## Data\n")
    assert (
        "| dataset | records | accepted | rejected records | bad label cells | no conformer | reasons |"
        in text
    )
    assert "| corpus | 160 | 150 | 10 | 0 | 3 (2.0%) | duplicate of row: 6; unparsable SMILES: 4 |" in text
    assert "| bbbp | 150 | 150 | 0 | 0 | 0 (0.0%) | – |" in text
    write_data_csv(rows, tmp_path / "data.csv")
    with open(tmp_path / "data.csv", newline="") as handle:
        table = list(csv.reader(handle))
    assert table == [
        list(DATA_COLUMNS),
        ["corpus", "160", "150", "10", "0", "3", "duplicate of row: 6; unparsable SMILES: 4"],
        ["bbbp", "150", "150", "0", "0", "0", ""],
    ]
