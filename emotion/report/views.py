"""Figures and tables of one result record: pure functions, no Streamlit.

Every builder takes a :class:`~emotion.record.Result` and returns a plotly ``Figure`` or a
pandas ``DataFrame``, so the app, notebooks and tests share them.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from emotion.labels import FACE_LABELS, VOICE_TO_FACE
from emotion.record import Frame, Result, Segment
from emotion.report.engagement import engagement_score

COLORS: dict[str, str] = {
    "angry": "#d62728",
    "disgust": "#6b8e23",
    "fear": "#9467bd",
    "happy": "#f2b701",
    "sad": "#1f77b4",
    "surprise": "#ff7f0e",
    "neutral": "#8c8c8c",
    "calm": "#17becf",
    "fearful": "#9467bd",
    "surprised": "#ff7f0e",
}
"""One colour per label, shared by every chart (voice labels reuse their face label's colour)."""

NO_SPEECH_COLOR = "#e6e6e6"
DISAGREE_COLOR = "rgba(214, 39, 40, 0.13)"


def color(label: str | None) -> str:
    """Return the chart colour of a label (grey for None or unknown labels)."""
    return COLORS.get(label or "", NO_SPEECH_COLOR)


def _faces_in(frames: list[Frame], start: float, end: float) -> list:
    return [f for fr in frames if start <= fr.t <= end for f in fr.faces]


def _top(scores: dict[str, float]) -> str | None:
    return max(scores, key=scores.__getitem__) if scores else None


def _mean_scores(items: list[dict[str, float]], labels: tuple[str, ...] | None = None) -> dict[str, float]:
    if not items:
        return {}
    keys = labels or tuple(dict.fromkeys(k for s in items for k in s))
    return {k: float(np.mean([s.get(k, 0.0) for s in items])) for k in keys}


def disagreements(result: Result) -> pd.DataFrame:
    """Return the voice segments where the face and the voice disagree.

    For each speech segment, the face label is the top class of the mean probabilities of the
    accepted faces sampled within [start, end]; the voice label is mapped onto the face labels
    (calm -> neutral, fearful -> fear, surprised -> surprise). Segments with no face in them
    are not compared, and neither are uncertain ones (calibrated confidence under the threshold the
    analysis ran with): only a confident voice label can disagree with the face.

    Returns:
        Columns ``start``, ``end``, ``face``, ``voice`` (the original voice label) and ``voice_as_face``.
    """
    rows = []
    for seg in result.audio.segments if result.audio else []:
        if not (seg.speech and seg.emotion) or seg.uncertain:
            continue
        faces = _faces_in(result.frames, seg.start, seg.end)
        if not faces:
            continue
        face = _top(_mean_scores([f.scores for f in faces], FACE_LABELS))
        mapped = VOICE_TO_FACE.get(seg.emotion, seg.emotion)
        if face != mapped:
            rows.append(
                {"start": seg.start, "end": seg.end, "face": face, "voice": seg.emotion, "voice_as_face": mapped}
            )
    return pd.DataFrame(rows, columns=["start", "end", "face", "voice", "voice_as_face"])


def _merge_spans(spans: list[tuple[float, float]]) -> list[tuple[float, float]]:
    merged: list[list[float]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return [(a, b) for a, b in merged]


def _lanes(segments: list[Segment]) -> list[int]:
    """Assign each segment the first lane where it does not overlap the lane's last segment."""
    ends: list[float] = []
    lanes = []
    for seg in segments:
        for i, end in enumerate(ends):
            if seg.start >= end - 1e-6:
                ends[i] = seg.end
                lanes.append(i)
                break
        else:
            ends.append(seg.end)
            lanes.append(len(ends) - 1)
    return lanes


def timeline_figure(result: Result, mode: str = "top") -> go.Figure:
    """Return the face and voice timeline on one shared time axis.

    Args:
        result: An analysed video or audio file.
        mode: "top": each tracked face's top-emotion probability over time, coloured by emotion;
            "stacked": the class probabilities (mean over the faces of each frame) stacked to 1.

    The voice row shows each analysis window as a bar over [start, end] (overlapping windows go
    on alternate lanes); grey bars are windows without speech. Spans where the face and the voice
    disagree (see :func:`disagreements`) are shaded red across both rows.
    """
    if mode not in ("top", "stacked"):
        raise ValueError("mode must be 'top' or 'stacked'")
    segments = result.audio.segments if result.audio else []
    has_face, has_voice = bool(result.frames) and result.kind != "audio", bool(segments)
    rows = int(has_face) + int(has_voice) or 1
    titles = [t for t, on in (("Face", has_face), ("Voice", has_voice)) if on]
    fig = make_subplots(
        rows=rows,
        cols=1,
        shared_xaxes=True,
        vertical_spacing=0.12,
        row_heights=[0.68, 0.32] if rows == 2 else [1.0],
        subplot_titles=titles or None,
    )
    shown: set[str] = set()
    if has_face:
        _face_traces(fig, result, mode, shown)
        fig.update_yaxes(title_text="probability", range=[0, 1.02], row=1, col=1)
        if not any(fr.faces for fr in result.frames):
            fig.add_annotation(
                text="no face passed the quality filters",
                x=0.5,
                y=0.5,
                xref="x domain",
                yref="y domain",
                showarrow=False,
                font={"color": "#888"},
                row=1,
                col=1,
            )
    if has_voice:
        clash = disagreements(result) if has_face else None
        flagged = set(zip(clash["start"], clash["end"])) if clash is not None else set()
        _voice_traces(fig, segments, rows, shown, flagged)
    if has_face and has_voice:
        clash = disagreements(result)
        for start, end in _merge_spans(list(zip(clash["start"], clash["end"]))):
            fig.add_vrect(x0=start, x1=end, fillcolor=DISAGREE_COLOR, line_width=0, layer="below", row="all", col=1)
        if len(clash):
            fig.add_trace(
                go.Scatter(
                    x=[None],
                    y=[None],
                    mode="markers",
                    marker={"size": 12, "symbol": "square", "color": "rgba(214, 39, 40, 0.35)"},
                    name="face ≠ voice",
                ),
                row=1,
                col=1,
            )
    end = max([result.duration] + [s.end for s in segments] + [fr.t for fr in result.frames])
    fig.update_xaxes(range=[0, max(end, 0.1)], row=rows, col=1, title_text="time (s)")
    fig.update_layout(
        height=430 if rows == 2 else (300 if has_face else 220),
        margin={"l": 10, "r": 10, "t": 40, "b": 10},
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.06, "x": 0},
        hovermode="closest",
        barmode="overlay",
    )
    return fig


def _face_traces(fig: go.Figure, result: Result, mode: str, shown: set[str]) -> None:
    frames = result.frames
    if mode == "stacked":
        ts = [fr.t for fr in frames]
        means = [_mean_scores([f.scores for f in fr.faces], FACE_LABELS) for fr in frames]
        for label in FACE_LABELS:
            fig.add_trace(
                go.Scatter(
                    x=ts,
                    y=[m.get(label) if m else None for m in means],
                    name=label,
                    legendgroup=label,
                    stackgroup="face",
                    mode="lines",
                    line={"width": 0.5, "color": color(label)},
                    hovertemplate=f"{label}: %{{y:.0%}} at %{{x:.1f}} s<extra></extra>",
                ),
                row=1,
                col=1,
            )
            shown.add(label)
        return
    ids = sorted({f.id for fr in frames for f in fr.faces})
    for face_id in ids:
        points = [(fr.t, f) for fr in frames for f in fr.faces if f.id == face_id]
        fig.add_trace(
            go.Scatter(
                x=[t for t, _ in points],
                y=[(f.smoothed or f.scores)[f.emotion] for _, f in points],
                mode="lines",
                line={"color": "rgba(120,120,120,0.45)", "width": 1.5},
                name=f"face {face_id}",
                showlegend=False,
                hoverinfo="skip",
            ),
            row=1,
            col=1,
        )
    for label in FACE_LABELS:
        points = [(fr.t, f) for fr in frames for f in fr.faces if f.emotion == label]
        if not points:
            continue
        fig.add_trace(
            go.Scatter(
                x=[t for t, _ in points],
                y=[(f.smoothed or f.scores)[label] for _, f in points],
                mode="markers",
                marker={"color": color(label), "size": 10, "line": {"width": 1, "color": "white"}},
                name=label,
                legendgroup=label,
                customdata=[f.id for _, f in points],
                hovertemplate=f"face %{{customdata}}: {label} %{{y:.0%}} at %{{x:.1f}} s<extra></extra>",
            ),
            row=1,
            col=1,
        )
        shown.add(label)


def _voice_traces(
    fig: go.Figure, segments: list[Segment], row: int, shown: set[str], flagged: set[tuple[float, float]]
) -> None:
    lanes = _lanes(segments)
    names = [f"lane {i + 1}" for i in range(max(lanes) + 1)]
    groups: dict[str | None, list[tuple[Segment, int]]] = {}
    for seg, lane in zip(segments, lanes):
        groups.setdefault(seg.emotion if seg.speech else None, []).append((seg, lane))
    for label, items in groups.items():
        face_label = VOICE_TO_FACE.get(label or "", label)
        fig.add_trace(
            go.Bar(
                base=[s.start for s, _ in items],
                x=[s.end - s.start for s, _ in items],
                y=[names[lane] for _, lane in items],
                orientation="h",
                marker={
                    "color": color(label),
                    "opacity": [0.35 if s.uncertain else 1.0 for s, _ in items],  # uncertain: faded, label kept
                    "line": {
                        "width": [3 if (s.start, s.end) in flagged else 1 for s, _ in items],
                        "color": ["#d62728" if (s.start, s.end) in flagged else "white" for s, _ in items],
                    },
                },
                name=label or "no speech",
                legendgroup=face_label or "no speech",
                showlegend=(label is None) or (face_label not in shown),
                customdata=[
                    [
                        s.start,
                        s.end,
                        (label or "no speech") + (" (uncertain)" if s.uncertain else ""),
                        (s.scores.get(label, 0.0) if label else 0.0),
                    ]
                    for s, _ in items
                ],
                hovertemplate="voice %{customdata[2]} %{customdata[3]:.0%} over %{customdata[0]:.1f}"
                "–%{customdata[1]:.1f} s<extra></extra>",
                width=0.8,
            ),
            row=row,
            col=1,
        )
        if face_label:
            shown.add(face_label)
    fig.update_yaxes(showticklabels=False, row=row, col=1, categoryorder="array", categoryarray=names[::-1])


def affect_figure(result: Result) -> go.Figure | None:
    """Return valence and arousal over time: each tracked face's (smoothed) course and the voice's windows.

    Valence runs from -1 (unpleasant) to +1 (pleasant), arousal from 0 (calm) to 1 (activated); the face's come from
    :mod:`emotion.face.affect`, the voice's from its own model. None when nothing carries either.
    """
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.1, subplot_titles=("Valence", "Arousal"))
    drawn = False
    ids = sorted({f.id for fr in result.frames for f in fr.faces if f.valence is not None})
    for face_id in ids:
        points = [(fr.t, f) for fr in result.frames for f in fr.faces if f.id == face_id and f.valence is not None]
        for row, key in ((1, "valence"), (2, "arousal")):
            fig.add_trace(
                go.Scatter(
                    x=[t for t, _ in points],
                    y=[getattr(f, key) for _, f in points],
                    mode="lines+markers",
                    name=f"face {face_id}",
                    legendgroup=f"face {face_id}",
                    showlegend=row == 1,
                    hovertemplate=f"face {face_id}: {key} %{{y:.2f}} at %{{x:.1f}} s<extra></extra>",
                ),
                row=row,
                col=1,
            )
        drawn = True
    voiced = [s for s in (result.audio.segments if result.audio else []) if s.speech and s.arousal is not None]
    for row, key in ((1, "valence"), (2, "arousal")):
        spans = [(s, getattr(s, key)) for s in voiced if getattr(s, key) is not None]
        if not spans:
            continue
        fig.add_trace(
            go.Scatter(
                x=[(s.start + s.end) / 2 for s, _ in spans],
                y=[v for _, v in spans],
                mode="lines+markers",
                line={"dash": "dot", "color": "#444"},
                name="voice",
                legendgroup="voice",
                showlegend=row == 1 or not any(s.valence is not None for s in voiced),
                hovertemplate=f"voice: {key} %{{y:.2f}} at %{{x:.1f}} s<extra></extra>",
            ),
            row=row,
            col=1,
        )
        drawn = True
    if not drawn:
        return None
    fig.update_yaxes(range=[-1.05, 1.05], zeroline=True, row=1, col=1)
    fig.update_yaxes(range=[-0.02, 1.02], row=2, col=1)
    fig.update_xaxes(title_text="time (s)", row=2, col=1)
    fig.update_layout(height=360, margin={"l": 10, "r": 10, "t": 40, "b": 10}, hovermode="closest",
                      legend={"orientation": "h", "yanchor": "bottom", "y": 1.08, "x": 0})
    return fig


def distribution_figure(result: Result) -> go.Figure:
    """Return a bar chart of the share of each emotion: faces by top label, confident speech windows by mapped label."""
    fig = go.Figure()
    shares = result.summary.get("emotion_shares") or {}
    if result.summary.get("faces"):
        fig.add_trace(
            go.Bar(
                x=list(FACE_LABELS),
                y=[shares.get(label, 0.0) for label in FACE_LABELS],
                name="faces",
                marker={"color": [color(label) for label in FACE_LABELS]},
                hovertemplate="faces %{x}: %{y:.0%}<extra></extra>",
            )
        )
    speech = [s for s in (result.audio.segments if result.audio else []) if s.speech and s.emotion and not s.uncertain]
    if speech:
        mapped = [VOICE_TO_FACE.get(s.emotion, s.emotion) for s in speech if s.emotion]
        fig.add_trace(
            go.Bar(
                x=list(FACE_LABELS),
                y=[mapped.count(label) / len(mapped) for label in FACE_LABELS],
                name="voice",
                marker={
                    "color": [color(label) for label in FACE_LABELS],
                    "pattern": {"shape": "/" if fig.data else "", "fgcolor": "white"},
                },
                hovertemplate="voice %{x}: %{y:.0%}<extra></extra>",
            )
        )
    both = len(fig.data) == 2
    fig.update_layout(
        barmode="group",
        height=300,
        margin={"l": 10, "r": 10, "t": 30 if both else 10, "b": 10},
        yaxis={"tickformat": ".0%", "range": [0, 1], "title": "share"},
        showlegend=False,
        title={"text": "solid: faces · hatched: voice", "font": {"size": 12}, "x": 0.01} if both else None,
    )
    return fig


def faces_table(result: Result, thumbnails: dict | None = None) -> pd.DataFrame:
    """Return one row per tracked face id.

    Args:
        result: An analysed image or video.
        thumbnails: Optional face id (int or str) to image URL or base64 JPEG; becomes the ``thumbnail`` column.

    Returns:
        Columns ``face``, ``thumbnail``, ``frames``, ``first_s``, ``last_s``, ``emotion`` (top class of the
        mean (smoothed) probabilities), ``confidence``, mean ``valence`` and ``arousal``, and one mean-probability
        column per face label.
    """
    thumbnails = {str(k): v for k, v in (thumbnails or {}).items()}
    rows = []
    ids = sorted({f.id for fr in result.frames for f in fr.faces})
    for face_id in ids:
        seen = [(fr.t, f) for fr in result.frames for f in fr.faces if f.id == face_id]
        mean = _mean_scores([f.smoothed or f.scores for _, f in seen], FACE_LABELS)
        affect = [(f.valence, f.arousal) for _, f in seen if f.valence is not None and f.arousal is not None]
        top = _top(mean)
        assert top is not None  # seen is never empty, so mean has every face label
        thumb = thumbnails.get(str(face_id))
        if thumb and not thumb.startswith("data:"):
            thumb = "data:image/jpeg;base64," + thumb
        rows.append(
            {
                "face": face_id,
                "thumbnail": thumb,
                "frames": len(seen),
                "first_s": seen[0][0],
                "last_s": seen[-1][0],
                "emotion": top,
                "confidence": round(mean[top], 4),
                "valence": round(float(np.mean([v for v, _ in affect])), 3) if affect else None,
                "arousal": round(float(np.mean([a for _, a in affect])), 3) if affect else None,
            }
            | {label: round(mean[label], 4) for label in FACE_LABELS}
        )
    columns = ["face", "thumbnail", "frames", "first_s", "last_s", "emotion", "confidence", "valence", "arousal",
               *FACE_LABELS]
    return pd.DataFrame(rows, columns=columns)


def dropped_table(result: Result) -> pd.DataFrame:
    """Return one row per sampled frame that was dropped or lost a face, with the reasons.

    Returns:
        Columns ``t``, ``frame``, ``used`` (whether the frame still gave a face), ``faces_dropped`` and
        ``reasons`` (frame reasons and each dropped face's reason, joined by "; ").
    """
    rows = []
    for fr in result.frames:
        if fr.quality.ok and not fr.dropped_faces:
            continue
        reasons = list(fr.quality.reasons)
        for d in fr.dropped_faces:
            text = f"face at {d.box[0]},{d.box[1]} ({d.box[2]}×{d.box[3]} px): {d.reason}"
            reasons.append(text)
        rows.append(
            {
                "t": fr.t,
                "frame": fr.index,
                "used": fr.quality.ok,
                "faces_dropped": len(fr.dropped_faces),
                "reasons": "; ".join(reasons),
            }
        )
    return pd.DataFrame(rows, columns=["t", "frame", "used", "faces_dropped", "reasons"])


def slice_result(result: Result, start: float, end: float) -> Result:
    """Return a copy of ``result`` holding only the frames in [start, end) and voice segments centred there."""
    frames = [fr for fr in result.frames if start <= fr.t < end]
    audio = result.audio
    if audio is not None:
        audio = replace(audio, segments=[s for s in audio.segments if start <= (s.start + s.end) / 2 < end])
    return replace(result, frames=frames, audio=audio, duration=max(0.0, min(end, result.duration) - start))


def _window_row(result: Result, scope: str, start: float, end: float, context: str) -> dict:
    part = slice_result(result, start, end)
    faces = [f for fr in part.frames for f in fr.faces]
    face_mean = _mean_scores([f.scores for f in faces], FACE_LABELS)
    speech = [s for s in (part.audio.segments if part.audio else []) if s.speech and s.emotion]
    voice_mean = _mean_scores([s.scores for s in speech])
    face, voice = _top(face_mean), _top(voice_mean)
    return {
        "window": scope,
        "start_s": round(start, 2),
        "end_s": round(end, 2),
        "faces": len(faces),
        "face_emotion": face,
        "face_confidence": round(face_mean[face], 4) if face else None,
        "speech_windows": len(speech),
        "voice_emotion": voice,
        "voice_confidence": round(voice_mean[voice], 4) if voice else None,
        "engagement": engagement_score(part, context).score,
    }


def window_summaries(result: Result, sizes: tuple[float, ...] = (30.0, 60.0), context: str = "general") -> pd.DataFrame:
    """Return summaries over consecutive windows of each size, and cumulative ones.

    Only windows that hold a sampled frame or the centre of a voice window are listed, so the table grows with the
    samples, never with the span: a file whose timestamps jump by years gives a few rows, not millions.

    Args:
        result: An analysed video or audio file.
        sizes: Window lengths in seconds (default 30 s and 1 min).
        context: Engagement context for the ``engagement`` column.

    Returns:
        One row per window: ``window`` ("30 s", "1 min", ... or "cumulative"), ``start_s``, ``end_s``, the
        number of faces and the top face emotion with its mean probability, the same for speech windows, and
        the engagement score of the window. Cumulative rows run from 0 to the end of each listed window of the
        smallest size.
    """
    segments = result.audio.segments if result.audio else []
    end = max([result.duration] + [fr.t for fr in result.frames] + [s.end for s in segments])
    rows: list[dict] = []
    if end <= 0:
        return pd.DataFrame(rows)
    times = [fr.t for fr in result.frames] + [(s.start + s.end) / 2 for s in segments]
    for size in sizes:
        label = f"{size / 60:g} min" if size >= 60 else f"{size:g} s"
        for k in _held_windows(times, size, end):
            start, stop = k * size, min((k + 1) * size, end)
            rows.append(_window_row(result, label, start, stop if stop < end else end + 1e-6, context))
    step = min(sizes)
    for k in _held_windows(times, step, end):
        stop = min((k + 1) * step, end)
        rows.append(_window_row(result, "cumulative", 0.0, stop if stop < end else end + 1e-6, context))
    df = pd.DataFrame(rows)
    df["end_s"] = df["end_s"].clip(upper=round(end, 2))
    return df


def _held_windows(times: list[float], size: float, end: float) -> list[int]:
    """Return the indices of the consecutive ``size``-second windows up to ``end`` that hold one of ``times``."""
    last = max(0, int(np.ceil(end / size)) - 1)
    return sorted({min(last, max(0, int(t // size))) for t in times}) or [last]


def image_caption(result: Result) -> str:
    """Return a one-line caption for an analysed image: faces found and dropped."""
    frame = result.frames[0] if result.frames else None
    if frame is None:
        return "no frame"
    found, dropped = len(frame.faces), len(frame.dropped_faces)
    text = f"{found} face{'s' if found != 1 else ''} analysed"
    if dropped:
        text += f", {dropped} dropped ({'; '.join(sorted({d.reason for d in frame.dropped_faces}))})"
    if not found and frame.quality.reasons:
        text += f" ({'; '.join(frame.quality.reasons)})"
    return text


def overview_table(results: list[Result], context: str = "general") -> pd.DataFrame:
    """Return one row per result for a batch: file, kind, duration, face and voice emotion, engagement, error."""
    rows = []
    for r in results:
        voice = (r.audio.summary or {}) if r.audio else {}
        rows.append(
            {
                "file": r.file,
                "kind": r.kind,
                "duration_s": round(r.duration, 1),
                "face_emotion": r.summary.get("dominant_emotion"),
                "face_confidence": r.summary.get("confidence") if r.summary.get("dominant_emotion") else None,
                "voice_emotion": voice.get("dominant_emotion"),
                "engagement": None if r.error else engagement_score(r, context).score,
                "error": r.error or "",
            }
        )
    return pd.DataFrame(rows)
