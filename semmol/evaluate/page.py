"""A self-contained HTML page of the results: what ``snakemake --report`` shows in place.

The report displays images, PDF and HTML inside the page but offers Markdown and CSV files
only as downloads, so the tables of ``summary.md`` are rendered here as HTML, beside the
figures, which are embedded as data URIs (the page needs no other file).
"""

from __future__ import annotations

import base64
import html
from pathlib import Path

from semmol.runtime.atomic import atomic_path

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5rem; color: #1f2937; max-width: 90rem; }
h1 { font-size: 1.5rem; } h2 { font-size: 1.2rem; margin-top: 2rem; }
p { max-width: 60rem; line-height: 1.4; }
table { border-collapse: collapse; font-size: 0.9rem; }
th, td { border: 1px solid #d1d5db; padding: 0.3rem 0.6rem; text-align: left; }
td { white-space: nowrap; }
th { background: #f3f4f6; }
figure { margin: 1rem 0; } figure img { max-width: 100%; }
figcaption { font-size: 0.85rem; color: #4b5563; }
"""


def markdown_html(text: str) -> str:
    """Markdown (headings, paragraphs, pipe tables, **bold**, `code`) as HTML (python-markdown)."""
    import markdown

    return markdown.markdown(text, extensions=["tables"])


def figure_html(png: str | Path, caption: str) -> str:
    """A PNG file as an HTML figure, the image embedded as a data URI.

    Args:
        png: the PNG file.
        caption: what the figure shows (also its alt text).
    """
    data = base64.b64encode(Path(png).read_bytes()).decode("ascii")
    text = html.escape(caption)
    image = f'<img src="data:image/png;base64,{data}" alt="{text}">'
    return f"<figure>{image}<figcaption>{text}</figcaption></figure>"


def write_page(path: str | Path, *, title: str, parts: list[str]) -> None:
    """Write a standalone HTML page of HTML fragments, atomically.

    Args:
        path: the HTML file to write.
        title: the page title.
        parts: the body's fragments, in order (:func:`markdown_html`, :func:`figure_html`).
    """
    head = f'<meta charset="utf-8"><title>{html.escape(title)}</title><style>{_STYLE}</style>'
    body = "\n".join(parts)
    with atomic_path(path) as tmp:
        tmp.write_text(f"<!DOCTYPE html>\n<html><head>{head}</head>\n<body>\n{body}\n</body></html>\n")
