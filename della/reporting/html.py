"""A table document (title, paragraphs, one or more tables, notes) written as Markdown and as HTML.

The HTML goes into Snakemake's report (``snakemake --report``), which shows HTML entries inline but
offers CSV files only as downloads; the Markdown is what a reader opens in the repository. Both come
from the same ``Document``, so they cannot disagree. Other rules add a table to the report the same
way: build a ``Document``, ``write_document(doc, stem)`` (``stem.md`` + ``stem.html``), and declare
``report(stem + ".html", category=...)``.
"""
from __future__ import annotations

import html
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from della.io import atomic_write_text


@dataclass
class Section:
    """One table: ``frame`` holds display strings; ``bold`` (same shape, booleans) marks cells."""
    heading: str | None
    frame: pd.DataFrame
    bold: pd.DataFrame | None = None


@dataclass
class Document:
    title: str
    paragraphs: list[str] = field(default_factory=list)
    sections: list[Section] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # bullet points under the tables
    appendix: list[str] = field(default_factory=list)  # Markdown of other rules, verbatim (HTML: as text)


def _cells(section: Section, fmt) -> pd.DataFrame:
    cells = section.frame.astype(str).copy()
    if section.bold is not None:
        for col in cells.columns:
            if col in section.bold.columns:
                cells[col] = [fmt(v) if b else v for v, b in zip(cells[col], section.bold[col])]
    return cells


def to_markdown(doc: Document) -> str:
    parts = [f"# {doc.title}"] + doc.paragraphs
    for section in doc.sections:
        if section.heading:
            parts.append(f"## {section.heading}")
        cells = _cells(section, lambda v: f"**{v}**")
        parts.append(cells.to_markdown(index=False, disable_numparse=True) if len(cells) else "_no rows_")
    if doc.notes:
        parts.append("\n".join(f"- {note}" for note in doc.notes))
    parts += [text.strip() for text in doc.appendix]
    return "\n\n".join(parts) + "\n"


STYLE = ("body{font-family:sans-serif;font-size:14px;margin:1em}table{border-collapse:collapse;margin:.5em 0 1.5em}"
         "th,td{border:1px solid #ccc;padding:3px 7px;text-align:right;white-space:nowrap}"
         "th{background:#f3f3f3}td:first-child,td:nth-child(2),th:first-child,th:nth-child(2){text-align:left}"
         "li{margin:.2em 0}")


def to_html(doc: Document) -> str:
    esc = html.escape
    parts = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{esc(doc.title)}</title>"
             f"<style>{STYLE}</style></head><body>", f"<h1>{esc(doc.title)}</h1>"]
    parts += [f"<p>{esc(p)}</p>" for p in doc.paragraphs]
    for section in doc.sections:
        if section.heading:
            parts.append(f"<h2>{esc(section.heading)}</h2>")
        if not len(section.frame):
            parts.append("<p><em>no rows</em></p>")
            continue
        escaped = Section(section.heading, section.frame.astype(str).map(esc), section.bold)
        cells = _cells(escaped, lambda v: f"<b>{v}</b>")
        head = "".join(f"<th>{esc(str(c))}</th>" for c in cells.columns)
        rows = "".join("<tr>" + "".join(f"<td>{v}</td>" for v in row) + "</tr>" for row in cells.itertuples(index=False))
        parts.append(f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>")
    if doc.notes:
        parts.append("<ul>" + "".join(f"<li>{esc(n)}</li>" for n in doc.notes) + "</ul>")
    parts += [f"<pre>{esc(text.strip())}</pre>" for text in doc.appendix]
    return "\n".join(parts) + "\n</body></html>\n"


def write_document(doc: Document, stem) -> tuple[Path, Path]:
    """``stem.md`` and ``stem.html``, each written atomically."""
    stem = Path(stem)
    md, page = stem.with_name(stem.name + ".md"), stem.with_name(stem.name + ".html")
    atomic_write_text(md, to_markdown(doc), encoding="utf-8")
    atomic_write_text(page, to_html(doc), encoding="utf-8")
    return md, page


def text_page(title: str, blocks: list[tuple[str, str]]) -> str:
    """A simple HTML page of ``(heading, preformatted text)`` blocks (config, samples, data notes)."""
    esc = html.escape
    parts = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{esc(title)}</title>"
             f"<style>{STYLE} pre{{background:#f7f7f7;padding:.6em;white-space:pre-wrap}}</style></head><body>",
             f"<h1>{esc(title)}</h1>"]
    for heading, text in blocks:
        parts.append(f"<h2>{esc(heading)}</h2><pre>{esc(text)}</pre>")
    return "\n".join(parts) + "\n</body></html>\n"
