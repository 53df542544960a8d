"""The sources lock from the command line, against the loopback Hub (tests/loopback.py): the
workflow's ``semmol download --lock`` records a source on its first download and stops on changed
upstream content; ``semmol lock --update`` accepts the change."""

from __future__ import annotations

import hashlib
import json

import pytest
import yaml

from semmol.cli.main import main

from ..loopback import HUB_COMMIT, HUB_FILES, HUB_REPO

BBBP = "other/bbbp.csv"
CHANGED_BBBP = b"num,name,p_np,smiles\n1,a,1,CCO\n2,b,1,CCN\n3,c,0,CCC\n"
DATASETS = {
    "zinc": {"source": {"kind": "hf", "repo_id": HUB_REPO, "pattern": "*zinc*"}},
    "bbbp": {
        "source": {"kind": "hf", "repo_id": HUB_REPO, "pattern": "bbbp.csv"},
        "targets": ["p_np"],
        "task": "classification",
    },
}


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """A working directory holding config/experiment.yaml (the loopback Hub's ZINC and BBBP), as the workflow's."""
    (tmp_path / "config").mkdir()
    config = {"datasets": DATASETS, "corpus": "zinc", "benchmarks": ["bbbp"]}
    (tmp_path / "config" / "experiment.yaml").write_text(yaml.safe_dump(config))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _download_bbbp() -> None:
    """What the workflow's download rule runs for bbbp."""
    dataset = json.dumps(DATASETS["bbbp"])
    out_dir = "resources/datasets/bbbp"
    main(["download", "--name", "bbbp", "--dataset", dataset, "--out-dir", out_dir, "--lock", "config/sources.lock"])


def _locked(workdir) -> dict[str, tuple[str, str]]:
    """Dataset name -> (revision, sha256) in the lock file."""
    entries = json.loads((workdir / "config" / "sources.lock").read_text())["sources"]
    return {name: (entry["revision"], entry["sha256"]) for entry in entries for name in entry["datasets"]}


def test_changed_upstream_content_stops_the_download_until_lock_update(hub, workdir):
    _download_bbbp()
    assert _locked(workdir) == {"bbbp": (HUB_COMMIT, _sha256(HUB_FILES[BBBP]))}

    new_head = hub.rewrite({BBBP: CHANGED_BBBP})
    with pytest.raises(SystemExit) as stopped:
        _download_bbbp()
    message = str(stopped.value)
    assert "\n" not in message
    assert message.startswith(
        f"semmol download: error: bbbp: config/sources.lock pins commit {HUB_COMMIT} of 'main', which cannot be fetched"
    )
    assert not (workdir / "resources/datasets/bbbp/manifest.json").exists()

    main(["lock", "--update", "--dataset", "bbbp", "--configfile", "config/experiment.yaml"])
    assert _locked(workdir) == {"bbbp": (new_head, _sha256(CHANGED_BBBP))}

    _download_bbbp()  # as the workflow's next run does; it agrees with the lock
    manifest = json.loads((workdir / "resources/datasets/bbbp/manifest.json").read_text())
    assert (manifest["revision"], manifest["sha256"]) == (new_head, _sha256(CHANGED_BBBP))


def test_lock_records_the_sources_it_lacks_and_leaves_the_others(hub, workdir, caplog):
    main(["lock", "--configfile", "config/experiment.yaml"])
    first = _locked(workdir)
    assert first == {
        "zinc": (HUB_COMMIT, _sha256(HUB_FILES["data/zinc_250k.csv"])),
        "bbbp": (HUB_COMMIT, _sha256(HUB_FILES[BBBP])),
    }
    assert not (workdir / "resources").exists()  # no dataset files: only the lock
    hub.push({BBBP: CHANGED_BBBP})  # main moves on; the lock keeps the data where it was
    requests = len(hub.requests)

    caplog.clear()
    with caplog.at_level("INFO"):
        main(["lock", "--configfile", "config/experiment.yaml"])

    assert _locked(workdir) == first and len(hub.requests) == requests
    assert f"bbbp: locked, sha256 {_sha256(HUB_FILES[BBBP])} at commit {HUB_COMMIT}" in caplog.messages


def test_lock_update_follows_a_moved_branch_and_drops_the_stale_download(hub, workdir, caplog):
    _download_bbbp()
    new_head = hub.push({BBBP: CHANGED_BBBP})
    _download_bbbp()  # still the locked commit's file: the download stays valid
    manifest = workdir / "resources/datasets/bbbp/manifest.json"
    assert json.loads(manifest.read_text())["revision"] == HUB_COMMIT

    with caplog.at_level("INFO"):
        main(["lock", "--update", "--configfile", "config/experiment.yaml"])

    assert f"zinc: recorded sha256 {_sha256(HUB_FILES['data/zinc_250k.csv'])} at commit {new_head}" in caplog.messages
    assert _locked(workdir)["bbbp"] == (new_head, _sha256(CHANGED_BBBP))
    assert not manifest.exists()  # so that the workflow's next run downloads bbbp again
    _download_bbbp()
    assert json.loads(manifest.read_text())["sha256"] == _sha256(CHANGED_BBBP)


def test_lock_update_keeps_the_download_of_an_unchanged_source(hub, workdir, caplog):
    _download_bbbp()

    with caplog.at_level("INFO"):
        main(["lock", "--update", "--dataset", "bbbp", "--configfile", "config/experiment.yaml"])

    assert f"bbbp: unchanged, sha256 {_sha256(HUB_FILES[BBBP])} at commit {HUB_COMMIT}" in caplog.messages
    assert (workdir / "resources/datasets/bbbp/manifest.json").exists()


def test_lock_names_an_unknown_dataset(workdir):
    with pytest.raises(SystemExit) as stopped:
        main(["lock", "--dataset", "tox21", "--configfile", "config/experiment.yaml"])

    assert str(stopped.value) == (
        "semmol lock: error: no dataset ['tox21'] in config/experiment.yaml (datasets there: ['bbbp', 'zinc'])"
    )
