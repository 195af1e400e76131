"""A self-contained HTML report of one analysis or a comparison, readable offline.

Plotly's script is inlined once (``include_plotlyjs=True``), so the file opens without a network and its charts
stay interactive. It holds, per file: the arc and the segments, positivity beside engagement, the per-face lanes
with thumbnails, the timeline, valence/arousal and distribution charts, the faces, the markers and their
statistics, the settings and model versions, and the models' limits (the "Limits" sections of their cards in
``models/``). With ``anonymise`` the thumbnails are pixelated. Every name is HTML-escaped.

No PDF: the libraries that print HTML with its charts to PDF either need a browser or a system library stack
(WeasyPrint: Pango; it would also drop the interactive charts), or a network (kaleido's Chrome download). The
browser's own "Print to PDF" of this file works offline.
"""

from __future__ import annotations

import base64
import html
import re
from functools import cache

import numpy as np
import pandas as pd

from emotion.labels import FACE_LABELS
from emotion.record import Result
from emotion.report.compare import curves_figure, span_table, summaries
from emotion.report.engagement import CONTEXTS
from emotion.report.markers import Marker, span_stats
from emotion.report.segments import headline, lanes_figure, result_segments, segments_table, speaker
from emotion.report.views import affect_figure, distribution_figure, faces_table, overview_table, timeline_figure
from emotion.settings import models_dir

STYLE = (
    "body{font-family:system-ui,sans-serif;margin:2rem;max-width:75rem;color:#222}"
    "table{border-collapse:collapse;margin:.5rem 0 1rem}td,th{border:1px solid #ccc;padding:.3rem .6rem;"
    "text-align:left;vertical-align:top}.error{color:#b00}.head{font-size:1.2rem}.muted{color:#666}"
    "img.thumb{width:64px;height:64px;border-radius:4px}.kpi{display:inline-block;border:1px solid #ddd;"
    "border-radius:6px;padding:.5rem 1rem;margin:0 .6rem .6rem 0}.kpi b{display:block;font-size:1.3rem}"
)


@cache
def card_limits(model: str) -> tuple[str, ...]:
    """The bullet points of the "Limits" section of a model's card in ``models/`` (empty when there is none)."""
    if not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", model or ""):
        return ()
    path = models_dir() / f"{model}.md"
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return ()
    section = re.search(r"^## Limits[^\n]*\n(.*?)(?=^## |\Z)", text, flags=re.M | re.S)
    if not section:
        return ()
    items = re.split(r"^- ", section.group(1), flags=re.M)[1:]
    return tuple(" ".join(item.split()) for item in items if item.strip())


def _md(text: str) -> str:
    """Escape, then keep a card's **bold** and `code`."""
    out = html.escape(text)
    out = re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", out)
    return re.sub(r"`(.+?)`", r"<code>\1</code>", out)


def _pixelate_jpeg(data: str) -> str:
    """A base64 JPEG thumbnail made unrecognisable (anonymised reports)."""
    import cv2

    from emotion.report.annotate import jpeg_base64, pixelate

    raw = base64.b64decode(data.split(",", 1)[-1])
    img = cv2.imdecode(np.frombuffer(raw, np.uint8), cv2.IMREAD_COLOR)
    if img is None:
        return ""
    return jpeg_base64(pixelate(img, [[0, 0, img.shape[1], img.shape[0]]], grow=0.0), 0, 85)


def _table(frame: pd.DataFrame, percent: tuple[str, ...] = ()) -> str:
    """A DataFrame as an escaped HTML table: no "None" or "nan" cells, percentages at one precision."""
    frame = frame.copy()
    for col in frame.columns:
        if col in percent:
            frame[col] = [f"{v:.0%}" if isinstance(v, int | float) and not pd.isna(v) else "" for v in frame[col]]
        else:
            frame[col] = ["" if v is None or (isinstance(v, float) and pd.isna(v)) else v for v in frame[col]]
    return frame.to_html(index=False, escape=True, border=0, float_format=lambda v: f"{v:.2f}")


def _kpis(result: Result, context: str) -> str:
    head = headline(result, context)
    pos = head["positivity"]
    eng = head["engagement"]
    parts = [
        ("Arc", head["arc"] or "—"),
        ("Positivity (valence, -1..1)", f"{pos:+.2f}" if pos is not None else "—"),
        (f"Engagement ({CONTEXTS.get(context, context)}, 1–5)", f"{eng:.1f}" if eng is not None else "—"),
    ]
    out = "".join(f"<span class='kpi'>{html.escape(k)}<b>{html.escape(v)}</b></span>" for k, v in parts)
    if head["segments"]:
        out += f"<p class='head'>Segments: {html.escape(head['segments'])}</p>"
    return out + f"<p class='muted'>Engagement: {html.escape(head['engagement_explained'])}. It is reported " \
                 "beside positivity, not merged into it.</p>"


def _about(result: Result) -> str:
    made = result.produced_by or {}
    rows = "".join(f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>" for k, v in made.items())
    settings = ", ".join(f"{k}: {v}" for k, v in sorted((result.settings or {}).items()))
    limits = []
    for key in ("face_model", "detector", "voice_model"):
        name = str(made.get(key) or "")
        for item in card_limits(name)[:6]:
            limits.append(f"<li><b>{html.escape(name)}</b>: {_md(item)}</li>")
    limits.append("<li>Valence and arousal of faces are a documented mapping of the emotion probabilities, not a "
                  "separate model; engagement is a documented heuristic, not a trained model.</li>")
    return (f"<details><summary>Settings, model versions and the models' limits</summary><table>{rows}</table>"
            f"<p class='muted'>Settings: {html.escape(settings)}</p><ul>{''.join(limits)}</ul></details>")


def _faces(result: Result, thumbnails: dict, anonymise: bool) -> str:
    table = faces_table(result)
    if table.empty:
        return ""
    rows = []
    for row in table.itertuples():
        thumb = thumbnails.get(str(row.face))
        if thumb and anonymise:
            thumb = _pixelate_jpeg(thumb)
        img = f"<img class='thumb' alt='face {row.face}' src='data:image/jpeg;base64,{thumb}'>" if thumb else ""
        seen = f"{row.first_s:.1f}–{row.last_s:.1f} s ({row.frames})" if result.kind != "image" else "in the picture"
        val = f"{row.valence:+.2f}" if row.valence is not None and not pd.isna(row.valence) else ""
        rows.append(f"<tr><td>{img}</td><td>{row.face}</td><td>{html.escape(row.emotion)}</td>"
                    f"<td>{row.confidence:.0%}</td><td>{val}</td><td>{seen}</td></tr>")
    return ("<h3>Faces</h3><table><tr><th>face</th><th>id</th><th>emotion</th><th>confidence</th><th>valence</th>"
            f"<th>seen (frames)</th></tr>{''.join(rows)}</table>")


def html_report(
    results: list[Result],
    context: str = "general",
    extras: list[dict] | None = None,
    markers: list[list[Marker]] | None = None,
    anonymise: bool = False,
    compare: bool = False,
) -> str:
    """The report as one HTML page.

    Args:
        results: The analyses (one for a single report, several for a batch or a comparison).
        context: Engagement context key.
        extras: Per result, its extras (``thumbnails``), in the order of ``results``.
        markers: Per result, its markers and spans.
        anonymise: Pixelate the thumbnails (also done when a record ran with the ``anonymise`` setting).
        compare: Add the comparison: valence curves on a normalised time axis, summaries side by side and the
            per-span statistics across files (with the first file's markers).
    """
    extras = extras or [{} for _ in results]
    markers = markers or [[] for _ in results]
    title = "Emotion Studio comparison" if compare else "Emotion Studio report"
    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>{title}</title><style>{STYLE}</style></head><body>",
        f"<h1>{title}</h1>",
    ]
    script = True

    def chart(fig) -> str:  # noqa: ANN001 - a plotly figure
        nonlocal script
        out = fig.to_html(full_html=False, include_plotlyjs=script, config={"displaylogo": False})
        script = False
        return out

    if len(results) > 1:
        table = overview_table(results, context).rename(columns={
            "duration_s": "duration (s)", "face_emotion": "face emotion", "face_confidence": "face confidence",
            "voice_emotion": "voice emotion"})
        parts.append(_table(table, percent=("face confidence",)))
    if compare and len(results) > 1:
        good = [r for r in results if not r.error]
        parts.append("<h2>Comparison</h2>")
        parts.append(_table(summaries(good, context), percent=("face confidence",)))
        parts.append(chart(curves_figure(good, "valence", normalised=True)))
        shared = next((m for m in markers if m), [])
        if shared:
            parts.append("<h3>Per-span statistics across files</h3>")
            parts.append(_table(span_table(good, shared, context), percent=("confidence", *FACE_LABELS)))
    for result, extra, spans in zip(results, extras, markers):
        parts.append(f"<h2>{html.escape(result.file)}</h2>")
        if result.error:
            parts.append(f"<p class='error'>{html.escape(result.error)}</p>")
            continue
        hide = anonymise or bool((result.settings or {}).get("anonymise"))
        thumbs = {str(k): v for k, v in ((extra or {}).get("thumbnails") or {}).items()}
        if hide:
            thumbs = {k: _pixelate_jpeg(v) for k, v in thumbs.items()}
        parts.append(_kpis(result, context))
        if result.kind != "image":
            who, rule = speaker(result)
            parts.append(f"<h3>Per-face lanes</h3><p class='muted'>Face and voice fused in the lane of: "
                         f"{'face ' + str(who) if who is not None else 'no face'} ({html.escape(rule)}).</p>")
            parts.append(chart(lanes_figure(result, thumbs, spans=spans, speaking=who)))
            spans_table = segments_table(result_segments(result))
            if len(spans_table):
                parts.append("<h3>Segments</h3>" + _table(spans_table, percent=("probability",)))
            parts.append(chart(timeline_figure(result)))
            affect = affect_figure(result)
            if affect is not None:
                parts.append(chart(affect))
        parts.append(chart(distribution_figure(result)))
        parts.append(_faces(result, thumbs, False))
        if spans:
            parts.append("<h3>Markers</h3>" + _table(span_stats(result, spans, context),
                                                     percent=("confidence", *FACE_LABELS)))
        parts.append(_about(result))
    parts.append("</body></html>")
    return "\n".join(parts)
