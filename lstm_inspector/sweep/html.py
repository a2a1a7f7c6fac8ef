"""A sweep as one self-contained HTML page: summary, histogram of the largest difference, rows.

No script, no external file: the histogram is inline SVG (one bar per decade of
``max |a - b|``), so the page can be mailed or attached to a ticket as it is.
"""
from __future__ import annotations

import math
from html import escape

from .summary import (DECADES, KIND_TEXT, answer_text, first_text, number_text, summarize,
                      worst_first)

_STYLE = """
body { font-family: sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; font-size: 13px; }
th, td { border-bottom: 1px solid #ddd; padding: 3px 8px; text-align: left; }
td.num { text-align: right; font-family: monospace; }
tr.agree td.kind { color: #1a7f37; } tr.precision td.kind { color: #9a6700; }
tr.structural td.kind, tr.error td.kind { color: #cf222e; font-weight: bold; }
.verdict { color: #555; font-size: 12px; }
"""


def histogram_svg(rows, width: int = 640, height: int = 200, atol: float | None = None) -> str:
    """Bars: how many utterances' largest difference falls in each decade; a dashed line at
    ``atol`` (bin k >= 1 starts at 10 ** (DECADES[0] + k - 1), so v sits at that fraction)."""
    bins = summarize(rows)["histogram"]
    top = max([count for _, count in bins] + [1])
    bar = width / len(bins)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height + 40}" '
             'role="img" aria-label="histogram of the largest difference per utterance">']
    for k, (label, count) in enumerate(bins):
        h = (height - 20) * count / top
        x = k * bar
        parts.append(f'<rect x="{x + 2:.1f}" y="{height - h:.1f}" width="{bar - 4:.1f}" '
                     f'height="{h:.1f}" fill="#4078c0"><title>{escape(label)}: {count}</title></rect>')
        if count:
            parts.append(f'<text x="{x + bar / 2:.1f}" y="{height - h - 4:.1f}" font-size="11" '
                         f'text-anchor="middle">{count}</text>')
        parts.append(f'<text x="{x + bar / 2:.1f}" y="{height + 16}" font-size="11" '
                     f'text-anchor="middle">{escape(label)}</text>')
    if atol and DECADES[0] <= math.log10(atol) < DECADES[-1] + 1:
        x = (math.log10(atol) - DECADES[0] + 1) * bar
        parts.append(f'<line x1="{x:.1f}" y1="10" x2="{x:.1f}" y2="{height}" stroke="#cf222e" '
                     f'stroke-dasharray="4 3"/><text x="{x + 4:.1f}" y="20" font-size="11" '
                     f'fill="#cf222e">atol {atol:g}</text>')
    parts.append(f'<text x="{width / 2:.0f}" y="{height + 36}" font-size="12" text-anchor="middle">'
                 'largest |a - b| of the utterance (per decade)</text></svg>')
    return "\n".join(parts)


def sweep_html(result: dict) -> str:
    """The page for a sweep result (the ``--json`` object)."""
    rows, summary = result["rows"], result["summary"]
    counts = summary["counts"]
    head = (f"<h1>Sweep: {escape(str(result['source']))}</h1>"
            f"<p>model <code>{escape(str(result['model']))}</code>, path B "
            f"<code>{escape(str(result['backend']))}</code> (ran as "
            f"{escape(', '.join(summary['backends']) or '-')}), tolerance atol={result['atol']:g} "
            f"rtol={result['rtol']:g}</p>"
            f"<p><b>{summary['done']}</b> of {summary['utterances']} utterances: "
            + ", ".join(f"<b>{counts[k]}</b> {KIND_TEXT[k]}" for k in counts) + "</p>")
    body = ["<table><tr><th>utterance</th><th>frames</th><th>verdict</th><th>largest diff</th>"
            "<th>first divergence</th><th>answer</th><th>time (s)</th></tr>"]
    for r in worst_first(rows):
        body.append(
            f'<tr class="{r["kind"]}"><td>{escape(r["name"])}</td>'
            f'<td class="num">{"-" if r["frames"] is None else r["frames"]}</td>'
            f'<td class="kind">{KIND_TEXT[r["kind"]]}<div class="verdict">{escape(r["verdict"] or "")}'
            f'</div></td><td class="num">{number_text(r["max_error"])}</td>'
            f'<td>{escape(first_text(r["first"]))}</td><td>{escape(answer_text(r["answer"]))}</td>'
            f'<td class="num">{"-" if r["seconds"] is None else format(r["seconds"], ".2f")}</td></tr>')
    body.append("</table>")
    return ("<!DOCTYPE html><html><head><meta charset='utf-8'><title>lstm-inspector sweep</title>"
            f"<style>{_STYLE}</style></head><body>{head}<h2>Largest difference per utterance</h2>"
            f"{histogram_svg(rows, atol=result.get('atol'))}<h2>Utterances, worst first</h2>{''.join(body)}</body></html>")
