"""The files a user and the Snakemake workflow catalog read at the repository root.

CITATION.cff has CFF's required keys, LICENSE is the MIT licence pyproject.toml declares, and
.snakemake-workflow-catalog.yml has the usage keys the catalog reads.
"""

from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def test_citation_has_the_required_cff_keys() -> None:
    citation = yaml.safe_load((ROOT / "CITATION.cff").read_text(encoding="utf-8"))
    assert citation["cff-version"] == "1.2.0"
    for key in ("message", "title", "authors"):
        assert citation[key], key


def test_every_cited_reference_has_a_type_title_and_authors() -> None:
    citation = yaml.safe_load((ROOT / "CITATION.cff").read_text(encoding="utf-8"))
    assert citation["references"]
    for reference in citation["references"]:
        assert reference["type"] and reference["title"] and reference["authors"], reference


def test_licence_is_mit() -> None:
    assert (ROOT / "LICENSE").read_text(encoding="utf-8").startswith("MIT License")


def test_workflow_catalog_file_has_the_usage_the_catalog_reads() -> None:
    usage = yaml.safe_load((ROOT / ".snakemake-workflow-catalog.yml").read_text(encoding="utf-8"))["usage"]
    assert set(usage["mandatory-flags"]) == {"desc", "flags"}
    assert usage["software-stack-deployment"]["conda"] is True
