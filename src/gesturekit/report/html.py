"""The report page: one static HTML file with relative links, no script, no network.

Opens from ``file://``: styles are inline, images and videos are files under ``assets/``, the
favicon is an empty data URL (so the browser requests nothing that does not exist).
"""

from __future__ import annotations

import html
import math
from typing import Any

from gesturekit.report.collect import Section, Table

CSS = """
body { font-family: system-ui, sans-serif; margin: 1.5rem; color: #222; max-width: 1400px; }
h1 { margin-bottom: 0.2rem; } h2 { border-bottom: 1px solid #ccc; padding-bottom: 0.2rem; margin-top: 2rem; }
.meta { color: #666; font-size: 0.9rem; }
table { border-collapse: collapse; margin: 0.6rem 0; font-size: 0.85rem; }
th, td { border: 1px solid #ddd; padding: 0.25rem 0.5rem; text-align: right; }
th:first-child, td:first-child { text-align: left; }
td.best { font-weight: bold; background: #e8f4e8; }
.note { color: #666; font-size: 0.8rem; }
.grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(420px, 1fr)); gap: 1rem; }
figure { margin: 0; } figure img, figure video { width: 100%; border: 1px solid #eee; }
figcaption { font-size: 0.85rem; color: #444; margin-top: 0.2rem; }
.transcript { font-size: 0.8rem; color: #555; font-style: italic; }
nav a { margin-right: 1rem; }
"""


def _cell(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, float):
        return "nan" if math.isnan(v) else f"{v:.4g}"
    return html.escape(str(v))


def table_html(t: Table) -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in t.header)
    rows = []
    for i, row in enumerate(t.rows):
        cells = "".join(
            f'<td class="best">{_cell(v)}</td>' if t.best.get((i, j)) else f"<td>{_cell(v)}</td>"
            for j, v in enumerate(row)
        )
        rows.append(f"<tr>{cells}</tr>")
    note = f'<p class="note">{html.escape(t.note)}</p>' if t.note else ""
    body = "".join(rows)
    title = html.escape(t.title)
    return f"<h3>{title}</h3><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{note}"


def _figure(src: str, caption: str, video: bool = False, transcript: str = "") -> str:
    s = html.escape(src, quote=True)
    media = (
        f'<video controls preload="metadata" src="{s}"></video>'
        if video
        else f'<img src="{s}" alt="{html.escape(caption, quote=True)}">'
    )
    tr = f'<div class="transcript">{html.escape(transcript)}</div>' if transcript else ""
    return f"<figure>{media}<figcaption>{html.escape(caption)}</figcaption>{tr}</figure>"


def section_html(i: int, sec: Section) -> str:
    parts = [f'<h2 id="s{i}">{html.escape(sec.title)} <span class="meta">({sec.kind})</span></h2>']
    parts.append(f'<p class="meta">source: {html.escape(sec.source)}</p>')
    parts += [f'<p class="note">{html.escape(n)}</p>' for n in sec.notes]
    parts += [table_html(t) for t in sec.tables]
    if sec.curves:
        parts.append("<h3>Training curves</h3><div class='grid'>")
        parts += [_figure(src, cap) for src, cap in sec.curves]
        parts.append("</div>")
    if sec.images:
        parts.append("<h3>Figures</h3><div class='grid'>")
        parts += [_figure(src, cap) for src, cap in sec.images]
        parts.append("</div>")
    if sec.videos:
        parts.append("<h3>Videos (generated | ground truth)</h3><div class='grid'>")
        parts += [_figure(v["src"], v["caption"], True, v.get("transcript", "")) for v in sec.videos]
        parts.append("</div>")
    return "\n".join(parts)


def page(title: str, sections: list[Section], comparison: Table | None, generated: str) -> str:
    nav = " ".join(f'<a href="#s{i}">{html.escape(s.title)}</a>' for i, s in enumerate(sections))
    body = [
        f"<h1>{html.escape(title)}</h1>",
        f'<p class="meta">{html.escape(generated)}</p>',
        f"<nav>{nav}</nav>",
    ]
    if comparison is not None:
        body.append('<h2 id="compare">Comparison</h2>' + table_html(comparison))
    if not sections:
        body.append("<p>No runs or samples were found in the given folders.</p>")
    body += [section_html(i, s) for i, s in enumerate(sections)]
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<title>{html.escape(title)}</title><link rel="icon" href="data:,">'
        f"<style>{CSS}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n"
    )
