from __future__ import annotations

import base64
import html.parser

from semmol.evaluate.page import figure_html, markdown_html, write_page

MARKDOWN = """# Results

Scores: mean ± std; **bold** is best, files in `results/<run>`.
Second line of the same paragraph.

| benchmark | semmol | rf_ecfp4 (baseline) |
|---|---|---|
| bbbp | **0.720 ± 0.020 (3)** | 0.690 ± 0.010 (3) |
| esol |  | 1.160 ± 0.010 (3) |

## Data
"""


class _Tables(html.parser.HTMLParser):
    """The text of every table cell, per row, and the tags seen."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[str]] = []
        self.tags: list[str] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th"):
            self.rows[-1].append("".join(self._cell))
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def test_markdown_tables_headings_and_paragraphs_become_html():
    text = markdown_html(MARKDOWN)
    parser = _Tables()
    parser.feed(text)
    assert parser.rows == [
        ["benchmark", "semmol", "rf_ecfp4 (baseline)"],
        ["bbbp", "0.720 ± 0.020 (3)", "0.690 ± 0.010 (3)"],
        ["esol", "", "1.160 ± 0.010 (3)"],
    ]
    assert "<td><strong>0.720 ± 0.020 (3)</strong></td>" in text
    assert "<h1>Results</h1>" in text and "<h2>Data</h2>" in text
    assert "<strong>bold</strong> is best, files in <code>results/&lt;run&gt;</code>." in text
    assert parser.tags.count("p") == 1 and parser.tags.count("table") == 1


def test_page_embeds_the_figure(tmp_path):
    png = tmp_path / "plot.png"
    png.write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    out = tmp_path / "page.html"
    write_page(out, title="a & b", parts=[markdown_html(MARKDOWN), figure_html(png, "scores <per seed>")])
    text = out.read_text()
    assert text.startswith("<!DOCTYPE html>") and "<title>a &amp; b</title>" in text
    data = base64.b64encode(png.read_bytes()).decode()
    assert f'<img src="data:image/png;base64,{data}" alt="scores &lt;per seed&gt;">' in text
    assert "<figcaption>scores &lt;per seed&gt;</figcaption>" in text
    assert text.index("<table>") < text.index("<figure>")
