"""Named markers and spans on a file's timeline (stimulus shown, question asked) and their statistics (no Streamlit).

A marker is a :class:`Marker` with ``start``, ``end`` and ``label``; ``end == start`` is a point in time. Markers
come from the page or from a CSV file with the header ``start,end,label`` (seconds). :func:`span_stats` gives,
per span, the mean face probabilities, the dominant label, mean valence and arousal, the voice's dominant label
and the engagement score of that part of the file.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from emotion.labels import FACE_LABELS
from emotion.record import Result
from emotion.report.engagement import engagement_score
from emotion.report.views import slice_result

MAX_MARKERS = 500
"""Most markers read from one CSV file."""


class MarkerError(ValueError):
    """A marker or a markers CSV that cannot be used; the message is one line to show."""


@dataclass(frozen=True)
class Marker:
    """A named point (``end == start``) or span of time, in seconds."""

    start: float
    end: float
    label: str

    def text(self) -> str:
        """The marker in words: "label (3–7 s)" or "label (at 3 s)"."""
        if self.end > self.start:
            return f"{self.label} ({self.start:g}–{self.end:g} s)"
        return f"{self.label} (at {self.start:g} s)"


def marker(start: float, end: float | None, label: str) -> Marker:
    """A checked marker: finite times, start >= 0, end >= start (None: a point), a label of 1-80 characters.

    Raises:
        MarkerError: With a one-line reason.
    """
    label = " ".join(str(label).split())
    end = start if end is None else end
    if not all(isinstance(v, int | float) and math.isfinite(v) for v in (start, end)):
        raise MarkerError("start and end must be numbers of seconds")
    if start < 0 or end < start:
        raise MarkerError(f"'{label}': needs 0 <= start <= end (got {start:g} to {end:g})")
    if not label or len(label) > 80:
        raise MarkerError("a marker needs a label of 1 to 80 characters")
    return Marker(round(float(start), 3), round(float(end), 3), label)


def read_csv(text: str | bytes) -> list[Marker]:
    """Read markers from CSV text with the columns ``start,end,label``.

    A header row is optional; an empty end makes a point marker.

    Raises:
        MarkerError: A row that is not a marker, naming its line.
    """
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise MarkerError("the markers file is not UTF-8 text") from None
    out = []
    for n, row in enumerate(csv.reader(io.StringIO(text)), start=1):
        if not row or all(not c.strip() for c in row):
            continue
        if n == 1 and row[0].strip().lower() == "start":
            continue
        if len(row) < 3:
            raise MarkerError(f"line {n}: needs start,end,label")
        try:
            start = float(row[0])
            end = float(row[1]) if row[1].strip() else None
        except ValueError:
            raise MarkerError(f"line {n}: start and end must be seconds") from None
        try:
            out.append(marker(start, end, ",".join(row[2:])))
        except MarkerError as exc:
            raise MarkerError(f"line {n}: {exc}") from None
        if len(out) > MAX_MARKERS:
            raise MarkerError(f"more than {MAX_MARKERS} markers in one file")
    return out


def to_csv(markers: list[Marker]) -> str:
    """The markers as CSV text (``start,end,label``), readable by :func:`read_csv`."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["start", "end", "label"])
    for m in markers:
        writer.writerow([f"{m.start:g}", f"{m.end:g}", m.label])
    return buf.getvalue()


def as_dicts(markers: list[Marker]) -> list[dict]:
    """JSON-ready markers (for History's extras)."""
    return [asdict(m) for m in markers]


def from_dicts(items: object) -> list[Marker]:
    """Markers from :func:`as_dicts` output; anything malformed is skipped."""
    out = []
    for item in items if isinstance(items, list) else []:
        try:
            out.append(marker(float(item["start"]), float(item["end"]), str(item["label"])))
        except (KeyError, TypeError, ValueError):
            continue
    return out


STAT_COLUMNS = ["marker", "start", "end", "faces", "dominant", "confidence", "valence", "arousal", "voice",
                "engagement", *FACE_LABELS]


def span_stats(result: Result, markers: list[Marker], context: str = "general", file: bool = False) -> pd.DataFrame:
    """Statistics per marker.

    Mean face probabilities (smoothed where smoothed), the dominant label and its mean, mean valence and arousal,
    the voice's most frequent confident label and the engagement score over the span.

    A point marker covers the nearest sampled frame (±half a sampling step) and the voice windows over it.

    Args:
        result: The analysed file.
        markers: The spans.
        context: Engagement context.
        file: Add a leading ``file`` column (for comparisons).
    """
    times = sorted(fr.t for fr in result.frames)
    step = float(np.median(np.diff(times))) if len(times) > 1 else 0.5
    rows = []
    for m in markers:
        start, end = (m.start, m.end) if m.end > m.start else (m.start - step / 2, m.start + step / 2)
        part = slice_result(result, start, end + 1e-6)
        if part.audio is not None and m.end <= m.start:  # a point: the windows over it
            segs = [s for s in (result.audio.segments if result.audio else []) if s.start <= m.start <= s.end]
            part.audio.segments = segs
        faces = [f for fr in part.frames for f in fr.faces]
        mean = {k: float(np.mean([(f.smoothed or f.scores).get(k, 0.0) for f in faces])) for k in FACE_LABELS} \
            if faces else {}
        top = max(mean, key=mean.__getitem__) if mean else None
        vals = [f.valence for f in faces if f.valence is not None]
        aros = [f.arousal for f in faces if f.arousal is not None]
        voiced = [s.emotion for s in (part.audio.segments if part.audio else [])
                  if s.speech and s.emotion and not s.uncertain]
        row = {"marker": m.label, "start": m.start, "end": m.end, "faces": len(faces), "dominant": top or "",
               "confidence": round(mean[top], 4) if top else None,
               "valence": round(float(np.mean(vals)), 3) if vals else None,
               "arousal": round(float(np.mean(aros)), 3) if aros else None,
               "voice": max(set(voiced), key=voiced.count) if voiced else "",
               "engagement": engagement_score(part, context).score}
        row |= {k: round(mean.get(k, 0.0), 4) if mean else None for k in FACE_LABELS}
        rows.append(({"file": result.file} if file else {}) | row)
    return pd.DataFrame(rows, columns=(["file"] if file else []) + STAT_COLUMNS)
