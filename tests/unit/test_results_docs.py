"""The results quoted in the docs are the pipeline's own tables, unedited."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "docs" / "results"


def tables(text: str) -> list[list[str]]:
    """The Markdown tables of a page, each a list of its lines."""
    blocks, block = [], []
    for line in [*text.splitlines(), ""]:
        if line.startswith("|"):
            block.append(line)
        elif block:
            blocks.append(block)
            block = []
    return blocks


def results_rows(text: str) -> set[str]:
    """The lines of the results tables (header starting with a benchmark column) of a page."""
    return {line for table in tables(text) if table[0].startswith("| benchmark |") for line in table}


def pipeline_rows() -> set[str]:
    """Every results-table line of the committed copies of the pipeline's summary.md files."""
    return {line for summary in RESULTS.rglob("summary.md") for line in results_rows(summary.read_text())}


def test_readme_results_are_copied_from_the_pipeline():
    rows = results_rows((ROOT / "README.md").read_text())
    assert rows, "README.md has no results table"
    assert rows <= pipeline_rows()


def test_results_pages_quote_only_pipeline_rows():
    pages = list(RESULTS.rglob("README.md"))
    assert pages
    for page in pages:
        assert results_rows(page.read_text()) <= pipeline_rows(), page
