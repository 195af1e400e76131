"""The rolling summary of a live session: what each processed frame and voice window said, over a window.

:class:`RollingTracker` joins the frame processor's updates (:class:`LiveUpdate`) and the voice worker's, scores
engagement over its window, and turns the session into a record. It runs on the page's thread and never touches
``st.*``.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field, replace

import numpy as np

from emotion.analysis.live_voice import VoiceUpdate
from emotion.labels import FACE_LABELS
from emotion.record import (
    AudioResult,
    DroppedFace,
    Face,
    Frame,
    Quality,
    Result,
    face_summary,
    rounded,
    voice_summary,
)
from emotion.report.engagement import Engagement, engagement_score
from emotion.settings import VERSION


@dataclass
class LiveUpdate:
    """What one processed frame sends to the page."""

    t: float
    faces: list[Face]
    latency_ms: float
    fps: float
    dropped: list[DroppedFace] = field(default_factory=list)


@dataclass
class RollingTracker:
    """Keeps the recent faces and voice of a live session and summarises them.

    Args:
        window: Seconds the dominant emotion, the trend and the engagement look back over.
        context: The engagement context (a key of :data:`emotion.report.engagement.CONTEXTS`).
    """

    window: float = 30.0
    history: deque = field(default_factory=lambda: deque(maxlen=20000))
    voice: deque = field(default_factory=lambda: deque(maxlen=20000))
    context: str = "general"

    def add(self, update: LiveUpdate) -> None:
        """Record one processed frame."""
        self.history.append(update)

    def add_voice(self, update: VoiceUpdate) -> None:
        """Record one reading of the voice window."""
        self.voice.append(update)

    def clear(self) -> None:
        """Forget the session."""
        self.history.clear()
        self.voice.clear()

    def voice_now(self, within: float = 4.0) -> VoiceUpdate | None:
        """The latest voice reading, if it is at most ``within`` seconds older than the newest frame or reading."""
        if not self.voice:
            return None
        last = self.voice[-1]
        now = max(last.t, self.history[-1].t if self.history else last.t)
        return last if now - last.t <= within else None

    def engagement(self, seconds: float | None = None) -> Engagement:
        """Engagement over the last ``seconds`` (the window when None) for :attr:`context`, faces and voice."""
        return engagement_score(self._result(self._recent(seconds or self.window), self._voice(seconds)), self.context)

    def _voice(self, seconds: float | None) -> list[VoiceUpdate]:
        if not self.voice:
            return []
        now = max(self.voice[-1].t, self.history[-1].t if self.history else 0.0)
        return [v for v in self.voice if seconds is None or now - v.t <= seconds]

    def _result(self, updates: list[LiveUpdate], voice: list[VoiceUpdate], name: str = "live session") -> Result:
        start = min([u.t for u in updates[:1]] + [v.t - (v.segment.end - v.segment.start) for v in voice[:1]] or [0.0])
        frames = [
            Frame(
                index=i,
                t=round(u.t - start, 3),
                quality=Quality(bool(u.faces), [] if u.faces else _reasons(u)),
                faces=u.faces,
                dropped_faces=u.dropped,
            )
            for i, u in enumerate(updates)
        ]
        segments = [
            replace(
                v.segment,
                start=round(max(0.0, v.t - start - (v.segment.end - v.segment.start)), 3),
                end=round(v.t - start, 3),
            )
            for v in voice
        ]
        audio = None
        if voice:
            speech = sum(s.end - s.start for s in segments if s.speech)
            audio = AudioResult(segments, voice_summary(segments, speech_seconds=round(speech, 2)))
        ends = [updates[-1].t - start] if updates else []
        ends += [voice[-1].t - start] if voice else []
        return Result(file=name, kind="live", duration=round(max(ends or [0.0]), 3), frames=frames,
                      summary=face_summary(frames), audio=audio)  # fmt: skip

    def _recent(self, seconds: float, now: float | None = None) -> list[LiveUpdate]:
        if not self.history:
            return []
        now = self.history[-1].t if now is None else now
        return [u for u in self.history if now - u.t <= seconds]

    def mean_scores(self, updates: list[LiveUpdate]) -> np.ndarray:
        """Mean class probabilities over all faces in ``updates`` (zeros when none)."""
        rows = [[f.scores[label] for label in FACE_LABELS] for u in updates for f in u.faces]
        return np.mean(rows, axis=0) if rows else np.zeros(len(FACE_LABELS))

    def dominant(self) -> tuple[str | None, float]:
        """The dominant emotion over the window and its mean probability."""
        mean = self.mean_scores(self._recent(self.window))
        return (FACE_LABELS[int(mean.argmax())], float(mean.max())) if mean.any() else (None, 0.0)

    def trend(self, threshold: float = 0.05) -> dict[str, str]:
        """Label -> "rising", "falling" or "steady": the window's second half against its first half."""
        recent = self._recent(self.window)
        if len(recent) < 4:
            return {}
        mid = recent[0].t + (recent[-1].t - recent[0].t) / 2
        delta = self.mean_scores([u for u in recent if u.t >= mid]) - self.mean_scores([u for u in recent if u.t < mid])
        return {
            label: "rising" if d > threshold else "falling" if d < -threshold else "steady"
            for label, d in zip(FACE_LABELS, delta)
        }

    def per_face(self) -> dict[int, dict]:
        """Per face id: frames seen, dominant emotion and mean probabilities so far."""
        out: dict[int, list] = {}
        for u in self.history:
            for f in u.faces:
                out.setdefault(f.id, []).append([f.scores[label] for label in FACE_LABELS])
        summary = {}
        for face_id, rows in out.items():
            mean = np.mean(rows, axis=0)
            summary[face_id] = {
                "frames": len(rows),
                "dominant_emotion": FACE_LABELS[int(mean.argmax())],
                "mean_scores": rounded(FACE_LABELS, mean),
            }
        return summary

    def timeline(self, seconds: float = 60.0) -> list[dict]:
        """Rows of (t, series, value) for the last ``seconds``, for one live chart.

        The series are the mean probability of each face label over the faces, and the voice's confidence and
        arousal (series "voice: ...", with the voice emotion, or "uncertain", in ``label``).
        """
        rows = []
        for u in self._recent(seconds):
            mean = self.mean_scores([u])
            if mean.any():
                rows += [
                    {"t": u.t, "emotion": label, "p": float(v), "label": label} for label, v in zip(FACE_LABELS, mean)
                ]
        for v in self._voice(seconds):
            seg = v.segment
            if seg.speech and seg.emotion:
                said = f"{seg.emotion} (uncertain)" if seg.uncertain else seg.emotion
                rows.append({"t": v.t, "emotion": "voice: confidence", "p": seg.confidence or 0.0, "label": said})
                if seg.arousal is not None:
                    rows.append({"t": v.t, "emotion": "voice: arousal", "p": seg.arousal, "label": said})
        return rows

    def stats(self) -> dict[str, float]:
        """Processed fps and per-frame latency (median and p95, ms) over the last 10 s."""
        recent = self._recent(10.0)
        if len(recent) < 2:
            return {"fps": 0.0, "latency_median_ms": 0.0, "latency_p95_ms": 0.0}
        lat = np.array([u.latency_ms for u in recent])
        span = recent[-1].t - recent[0].t
        return {
            "fps": (len(recent) - 1) / span if span > 0 else 0.0,
            "latency_median_ms": float(np.median(lat)),
            "latency_p95_ms": float(np.percentile(lat, 95)),
        }

    def to_result(self, name: str = "live session", step: float = 0.5, extra: dict | None = None) -> Result:
        """Turn the session into a result record, like an uploaded file's, keeping a frame every ``step`` s.

        The voice readings become the audio timeline; ``summary["engagement"]`` holds the whole session's
        engagement for :attr:`context` (``score``, ``context``, ``affect``, ``presence``), and ``extra`` (what the
        processor chose, the recording's name) is added to the summary.
        """
        kept: list[LiveUpdate] = []
        for u in self.history:
            if not kept or u.t - kept[-1].t >= step:
                kept.append(u)
        result = self._result(kept, list(self.voice), name)
        eng = engagement_score(result, self.context)
        result.summary["engagement"] = {"score": eng.score, "context": eng.context, "affect": eng.affect,
                                        "presence": eng.presence}  # fmt: skip
        result.summary.update(extra or {})
        result.produced_by = {"project": VERSION}
        return result


def _reasons(update: LiveUpdate) -> list[str]:
    """Why a processed frame has no usable face."""
    return sorted({d.reason.split(" (")[0] for d in update.dropped}) or ["no face detected"]
