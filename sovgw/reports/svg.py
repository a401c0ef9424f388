"""Small SVG bar charts, inline in HTML: they print to PDF as vectors and need no script,
so a report renders the same in a browser, in headless Chromium and on paper."""

from __future__ import annotations

from collections.abc import Mapping
from html import escape

PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2")
# Levels keep one colour each, whatever the period holds, so two reports compare at a glance.
LEVEL_COLOURS = {
    "PUBLIC": "#2ca02c",
    "INTERNAL": "#1f77b4",
    "CONFIDENTIAL": "#ff7f0e",
    "PERSONAL": "#9467bd",
    "PRIVILEGED": "#d62728",
}


def _colours(keys: list[str]) -> dict[str, str]:
    spare = iter(PALETTE * (1 + len(keys) // len(PALETTE)))
    return {k: LEVEL_COLOURS.get(k) or next(spare) for k in keys}


def _empty(title: str, width: int) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{width}" height="60" '
        f'aria-label="{escape(title)}"><title>{escape(title)}</title>'
        '<text x="8" y="34" font-size="13" fill="#555">nothing in this period</text></svg>'
    )


def stacked_columns(
    title: str, series: Mapping[str, Mapping[str, int]], width: int = 640, height: int = 240
) -> str:
    """One column per x label (a day), stacked by key (a level or a destination), with a
    legend and each column's total written above it."""
    if not series:
        return _empty(title, width)
    keys = sorted({k for values in series.values() for k in values})
    colours = _colours(keys)
    top = max(sum(values.values()) for values in series.values()) or 1
    left, bottom, legend_h = 40, 36, 18 * ((len(keys) + 2) // 3)
    plot_h = height - bottom - 20
    step = (width - left - 10) / len(series)
    bar = max(4.0, min(48.0, step * 0.7))
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{width}" '
        f'height="{height + legend_h}" aria-label="{escape(title)}"><title>{escape(title)}</title>',
        f'<line x1="{left}" y1="{20 + plot_h}" x2="{width - 10}" y2="{20 + plot_h}" '
        'stroke="#333"/>',
        f'<text x="4" y="28" font-size="11" fill="#333">{top}</text>',
    ]
    for i, (label, values) in enumerate(series.items()):
        x = left + i * step + (step - bar) / 2
        y: float = 20 + plot_h
        for key in keys:
            count = values.get(key, 0)
            if not count:
                continue
            h = plot_h * count / top
            y -= h
            parts.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{h:.1f}" '
                f'fill="{colours[key]}"><title>{escape(label)} {escape(key)}: {count}'
                "</title></rect>"
            )
        parts.append(
            f'<text x="{x + bar / 2:.1f}" y="{y - 4:.1f}" font-size="11" text-anchor="middle">'
            f"{sum(values.values())}</text>"
        )
        parts.append(
            f'<text x="{x + bar / 2:.1f}" y="{height - bottom + 30:.1f}" font-size="11" '
            f'text-anchor="middle">{escape(label)}</text>'
        )
    for i, key in enumerate(keys):
        lx, ly = left + (i % 3) * 200, height + 4 + 18 * (i // 3)
        parts.append(f'<rect x="{lx}" y="{ly}" width="12" height="12" fill="{colours[key]}"/>')
        parts.append(f'<text x="{lx + 18}" y="{ly + 11}" font-size="12">{escape(key)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def bars(title: str, values: Mapping[str, int], width: int = 640) -> str:
    """One horizontal bar per label, longest first, with its count."""
    if not values:
        return _empty(title, width)
    ordered = sorted(values.items(), key=lambda kv: (-kv[1], kv[0]))
    top = ordered[0][1] or 1
    label_w, row = 260, 24
    colours = _colours([label for label, _ in ordered])
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{width}" '
        f'height="{row * len(ordered) + 8}" aria-label="{escape(title)}">'
        f"<title>{escape(title)}</title>"
    ]
    for i, (label, count) in enumerate(ordered):
        y = 4 + i * row
        w = (width - label_w - 60) * count / top
        parts.append(
            f'<text x="{label_w - 6}" y="{y + 15}" font-size="12" text-anchor="end">'
            f"{escape(label)}</text>"
        )
        parts.append(
            f'<rect x="{label_w}" y="{y + 3}" width="{w:.1f}" height="16" fill="{colours[label]}"/>'
        )
        parts.append(f'<text x="{label_w + w + 6:.1f}" y="{y + 15}" font-size="12">{count}</text>')
    parts.append("</svg>")
    return "".join(parts)
