"""Config files layered as `snakemake --configfile` layers them (semmol.config_layers)."""

from __future__ import annotations

import pytest
import yaml
from pydantic import ValidationError

from semmol.config_layers import load_config_files, merge_config_files

BASE = {
    "datasets": {
        "zinc": {"source": {"kind": "hf", "repo_id": "org/zinc", "pattern": "*.csv", "revision": "main"}},
        "bbbp": {
            "source": {"kind": "url", "url": "https://example.org/BBBP.csv", "sha256": "a" * 64},
            "smiles_column": "smiles",
            "targets": ["p_np"],
            "task": "classification",
        },
    },
    "corpus": "zinc",
    "benchmarks": ["bbbp"],
}


def _write(tmp_path, name: str, config: dict):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(config))
    return path


def test_an_overlay_of_another_kind_replaces_the_source(tmp_path):
    overlay = {
        "datasets": {
            "zinc": {"source": {"kind": "local", "path": "../mirror/zinc.csv"}},
            "bbbp": {"source": {"kind": "local", "path": "../mirror", "filename": "bbbp.csv"}},
        }
    }
    files = [_write(tmp_path, "base.yaml", BASE), _write(tmp_path, "overlay.yaml", overlay)]

    merged = merge_config_files(files)
    config = load_config_files(files)

    assert merged["datasets"]["zinc"]["source"] == {"kind": "local", "path": "../mirror/zinc.csv"}
    assert merged["datasets"]["bbbp"]["source"] == {"kind": "local", "path": "../mirror", "filename": "bbbp.csv"}
    assert merged["datasets"]["bbbp"]["targets"] == ["p_np"]  # the rest of the entry merges as before
    assert config.datasets["bbbp"].source.kind == "local"


def test_an_overlay_of_the_same_kind_merges_field_by_field(tmp_path):
    overlay = {"datasets": {"zinc": {"source": {"revision": "0" * 40}}}}

    merged = merge_config_files([_write(tmp_path, "base.yaml", BASE), _write(tmp_path, "overlay.yaml", overlay)])

    assert merged["datasets"]["zinc"]["source"] == {**BASE["datasets"]["zinc"]["source"], "revision": "0" * 40}


def test_a_misspelt_source_field_is_still_named(tmp_path):
    overlay = {"datasets": {"bbbp": {"source": {"kind": "local", "pth": "../mirror/bbbp.csv"}}}}
    files = [_write(tmp_path, "base.yaml", BASE), _write(tmp_path, "overlay.yaml", overlay)]

    with pytest.raises(ValidationError, match="pth"):
        load_config_files(files)
