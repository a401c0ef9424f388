"""Reports as titled tables, each rendered once per format (Markdown, CSV, HTML) from the same
``Section`` objects, so the formats of one report cannot say different things."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass
from html import escape


@dataclass(frozen=True)
class Section:
    title: str
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    note: str = ""


def markdown(title: str, sections: Iterable[Section]) -> str:
    def cell(text: str) -> str:
        return text.replace("|", "/").replace("\n", " ")

    lines = [f"# {title}", ""]
    for section in sections:
        lines += [f"## {section.title}", ""]
        lines.append("| " + " | ".join(section.header) + " |")
        lines.append("|" + "---|" * len(section.header))
        lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in section.rows]
        lines += ["", section.note, ""] if section.note else [""]
    return "\n".join(lines)


def csv_text(sections: Iterable[Section]) -> str:
    """One row per cell (section, column, row number, value): every section in one file."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["section", "column", "row", "value"])
    for section in sections:
        for index, row in enumerate(section.rows, start=1):
            for column, value in zip(section.header, row, strict=True):
                writer.writerow([section.title, column, index, value])
    return out.getvalue()


STYLE = """
@page { size: A4; margin: 14mm 12mm; }
body { font-family: 'DejaVu Sans', Arial, sans-serif; font-size: 11px; color: #111;
  margin: 0 16px; }
h1 { font-size: 18px; margin: 12px 0 4px; }
h2 { font-size: 14px; margin: 18px 0 6px; border-bottom: 1px solid #999; break-after: avoid; }
table { border-collapse: collapse; width: 100%; margin-bottom: 6px; }
th, td { border: 1px solid #bbb; padding: 3px 5px; text-align: left; vertical-align: top; }
th { background: #eef1f5; }
tr { break-inside: avoid; }
code { font-size: 10px; }
.status { padding: 6px 10px; font-weight: bold; margin: 8px 0; }
.ok { background: #e3f4e1; border: 1px solid #2ca02c; }
.gaps { background: #fde8e8; border: 1px solid #d62728; }
.charts { display: flex; flex-wrap: wrap; gap: 8px 24px; }
.chart { break-inside: avoid; }
.chart h3 { font-size: 12px; margin: 8px 0 2px; }
.note { color: #333; }
"""


def html_table(section: Section) -> str:
    def cell(text: str) -> str:
        shown = escape(text)
        return (
            f"<td><code>{shown}</code></td>" if text.startswith("sovgw ") else f"<td>{shown}</td>"
        )

    head = "".join(f"<th>{escape(h)}</th>" for h in section.header)
    rows = "".join("<tr>" + "".join(cell(c) for c in row) + "</tr>" for row in section.rows)
    note = f'<p class="note">{escape(section.note)}</p>' if section.note else ""
    return f"<h2>{escape(section.title)}</h2><table><tr>{head}</tr>{rows}</table>{note}"


def html_document(title: str, body: Iterable[str]) -> str:
    """A whole page: the title, the shared style and ``body`` (already escaped HTML)."""
    heading = escape(title)
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{heading}</title><style>{STYLE}</style></head><body>"
        f"<h1>{heading}</h1>" + "".join(body) + "</body></html>\n"
    )
