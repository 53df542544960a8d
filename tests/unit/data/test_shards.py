from __future__ import annotations

import json
import shutil

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from semmol.data.conformers import build_shard
from semmol.data.reader import ShardDataset
from semmol.data.schema import ShardError, read_shard
from semmol.data.shards import gather, read_manifest, shard_paths, shard_summary


def test_manifest_totals(shard_set):
    manifest = json.loads(shard_set.manifest.read_text())
    summaries = [shard_summary(path) for path in shard_set.shards]
    n = len(shard_set.smiles)
    assert manifest["molecules"] == n
    assert manifest["statuses"] == {
        "ok": n - 1,
        "mmff_failed": 0,
        "embed_failed": 1,
        "timeout": 0,
        "not_embedded": 0,
    }
    assert manifest["failure_rate"] == pytest.approx(1 / n)
    assert manifest["mmff_failure_rate"] == 0
    cpu_seconds = sum(summary["cpu_seconds"] for summary in summaries)
    assert manifest["cpu_seconds"] == pytest.approx(cpu_seconds)
    assert manifest["molecules_per_cpu_second"] == pytest.approx(n / cpu_seconds)
    assert manifest["wall_seconds"] == pytest.approx(sum(summary["wall_seconds"] for summary in summaries))
    assert manifest["options"] == shard_set.options.model_dump(mode="json")
    assert manifest["ecfp_bits"] == 128 and manifest["n_conformers"] == 2
    assert [shard["file"] for shard in manifest["shards"]] == ["0.parquet", "1.parquet"]
    assert [shard["mol_range"] for shard in manifest["shards"]] == [[0, 4], [4, 7]]
    assert sum(shard["molecules"] for shard in manifest["shards"]) == n


def test_gather_returns_what_it_writes_and_orders_shards(shard_set, tmp_path):
    out = tmp_path / "elsewhere" / "manifest.json"
    manifest = gather(list(reversed(shard_set.shards)), out=out)
    assert json.loads(out.read_text()) == manifest
    assert [shard["mol_range"][0] for shard in manifest["shards"]] == [0, 4]
    # file names are relative to the manifest, so a results directory can be moved whole
    assert shard_paths(out) == [out.parent / shard["file"] for shard in manifest["shards"]]
    assert [path.resolve() for path in shard_paths(out)] == [path.resolve() for path in shard_set.shards]


def test_shard_paths_resolve_against_the_manifest_not_the_cwd(shard_set, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    paths = shard_paths(shard_set.manifest)
    assert paths == shard_set.shards
    assert all(path.is_file() for path in paths)


def test_missing_shard_names_the_files(shard_set, tmp_path):
    with pytest.raises(
        ShardError, match=r"shards \[1\] given, expected 0\.\.1 exactly once each: .*1\.parquet"
    ):
        gather([shard_set.shards[1]], out=tmp_path / "manifest.json")
    assert not (tmp_path / "manifest.json").exists()


def test_duplicated_shard_names_both_files(shard_set, tmp_path):
    copy = tmp_path / "copy-of-0.parquet"
    shutil.copy(shard_set.shards[0], copy)
    with pytest.raises(ShardError, match=r"shards \[0, 0, 1\] given") as error:
        gather([*shard_set.shards, copy], out=tmp_path / "manifest.json")
    assert str(shard_set.shards[0]) in str(error.value) and str(copy) in str(error.value)


def test_shards_built_with_other_options_are_named(shard_set, tmp_path):
    other = tmp_path / "1.parquet"
    options = shard_set.options.model_copy(update={"mmff_max_iters": 11})
    build_shard(shard_set.molecules, shard=1, n_shards=2, options=options, out=other)
    with pytest.raises(ShardError, match=r"1\.parquet: options .* differs from .*0\.parquet's") as error:
        gather([shard_set.shards[0], other], out=tmp_path / "manifest.json")
    assert str(other) in str(error.value)


def test_shards_of_another_molecules_file_are_named(shard_set, tmp_path):
    molecules = tmp_path / "molecules.parquet"
    pq.write_table(
        pa.table({"row": pa.array([0, 1, 2], pa.int64()), "smiles": ["CC", "CCC", "CCCC"]}), molecules
    )
    other = tmp_path / "1.parquet"
    build_shard(molecules, shard=1, n_shards=2, options=shard_set.options, out=other)
    with pytest.raises(ShardError, match=r"1\.parquet: total_molecules 3 differs"):
        gather([shard_set.shards[0], other], out=tmp_path / "manifest.json")


def _damaged(shard_set, tmp_path, how: str):
    data = shard_set.shards[1].read_bytes()
    damaged = {"cut": data[: len(data) // 2], "tail": data[:-1], "garbage": b"\x00garbage" * 100}[how]
    path = tmp_path / f"{how}.parquet"
    path.write_bytes(damaged)
    return path


@pytest.mark.parametrize("how", ["cut", "tail", "garbage"])
def test_damaged_shard_is_named_everywhere(shard_set, tmp_path, how):
    path = _damaged(shard_set, tmp_path, how)
    message = rf"{how}\.parquet: not a readable Parquet shard \(truncated or corrupted\?\)"
    with pytest.raises(ShardError, match=message):
        shard_summary(path)
    with pytest.raises(ShardError, match=message):
        gather([shard_set.shards[0], path], out=tmp_path / "manifest.json")
    with pytest.raises(ShardError, match=message):
        read_shard(path)
    with pytest.raises(ShardError, match=message):
        ShardDataset([shard_set.shards[0], path])


def test_missing_shard_file(tmp_path):
    path = tmp_path / "3.parquet"
    for read in (shard_summary, read_shard):
        with pytest.raises(ShardError, match=r"3\.parquet: shard file not found"):
            read(path)


def test_parquet_that_is_not_a_shard(tmp_path):
    path = tmp_path / "molecules.parquet"
    pq.write_table(pa.table({"row": [0], "smiles": ["C"]}), path)
    with pytest.raises(
        ShardError, match=r"molecules\.parquet: not a semmol shard \(no 'semmol\.shard' metadata\)"
    ):
        shard_summary(path)
    with pytest.raises(
        ShardError, match=r"molecules\.parquet: not a semmol shard, missing columns \['mol_index'"
    ):
        read_shard(path)


def test_read_manifest_errors(shard_set, tmp_path):
    assert read_manifest(shard_set.manifest)["molecules"] == len(shard_set.smiles)
    with pytest.raises(FileNotFoundError, match=r"nowhere\.json: shard manifest not found"):
        read_manifest(tmp_path / "nowhere.json")
    broken = tmp_path / "broken.json"
    broken.write_text('{"shards": [')
    with pytest.raises(ShardError, match=r"broken\.json: malformed shard manifest"):
        read_manifest(broken)
    other = tmp_path / "other.json"
    other.write_text('{"file": "mols.csv"}')
    with pytest.raises(ShardError, match=r"other\.json: not a shard manifest \(no 'shards' list\)"):
        shard_paths(other)
