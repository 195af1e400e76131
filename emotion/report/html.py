"""A self-contained HTML report of one or more results: summary, timeline and distribution, readable offline.

Plotly's script is embedded once, so the file opens without a network. Every name is HTML-escaped.
"""

from __future__ import annotations

import html

from emotion.record import Result
from emotion.report.views import affect_figure, distribution_figure, overview_table, timeline_figure


def html_report(results: list[Result], context: str = "general") -> str:
    """The report as one HTML page."""
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>Emotion Studio report</title>",
        "<style>body{font-family:system-ui,sans-serif;margin:2rem;max-width:70rem}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:.3rem .6rem;text-align:left}.error{color:#b00}</style></head><body>",
        "<h1>Emotion Studio report</h1>",
        overview_table(results, context).to_html(index=False, escape=True, border=0),
    ]
    script = True
    for result in results:
        parts.append(f"<h2>{html.escape(result.file)}</h2>")
        if result.error:
            parts.append(f"<p class='error'>{html.escape(result.error)}</p>")
            continue
        made = result.produced_by
        if made:
            parts.append(f"<p><small>{html.escape(', '.join(f'{k}: {v}' for k, v in made.items()))}</small></p>")
        figures = (timeline_figure(result), affect_figure(result), distribution_figure(result))
        for figure in (f for f in figures if f is not None):
            parts.append(figure.to_html(full_html=False, include_plotlyjs=script))
            script = False
    parts.append("</body></html>")
    return "\n".join(parts)
