from __future__ import annotations

import json
import subprocess
import sys

import pytest

from semmol.cli.main import main
from semmol.config import ConformerConfig, DatasetConfig, LocalSource, StandardizeConfig
from semmol.data.reader import ShardDataset
from semmol.data.shards import shard_paths

SMILES = ["CCO", "Oc1ccccc1", "C1C[C@H]2CC[C@H]1C2", "CC(=O)Nc1ccc(O)cc1", "CCN(CC)CC"]
OPTIONS = ConformerConfig(shards=2, n_conformers=1, mmff_max_iters=5, max_embed_attempts=1, ecfp_bits=64)


@pytest.fixture
def molecules(tmp_path):
    """molecules.parquet of a tiny corpus, made by `semmol standardize` from a download directory."""
    data = tmp_path / "resources" / "corpus.csv"
    data.parent.mkdir()
    data.write_text("smiles\n" + "\n".join(SMILES) + "\n")
    manifest = data.parent / "manifest.json"
    manifest.write_text(json.dumps({"name": "corpus", "file": data.name, "rows": len(SMILES)}))
    out_dir = tmp_path / "results" / "data" / "corpus"
    dataset = DatasetConfig(source=LocalSource(kind="local", path="unused")).model_dump_json()
    options = StandardizeConfig().model_dump_json()
    main(
        [
            "standardize",
            "--manifest",
            str(manifest),
            "--dataset",
            dataset,
            "--options",
            options,
            "--out-dir",
            str(out_dir),
        ]
    )
    return out_dir / "molecules.parquet"


def _conformers(molecules, shard: int, out, *, options: str = OPTIONS.model_dump_json()) -> list[str]:
    """The flags the workflow's conformers rule passes."""
    return [
        "conformers",
        "--molecules",
        str(molecules),
        "--shard",
        str(shard),
        "--n-shards",
        str(OPTIONS.shards),
        "--options",
        options,
        "--out",
        str(out),
        "--threads",
        "1",
    ]


def _semmol(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "semmol", *args], capture_output=True, text=True, check=False
    )


def test_conformers_and_gather_end_to_end(molecules):
    shards = [molecules.parent / "shards" / f"{shard}.parquet" for shard in range(OPTIONS.shards)]
    for shard, out in enumerate(shards):
        main(_conformers(molecules, shard, out))
    manifest = molecules.parent / "shards" / "manifest.json"
    main(["gather", "--out", str(manifest), *map(str, shards)])

    record = json.loads(manifest.read_text())
    assert record["molecules"] == len(SMILES)
    assert record["statuses"] == {
        "ok": 4,
        "mmff_failed": 0,
        "embed_failed": 1,
        "timeout": 0,
        "not_embedded": 0,
    }
    assert record["failure_rate"] == pytest.approx(1 / len(SMILES))
    assert record["ecfp_bits"] == 64 and record["options"] == OPTIONS.model_dump(mode="json")
    assert shard_paths(manifest) == shards
    dataset = ShardDataset(shard_paths(manifest), conformers="first")
    assert [dataset[i].smiles for i in range(len(dataset))] == SMILES
    assert dataset.has_3d.tolist() == [True, True, False, True, True]


def test_gather_reports_a_missing_shard_in_one_line(molecules):
    shard = molecules.parent / "shards" / "1.parquet"
    main(_conformers(molecules, 1, shard))
    result = _semmol("gather", "--out", str(molecules.parent / "manifest.json"), str(shard))
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("semmol gather: error: shards [1] given, expected 0..1 exactly once each")
    assert str(shard) in lines[0]


def test_missing_molecules_file_is_one_clean_line(tmp_path):
    with pytest.raises(SystemExit, match=r"semmol conformers: error: .*nowhere\.parquet"):
        main(_conformers(tmp_path / "nowhere.parquet", 0, tmp_path / "0.parquet"))


def test_bad_options_json_is_an_argument_error(molecules, tmp_path):
    out = tmp_path / "0.parquet"
    result = _semmol(*_conformers(molecules, 0, out, options='{"n_conformers": 0}'))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "semmol conformers: error: argument --options: invalid ConformerConfig" in result.stderr
    assert "n_conformers" in result.stderr
    assert not out.exists()
