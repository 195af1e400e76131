"""Comparing several analyses (participants, conditions), with no Streamlit.

Curves on one (or a normalised) time axis, summaries side by side, per-span statistics across files, and one CSV
of it all.
"""

from __future__ import annotations

import io

import pandas as pd
import plotly.graph_objects as go

from emotion.record import Result
from emotion.report.markers import Marker, span_stats
from emotion.report.segments import arc_text, course, headline, positivity, result_segments

MEASURES = ("valence", "arousal", "happy", "sad", "angry", "fear", "surprise", "disgust", "neutral")
"""What a comparison can overlay: valence, arousal, or one label's (smoothed) probability."""


def curve(result: Result, measure: str = "valence", normalised: bool = False) -> tuple[list[float], list[float]]:
    """One file's course of ``measure`` (mean over its faces per sampled frame); time in s, or 0..1 of its length."""
    points = course(result)
    xs, ys = [], []
    length = max([result.duration] + [p.t for p in points] + [1e-9])
    for p in points:
        value = getattr(p, measure) if measure in ("valence", "arousal") else p.probs.get(measure)
        if value is None:
            continue
        xs.append(p.t / length if normalised else p.t)
        ys.append(float(value))
    return xs, ys


def curves_figure(results: list[Result], measure: str = "valence", normalised: bool = False) -> go.Figure:
    """The files' curves of one measure overlaid on a common (or normalised) time axis."""
    fig = go.Figure()
    for i, result in enumerate(results):
        xs, ys = curve(result, measure, normalised)
        fig.add_trace(go.Scatter(
            x=xs, y=ys, mode="lines+markers", name=f"{i + 1}. {result.file}",
            hovertemplate=f"{result.file}: {measure} %{{y:.2f}} at %{{x:.2f}}<extra></extra>",
        ))
    y = {"valence": [-1.05, 1.05]}.get(measure, [-0.02, 1.02])
    fig.update_layout(
        height=360, margin={"l": 10, "r": 10, "t": 30, "b": 10}, hovermode="closest",
        xaxis={"title": "share of the file's length" if normalised else "time (s)",
               "tickformat": ".0%" if normalised else None},
        yaxis={"title": measure, "range": y, "tickformat": ".0%" if measure not in ("valence", "arousal") else None},
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.02, "x": 0},
    )
    return fig


def summaries(results: list[Result], context: str = "general") -> pd.DataFrame:
    """One row per file: kind, length, faces, dominant face and voice label, arc, segments, positivity, engagement."""
    rows = []
    for result in results:
        head = headline(result, context)
        voice = (result.audio.summary or {}) if result.audio else {}
        rows.append({
            "file": result.file,
            "kind": result.kind,
            "duration (s)": round(result.duration, 1),
            "faces": len(result.summary.get("face_ids") or []),
            "face emotion": result.summary.get("dominant_emotion") or "",
            "face confidence": result.summary.get("confidence") if result.summary.get("dominant_emotion") else None,
            "voice emotion": voice.get("dominant_emotion") or ("no speech" if result.audio else ""),
            "arc": head["arc"],
            "segments": arc_text(result_segments(result)),
            "positivity": positivity(result),
            "engagement": head["engagement"],
            "error": result.error or "",
        })
    return pd.DataFrame(rows)


def span_table(results: list[Result], markers: list[Marker], context: str = "general") -> pd.DataFrame:
    """Per-span statistics of every file, one row per (file, marker)."""
    frames = [span_stats(r, markers, context, file=True) for r in results if not r.error]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def to_csv(results: list[Result], markers: list[Marker] | None = None, context: str = "general") -> str:
    """The comparison as one CSV: a ``summary`` section, then a ``spans`` section when there are markers."""
    buf = io.StringIO()
    table = summaries(results, context)
    table.insert(0, "section", "summary")
    table.to_csv(buf, index=False, lineterminator="\n")
    if markers:
        spans = span_table(results, markers, context)
        if len(spans):
            spans.insert(0, "section", "spans")
            buf.write("\n")
            spans.to_csv(buf, index=False, lineterminator="\n")
    return buf.getvalue()
