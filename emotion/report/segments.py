"""Emotional segments of a file, the speaking face, and one timeline lane per tracked face (no Streamlit).

A *segment* is a run of samples with the same top label of the smoothed face probabilities ("sad 0-6 s"); runs
shorter than ``min_seconds`` are folded into a neighbour so one odd sample does not make a segment, and a gap
without a face (longer than :data:`GAP_SECONDS` or three sampling steps) ends a segment. The *arc* of a file is
its segment labels in order ("sad → fear → happy").

The *speaking face* gets the face/voice fusion in its lane. The rule (see :func:`speaker`): the only tracked face;
with several faces, the face whose mouth region changes most between its sampled frames, relative to the change
of its eye region (so a moving head is not taken for a talking mouth), when the video is at hand
(:func:`mouth_motion`); otherwise no face is chosen and no lane is fused.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from emotion.labels import FACE_LABELS, VOICE_TO_FACE
from emotion.record import Result
from emotion.report.engagement import FACE_WEIGHT, VOICE_WEIGHT, engagement_score
from emotion.report.views import color

GAP_SECONDS = 2.0
"""A stretch without a face at least this long (or three sampling steps) ends a segment."""
MIN_SECONDS = 1.0
"""Segments shorter than this are folded into a neighbour."""


@dataclass
class Span:
    """One emotional segment.

    Attributes:
        label: The top face label over the segment.
        start: First sampled time in it (s).
        end: Last sampled time in it (s).
        probability: Mean probability of ``label`` over its samples.
        valence: Mean valence (-1..1), None when not known.
        arousal: Mean arousal (0..1), None when not known.
        samples: Number of samples in it.
    """

    label: str
    start: float
    end: float
    probability: float
    valence: float | None = None
    arousal: float | None = None
    samples: int = 0


@dataclass
class Point:
    """One sample of a face's (or all faces') course: time, probabilities, valence and arousal."""

    t: float
    probs: dict[str, float]
    valence: float | None
    arousal: float | None


def face_ids(result: Result) -> list[int]:
    """The tracked face ids, in order."""
    return sorted({f.id for fr in result.frames for f in fr.faces})


def course(result: Result, face_id: int | None = None) -> list[Point]:
    """The (smoothed) probabilities over time of one face, or the mean over the faces of each frame (None)."""
    points = []
    for fr in result.frames:
        faces = [f for f in fr.faces if face_id is None or f.id == face_id]
        if not faces:
            continue
        probs = {k: float(np.mean([(f.smoothed or f.scores).get(k, 0.0) for f in faces])) for k in FACE_LABELS}
        vals = [f.valence for f in faces if f.valence is not None]
        aros = [f.arousal for f in faces if f.arousal is not None]
        points.append(Point(fr.t, probs, float(np.mean(vals)) if vals else None,
                            float(np.mean(aros)) if aros else None))
    return points


def voice_probs(result: Result, t: float) -> dict[str, float] | None:
    """The confident speech windows covering ``t``, mean probabilities mapped onto the face labels; None if none."""
    wins = [s for s in (result.audio.segments if result.audio else [])
            if s.speech and s.emotion and not s.uncertain and s.start <= t <= s.end]
    if not wins:
        return None
    out = dict.fromkeys(FACE_LABELS, 0.0)
    for seg in wins:
        for label, p in seg.scores.items():
            mapped = VOICE_TO_FACE.get(label, label)
            if mapped in out:
                out[mapped] += p / len(wins)
    total = sum(out.values())
    return {k: v / total for k, v in out.items()} if total > 0 else None


def fused_course(result: Result, face_id: int) -> list[Point]:
    """One face's course fused with the voice where it speaks: ``0.75 face + 0.25 voice`` (engagement's weights).

    Samples with no confident speech window over them keep the face's probabilities; valence and arousal stay the
    face's.
    """
    points = []
    for p in course(result, face_id):
        voice = voice_probs(result, p.t)
        if voice is None:
            points.append(p)
            continue
        probs = {k: FACE_WEIGHT * p.probs[k] + VOICE_WEIGHT * voice[k] for k in FACE_LABELS}
        points.append(Point(p.t, probs, p.valence, p.arousal))
    return points


def segments(points: list[Point], min_seconds: float = MIN_SECONDS) -> list[Span]:
    """Cut a course into emotional segments (see the module docstring)."""
    if not points:
        return []
    steps = np.diff([p.t for p in points])
    gap = max(GAP_SECONDS, 3 * float(np.median(steps))) if len(steps) else GAP_SECONDS
    labels = [max(p.probs, key=p.probs.__getitem__) for p in points]
    runs: list[list[int]] = []  # runs of sample indices
    for i, label in enumerate(labels):
        if runs and labels[runs[-1][-1]] == label and points[i].t - points[runs[-1][-1]].t < gap:
            runs[-1].append(i)
        else:
            runs.append([i])
    while len(runs) > 1:
        lengths = [points[r[-1]].t - points[r[0]].t for r in runs]
        short = min(range(len(runs)), key=lambda k: (lengths[k], len(runs[k])))
        if lengths[short] >= min_seconds:
            break
        nbrs = [k for k in (short - 1, short + 1)
                if 0 <= k < len(runs) and abs(points[runs[k][0]].t - points[runs[short][0]].t) < gap * 4]
        if not nbrs:
            break
        # fold into the neighbour whose label the short run's samples rate highest
        best = max(nbrs, key=lambda k: np.mean([points[i].probs[labels[runs[k][0]]] for i in runs[short]]))
        for i in runs[short]:
            labels[i] = labels[runs[best][0]]
        merged = sorted(runs[short] + runs[best])
        lo, hi = min(short, best), max(short, best)
        runs[lo:hi + 1] = [merged]
        # a fold can join two runs of one label
        k = 0
        while k < len(runs) - 1:
            a, b = runs[k], runs[k + 1]
            if labels[a[0]] == labels[b[0]] and points[b[0]].t - points[a[-1]].t < gap:
                runs[k:k + 2] = [a + b]
            else:
                k += 1
    spans = []
    for run in runs:
        label = labels[run[0]]
        vals = [float(x) for x in (points[i].valence for i in run) if x is not None]
        aros = [float(x) for x in (points[i].arousal for i in run) if x is not None]
        spans.append(Span(label, points[run[0]].t, points[run[-1]].t,
                          round(float(np.mean([points[i].probs[label] for i in run])), 4),
                          round(float(np.mean(vals)), 3) if vals else None,
                          round(float(np.mean(aros)), 3) if aros else None, len(run)))
    return spans


def result_segments(result: Result, face_id: int | None = None, min_seconds: float = MIN_SECONDS) -> list[Span]:
    """The segments of one face, or of the mean over every face (None)."""
    return segments(course(result, face_id), min_seconds)


def seconds(x: float) -> str:
    """A time for text: one decimal, without a trailing ".0"."""
    return f"{x:.1f}".removesuffix(".0")


def arc(spans: list[Span]) -> str:
    """The labels in order: "sad → fear → happy" (repeats kept when they come back)."""
    return " → ".join(s.label for s in spans)


def arc_text(spans: list[Span]) -> str:
    """The segments as text: "sad 0-6 s, fear 7-9 s, happy 10-18 s"."""
    return ", ".join(f"{s.label} {seconds(s.start)}–{seconds(s.end)} s" for s in spans)


def segments_table(spans: list[Span]) -> pd.DataFrame:
    """One row per segment (start, end, label, probability, valence, arousal, samples)."""
    columns = ["label", "start", "end", "probability", "valence", "arousal", "samples"]
    return pd.DataFrame([asdict(s) for s in spans], columns=columns)


def positivity(result: Result) -> float | None:
    """Mean valence (-1..1) over every accepted face, else over the speech windows; None when neither has it."""
    vals = [f.valence for fr in result.frames for f in fr.faces if f.valence is not None]
    if not vals:
        vals = [s.valence for s in (result.audio.segments if result.audio else [])
                if s.speech and s.valence is not None]
    return round(float(np.mean(vals)), 3) if vals else None


def headline(result: Result, context: str = "general") -> dict:
    """The file's summary in words: ``arc``, ``segments`` (text), ``positivity`` and ``engagement`` side by side.

    Positivity (mean valence) and engagement (the 1-5 score) are separate numbers: a crying half lowers the
    positivity whatever the engagement says.
    """
    spans = result_segments(result)
    eng = engagement_score(result, context)
    return {
        "arc": arc(spans),
        "segments": arc_text(spans),
        "positivity": positivity(result),
        "engagement": eng.score,
        "engagement_explained": eng.explain(),
    }


def mouth_motion(path: str | Path, result: Result) -> dict[int, float]:
    """How much each face's mouth moves, from the sampled frames of the video at ``path``.

    The score is the mean change of the face's mouth region between its consecutive samples, less the change of
    its eye region (head motion).

    Returns:
        Face id to a motion score (grey levels, >= 0); empty when the video cannot be read.
    """
    import cv2

    from emotion.media import MediaError, iter_video_frames

    times = sorted({fr.t for fr in result.frames if fr.faces})
    try:
        images = {t: img for t, (_, _, img) in zip(times, iter_video_frames(path, times))}
    except (MediaError, OSError, ValueError):
        return {}

    def patch(img: np.ndarray, box: list[int], top: float, bottom: float) -> np.ndarray | None:
        sx = img.shape[1] / result.width if result.width else 1.0
        sy = img.shape[0] / result.height if result.height else 1.0
        x, y, w, h = box[0] * sx, box[1] * sy, box[2] * sx, box[3] * sy
        crop = img[int(y + top * h):int(y + bottom * h), int(x + 0.25 * w):int(x + 0.75 * w)]
        if crop.size == 0:
            return None
        gray = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY) if crop.ndim == 3 else crop
        return cv2.resize(gray, (32, 16), interpolation=cv2.INTER_AREA).astype(np.float32)

    out: dict[int, float] = {}
    for face_id in face_ids(result):
        seen = [(fr.t, f) for fr in result.frames for f in fr.faces if f.id == face_id and fr.t in images]
        diffs = []
        for (t0, a), (t1, b) in zip(seen, seen[1:]):
            if t1 - t0 > GAP_SECONDS:
                continue
            m0, m1 = patch(images[t0], a.box, 0.62, 0.92), patch(images[t1], b.box, 0.62, 0.92)
            e0, e1 = patch(images[t0], a.box, 0.2, 0.45), patch(images[t1], b.box, 0.2, 0.45)
            if m0 is None or m1 is None or e0 is None or e1 is None:
                continue
            diffs.append(max(0.0, float(np.abs(m1 - m0).mean() - np.abs(e1 - e0).mean())))
        out[face_id] = round(float(np.mean(diffs)), 3) if diffs else 0.0
    return out


def speaker(result: Result, motion: dict[int, float] | None = None) -> tuple[int | None, str]:
    """The speaking face and the rule that chose it, or (None, why not).

    Rule: no speech -> none; one tracked face -> that face ("the only face"); several -> the one whose mouth moves
    most (``motion`` from :func:`mouth_motion`), when it moves clearly more than the next (1.5 times).
    """
    ids = face_ids(result)
    speech = [s for s in (result.audio.segments if result.audio else []) if s.speech and s.emotion]
    if not speech:
        return None, "no speech"
    if not ids:
        return None, "no face"
    if len(ids) == 1:
        return ids[0], "the only face"
    if not motion:
        return None, "several faces and no video to see whose mouth moves"
    ranked = sorted(ids, key=lambda i: motion.get(i, 0.0), reverse=True)
    first, second = motion.get(ranked[0], 0.0), motion.get(ranked[1], 0.0)
    if first <= 0 or first < 1.5 * second:
        return None, "several faces, no mouth clearly moving more than the others"
    return ranked[0], "the face whose mouth moves most"


def lanes_figure(
    result: Result,
    thumbnails: dict | None = None,
    at: float | None = None,
    spans: Iterable = (),
    speaking: int | None = None,
) -> go.Figure:
    """One timeline lane per tracked face (with its thumbnail), the speaking face's fused lane, and the voice.

    Every sample is a square coloured by its top label (opacity: its probability); the segments lie under them as
    faded bars with their label. Every point's ``customdata[0]`` is its time, so a click can seek the video there.

    Args:
        result: An analysed video or audio file.
        thumbnails: Face id (str or int) to base64 JPEG, drawn at the start of each face's lane.
        at: The chosen moment, marked by a vertical line.
        spans: Markers: objects with ``start``, ``end`` and ``label`` (a span of zero length is a point marker).
        speaking: The speaking face, whose fused lane ("face N + voice") is added.
    """
    thumbnails = {str(k): v for k, v in (thumbnails or {}).items()}
    lanes: list[tuple[str, list[Point]]] = [(f"face {i}", course(result, i)) for i in face_ids(result)]
    if speaking is not None:
        where = next(k for k, (name, _) in enumerate(lanes) if name == f"face {speaking}")
        lanes.insert(where + 1, (f"face {speaking} + voice", fused_course(result, speaking)))
    fig = go.Figure()
    shown: set[str] = set()
    for name, points in lanes:
        for span in segments(points):
            fig.add_trace(go.Bar(
                base=[span.start - 0.15], x=[span.end - span.start + 0.3], y=[name], orientation="h",
                marker={"color": color(span.label), "opacity": 0.28, "line": {"width": 0}}, width=0.8,
                text=[span.label], textposition="inside", insidetextanchor="middle", showlegend=False,
                customdata=[[span.start, span.label, span.end]], name=name,
                hovertemplate=f"{name}: {span.label} %{{customdata[0]:.1f}}–%{{customdata[2]:.1f}} s<extra></extra>",
            ))
        for label in FACE_LABELS:
            pts = [p for p in points if max(p.probs, key=p.probs.__getitem__) == label]
            if not pts:
                continue
            fig.add_trace(go.Scatter(
                x=[p.t for p in pts], y=[name] * len(pts), mode="markers", name=label, legendgroup=label,
                showlegend=label not in shown,
                marker={"symbol": "square", "size": 11, "color": color(label),
                        "opacity": [0.35 + 0.65 * p.probs[label] for p in pts], "line": {"width": 0}},
                customdata=[[p.t, label, p.probs[label]] for p in pts],
                hovertemplate=f"{name}: {label} %{{customdata[2]:.0%}} at %{{x:.1f}} s<extra></extra>",
            ))
            shown.add(label)
    voiced = [s for s in (result.audio.segments if result.audio else []) if s.speech and s.emotion]
    if voiced:
        fig.add_trace(go.Scatter(
            x=[(s.start + s.end) / 2 for s in voiced], y=["voice"] * len(voiced), mode="markers", name="voice",
            showlegend=False,
            marker={"symbol": "square", "size": 11, "color": [color(s.emotion) for s in voiced],
                    "opacity": [0.35 if s.uncertain else 1.0 for s in voiced]},
            customdata=[[(s.start + s.end) / 2, (s.emotion or "") + (" (uncertain)" if s.uncertain else ""),
                         s.scores.get(s.emotion or "", 0.0), s.start, s.end] for s in voiced],
            hovertemplate="voice: %{customdata[1]} %{customdata[2]:.0%} over %{customdata[3]:.1f}–"
                          "%{customdata[4]:.1f} s<extra></extra>",
        ))
    names = [name for name, _ in lanes] + (["voice"] if voiced else [])
    end = max([result.duration] + [fr.t for fr in result.frames] + [s.end for s in voiced] + [0.1])
    for span in spans:
        if span.end > span.start:
            fig.add_vrect(x0=span.start, x1=span.end, fillcolor="rgba(60,60,60,0.08)", line_width=0,
                          annotation_text=span.label, annotation_position="top left")
        else:
            fig.add_vline(x=span.start, line={"color": "#555", "dash": "dot"}, annotation_text=span.label)
    if at is not None:
        fig.add_vline(x=at, line={"color": "#d62728", "width": 2},
                      annotation_text=f"▶ {seconds(at)} s", annotation_position="top right")
    left = 0.0
    for name in names:
        face = name.removeprefix("face ")
        thumb = thumbnails.get(face) if name.startswith("face ") and face.isdigit() else None
        if thumb:
            left = 0.07
            fig.add_layout_image(
                source=thumb if thumb.startswith("data:") else "data:image/jpeg;base64," + thumb,
                xref="paper", yref="y", x=-0.1, y=name, sizex=0.07, sizey=0.9, xanchor="right", yanchor="middle",
                sizing="contain", layer="above",
            )
    fig.update_yaxes(categoryorder="array", categoryarray=names[::-1], type="category")
    fig.update_xaxes(range=[-0.3, end + 0.3], title_text="time (s) · click a point to play the video from there")
    fig.update_layout(
        height=90 + 46 * max(1, len(names)), margin={"l": 10 + int(left * 1700), "r": 10, "t": 30, "b": 10},
        barmode="overlay", clickmode="event+select", dragmode=False, hovermode="closest",
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.02, "x": 0},
    )
    return fig


def picked_time(selection: dict | None) -> float | None:
    """The time of the first selected point of a lanes (or timeline) figure's selection event, or None."""
    points = ((selection or {}).get("selection") or {}).get("points") or []
    for point in points:
        data = point.get("customdata")
        if isinstance(data, list | tuple) and data and isinstance(data[0], int | float):
            return float(data[0])
        if isinstance(point.get("x"), int | float):
            return float(point["x"])
    return None
