"""The sources lock (semmol.data.lock) through real downloads: the loopback Hub (tests/loopback.py)
with the real huggingface_hub client, a loopback web server and files on disk."""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import subprocess
import sys
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from semmol.config import DatasetConfig
from semmol.data.lock import LockError, Pin, SourcesLock
from semmol.data.sources import fetch

from ...loopback import HUB_COMMIT, HUB_FILES, HUB_REPO, QuietFileHandler, serve

BBBP = "other/bbbp.csv"
CHANGED_BBBP = b"num,name,p_np,smiles\n1,a,1,CCO\n2,b,1,CCN\n3,c,0,CCC\n"


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _bbbp(**source: Any) -> DatasetConfig:
    """The loopback Hub's bbbp.csv as a benchmark."""
    hf = {"kind": "hf", "repo_id": HUB_REPO, "pattern": "bbbp.csv", **source}
    return DatasetConfig.model_validate({"source": hf, "targets": ["p_np"], "task": "classification"})


def _download(dataset: DatasetConfig, out_dir: Path, lock: SourcesLock, **options: Any) -> dict[str, Any]:
    return json.loads(fetch(dataset, name="bbbp", out_dir=out_dir, lock=lock, **options).read_text())


def _entries(lock: SourcesLock) -> list[dict[str, Any]]:
    return json.loads(lock.path.read_text())["sources"]


def test_first_download_records_commit_and_checksum(hub, tmp_path):
    lock = SourcesLock(tmp_path / "config" / "sources.lock")

    manifest = _download(_bbbp(), tmp_path / "out", lock)

    assert manifest["revision"] == HUB_COMMIT
    assert _entries(lock) == [
        {
            "source": _bbbp().source.model_dump(mode="json"),
            "datasets": ["bbbp"],
            "revision": HUB_COMMIT,
            "sha256": _sha256(HUB_FILES[BBBP]),
        }
    ]
    assert lock.pin(_bbbp().source) == Pin(HUB_COMMIT, _sha256(HUB_FILES[BBBP]))


def test_a_branch_that_moves_on_does_not_move_the_data(hub, tmp_path):
    lock = SourcesLock(tmp_path / "sources.lock")
    _download(_bbbp(), tmp_path / "first", lock)
    recorded = lock.path.read_text()
    new_head = hub.push({BBBP: CHANGED_BBBP})

    manifest = _download(_bbbp(), tmp_path / "again", lock)

    assert new_head != HUB_COMMIT
    assert (manifest["revision"], manifest["sha256"]) == (HUB_COMMIT, _sha256(HUB_FILES[BBBP]))
    assert (tmp_path / "again" / "bbbp.csv").read_bytes() == HUB_FILES[BBBP]
    assert lock.path.read_text() == recorded


def test_rewritten_history_stops_the_download_with_one_line(hub, tmp_path):
    lock = SourcesLock(tmp_path / "sources.lock")
    _download(_bbbp(), tmp_path / "first", lock)
    hub.rewrite({BBBP: CHANGED_BBBP})

    with pytest.raises(LockError) as raised:
        _download(_bbbp(), tmp_path / "again", lock)

    message = str(raised.value)
    assert "\n" not in message
    assert message.startswith(f"bbbp: {lock.path} pins commit {HUB_COMMIT} of 'main', which cannot be fetched (")
    assert message.endswith("`semmol lock --update` records 'main' as it is now")
    assert os.listdir(tmp_path / "again") == []


def test_other_content_at_the_locked_commit_stops_the_download(hub, tmp_path, monkeypatch):
    # A mirror (HF_ENDPOINT) serving other bytes under the same commit, read with an empty cache.
    lock = SourcesLock(tmp_path / "sources.lock")
    _download(_bbbp(), tmp_path / "first", lock)
    hub.history[HUB_COMMIT][BBBP] = CHANGED_BBBP
    monkeypatch.setenv("HF_HOME", str(tmp_path / "other-hf-home"))

    with pytest.raises(LockError) as raised:
        _download(_bbbp(), tmp_path / "again", lock)

    origin = f"{os.environ['HF_ENDPOINT']}/datasets/{HUB_REPO}/resolve/{HUB_COMMIT}/{BBBP}"
    assert str(raised.value) == (
        f"bbbp: {origin} gives sha256 {_sha256(CHANGED_BBBP)} at commit {HUB_COMMIT}, but {lock.path} pins "
        f"sha256 {_sha256(HUB_FILES[BBBP])} at commit {HUB_COMMIT}; the file was not kept. If the change is "
        "intended, `semmol lock --update` records the new content"
    )
    assert os.listdir(tmp_path / "again") == []


def test_relock_records_what_the_branch_gives_now(hub, tmp_path):
    lock = SourcesLock(tmp_path / "sources.lock")
    _download(_bbbp(), tmp_path / "first", lock)
    new_head = hub.rewrite({BBBP: CHANGED_BBBP})

    relocked = _download(_bbbp(), tmp_path / "relocked", lock, relock=True)
    again = _download(_bbbp(), tmp_path / "again", lock)

    assert lock.pin(_bbbp().source) == Pin(new_head, _sha256(CHANGED_BBBP))
    assert relocked["revision"] == again["revision"] == new_head
    assert (tmp_path / "again" / "bbbp.csv").read_bytes() == CHANGED_BBBP


def test_a_pinned_commit_is_recorded_as_it_is(hub, tmp_path):
    lock = SourcesLock(tmp_path / "sources.lock")
    _download(_bbbp(revision=HUB_COMMIT), tmp_path / "out", lock)
    hub.push({BBBP: CHANGED_BBBP})

    assert _download(_bbbp(revision=HUB_COMMIT), tmp_path / "again", lock)["revision"] == HUB_COMMIT
    assert [entry["revision"] for entry in _entries(lock)] == [HUB_COMMIT]


@pytest.fixture
def web(tmp_path):
    """A loopback web server over ``tmp_path/www`` and that directory."""
    root = tmp_path / "www"
    root.mkdir()
    with serve(ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(QuietFileHandler, directory=root))) as url:
        yield url, root


def test_a_url_whose_content_changes_stops_until_relocked(web, tmp_path):
    url, root = web
    (root / "bbbp.csv").write_bytes(HUB_FILES[BBBP])
    dataset = DatasetConfig.model_validate({"source": {"kind": "url", "url": f"{url}/bbbp.csv"}})
    lock = SourcesLock(tmp_path / "sources.lock")
    _download(dataset, tmp_path / "first", lock)
    (root / "bbbp.csv").write_bytes(CHANGED_BBBP)

    expected = f"bbbp: {url}/bbbp.csv gives sha256 {_sha256(CHANGED_BBBP)}, but {lock.path} pins sha256 {_sha256(HUB_FILES[BBBP])};"
    with pytest.raises(LockError, match=re.escape(expected)):
        _download(dataset, tmp_path / "again", lock)
    assert not (tmp_path / "again" / "manifest.json").exists()

    assert _download(dataset, tmp_path / "again", lock, relock=True)["sha256"] == _sha256(CHANGED_BBBP)
    assert lock.pin(dataset.source) == Pin(None, _sha256(CHANGED_BBBP))


def test_entries_belong_to_sources_not_to_dataset_names(tmp_path):
    (tmp_path / "a.csv").write_bytes(HUB_FILES[BBBP])
    (tmp_path / "b.csv").write_bytes(CHANGED_BBBP)
    lock = SourcesLock(tmp_path / "sources.lock")
    first, second = (DatasetConfig(source={"kind": "local", "path": str(tmp_path / f)}) for f in ("a.csv", "b.csv"))

    # the same name from two sources (two presets), and one source under two names
    fetch(first, name="bbbp", out_dir=tmp_path / "1", lock=lock)
    fetch(second, name="bbbp", out_dir=tmp_path / "2", lock=lock)
    fetch(first, name="bbbp_copy", out_dir=tmp_path / "3", lock=lock)

    assert [(entry["source"]["path"], entry["datasets"]) for entry in _entries(lock)] == [
        (str(tmp_path / "a.csv"), ["bbbp", "bbbp_copy"]),
        (str(tmp_path / "b.csv"), ["bbbp"]),
    ]


RECORDS_PER_WORKER = 40

# One worker: a separate interpreter, as Snakemake's jobs are, that waits for the go file so that
# all four write the lock at once. It imports only semmol (the test module is not importable there).
_RECORD_SOURCES = """
import sys, time
from pathlib import Path
from semmol.config import LocalSource
from semmol.data.lock import Pin, SourcesLock
lock_path, worker, go, records = Path(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3]), int(sys.argv[4])
lock = SourcesLock(lock_path)
while not go.exists():
    time.sleep(0.01)
for index in range(records):
    source = LocalSource(kind="local", path=f"/data/{worker}/{index}.csv")
    lock.record(source, dataset=f"set{worker}_{index}", found=Pin(None, f"{worker:032x}{index:032x}"), origin="-")
"""


def test_parallel_downloads_lose_no_entry(tmp_path):
    lock_path, go = tmp_path / "config" / "sources.lock", tmp_path / "go"
    workers = [
        subprocess.Popen([sys.executable, "-c", _RECORD_SOURCES, lock_path, str(worker), go, str(RECORDS_PER_WORKER)])
        for worker in range(4)
    ]
    go.touch()

    assert [process.wait(timeout=120) for process in workers] == [0, 0, 0, 0]
    datasets = sorted(name for entry in _entries(SourcesLock(lock_path)) for name in entry["datasets"])
    assert datasets == sorted(f"set{worker}_{index}" for worker in range(4) for index in range(RECORDS_PER_WORKER))
