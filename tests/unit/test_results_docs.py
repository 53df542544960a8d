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


def is_results_table(header: str) -> bool:
    """A results table is headed by a benchmark column (summary.md) or by a run column and
    metric columns (summary-by-run.md), unlike a page's other tables of runs."""
    by_run = header.startswith("| run |") and ("↑ |" in header or "↓ |" in header)
    return header.startswith("| benchmark |") or by_run


def results_rows(text: str) -> set[str]:
    """The lines of the results tables of a page."""
    return {line for table in tables(text) if is_results_table(table[0]) for line in table}


def pipeline_rows() -> set[str]:
    """Every results-table line of the committed copies of the pipeline's summary files."""
    summaries = [*RESULTS.rglob("summary.md"), *RESULTS.rglob("summary-by-run.md")]
    return {line for summary in summaries for line in results_rows(summary.read_text())}


def test_readme_results_are_copied_from_the_pipeline():
    rows = results_rows((ROOT / "README.md").read_text())
    assert rows, "README.md has no results table"
    assert rows <= pipeline_rows()


def test_results_pages_quote_only_pipeline_rows():
    pages = list(RESULTS.rglob("README.md"))
    assert pages
    for page in pages:
        assert results_rows(page.read_text()) <= pipeline_rows(), page
