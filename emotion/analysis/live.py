"""Live webcam analysis: a per-frame processor fast enough for 2 CPU cores, and a rolling tracker.

The processor runs inside streamlit-webrtc's frame callback thread; it never touches ``st.*``.
Results go to the page through a queue (see :class:`LiveProcessor`.``updates``).
"""

from __future__ import annotations

import queue
import threading
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

import cv2
import numpy as np

from emotion.analysis.pipeline import Models
from emotion.face.detect import iou
from emotion.face.protocols import NearDetector
from emotion.face.tracker import FaceTracker
from emotion.labels import FACE_LABELS
from emotion.record import Face, Frame, Quality, Result, face_summary, rounded
from emotion.report.annotate import draw_faces
from emotion.settings import Settings, ice_servers_text


@dataclass
class LiveUpdate:
    """What one processed frame sends to the page."""

    t: float
    faces: list[Face]
    latency_ms: float
    fps: float


@dataclass
class RollingTracker:
    """Keeps the recent faces of a live session and summarises them.

    Args:
        window: Seconds the dominant emotion and trend look back over.
    """

    window: float = 30.0
    history: deque = field(default_factory=lambda: deque(maxlen=20000))

    def add(self, update: LiveUpdate) -> None:
        """Record one processed frame."""
        self.history.append(update)

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
        """Rows of (t, label, mean probability over faces) for the last ``seconds``: for a live chart."""
        rows = []
        for u in self._recent(seconds):
            mean = self.mean_scores([u])
            if mean.any():
                rows += [{"t": u.t, "emotion": label, "p": float(v)} for label, v in zip(FACE_LABELS, mean)]
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

    def to_result(self, name: str = "live session", step: float = 0.5) -> Result:
        """Turn the session into a result record, like an uploaded file's, keeping a frame every ``step`` s."""
        start = self.history[0].t if self.history else 0.0
        kept: list[LiveUpdate] = []
        for u in self.history:
            if not kept or u.t - kept[-1].t >= step:
                kept.append(u)
        frames = [
            Frame(
                index=i,
                t=round(u.t - start, 3),
                quality=Quality(bool(u.faces), [] if u.faces else ["no face detected"]),
                faces=u.faces,
            )
            for i, u in enumerate(kept)
        ]
        duration = round(self.history[-1].t - start, 3) if self.history else 0.0
        return Result(file=name, kind="live", duration=duration, frames=frames, summary=face_summary(frames))


class LiveProcessor:
    """Detect, track, classify and draw faces on webcam frames without ever blocking the video.

    Each frame, known faces are looked for only near their last boxes (a few ms). The full
    face search, which finds new faces, runs in a background thread every ``detect_every``
    frames or when a face is lost; its result joins the tracks when it is ready, so a slow
    search never delays a frame. Each track's probabilities are smoothed over frames. When
    recent frames exceed ``budget_ms`` the full search runs less often, and more often when
    there is room.

    Args:
        models: Loaded models (:class:`emotion.analysis.pipeline.Models`).
        detect_every: Frames between full face searches, at the start.
        budget_ms: Target per-frame processing time.
        smooth: Weight of the newest probabilities in each track's running average.
        background: Run the full search in a background thread (False: inline, for tests).
        max_faces: Most faces read per frame (the largest); the settings' default when None.
    """

    def __init__(
        self,
        models: Models,
        detect_every: int = 5,
        budget_ms: float = 40.0,
        smooth: float = 0.5,
        background: bool = True,
        max_faces: int | None = None,
    ) -> None:
        self.models = models
        self.max_faces = max_faces or Settings().max_faces
        self.detect_every = detect_every
        self.budget_ms = budget_ms
        self.smooth = smooth
        self.tracker = FaceTracker(max_shift=1.0, max_gap=1.0)
        self.scores: dict[int, np.ndarray] = {}
        self.boxes: list[list[int]] = []
        self.count = 0
        self.last_search = -(10**9)
        self.latencies: deque = deque(maxlen=15)
        self.times: deque = deque(maxlen=30)
        self.updates: queue.Queue[LiveUpdate] = queue.Queue(maxsize=600)
        self.pool = ThreadPoolExecutor(max_workers=1) if background else None
        self.search: Future | None = None
        self.lock = threading.Lock()

    def _find(self, image: np.ndarray) -> list[list[int]]:
        detector = self.models.detector
        boxes = detector.detect_near(image, self.boxes) if self.boxes and isinstance(detector, NearDetector) else []
        lost = len(boxes) < len(self.boxes)
        due = lost or not boxes or self.count - self.last_search >= self.detect_every
        if self.pool is None:
            return detector.detect(image) if due else boxes
        if self.search is not None and self.search.done():
            found, self.search = self.search.result(), None
            boxes += [b for b in found if all(iou(b, other) < 0.3 for other in boxes)]
        if due and self.search is None:
            self.search = self.pool.submit(detector.detect, image.copy())
            self.last_search = self.count
        return boxes

    def process(self, image: np.ndarray, now: float | None = None) -> tuple[np.ndarray, LiveUpdate]:
        """Analyse one BGR frame; return it drawn on, and the update also put on :attr:`updates`."""
        start = time.perf_counter()
        now = time.time() if now is None else now
        with self.lock:
            boxes = self._find(image)[: self.max_faces]
            ids = self.tracker.update(boxes, now)
            probs: np.ndarray | list[np.ndarray]
            probs = self.models.face.predict_proba([self.models.face.crop(image, b) for b in boxes]) if boxes else []
            faces = []
            for face_id, box, p in zip(ids, boxes, probs):
                old = self.scores.get(face_id)
                p = p if old is None else self.smooth * p + (1 - self.smooth) * old
                self.scores[face_id] = p
                label = FACE_LABELS[int(np.argmax(p))]
                scores = rounded(FACE_LABELS, p)
                faces.append(Face(face_id, [int(v) for v in box], label, scores))
            self.scores = {i: self.scores[i] for i in ids}
            self.boxes = boxes
            self.count += 1
        out = draw_faces(image, faces)
        latency = (time.perf_counter() - start) * 1000
        self.latencies.append(latency)
        self.times.append(now)
        span = self.times[-1] - self.times[0]
        fps = (len(self.times) - 1) / span if span > 0 else 0.0
        text = f"{fps:4.1f} fps  {latency:3.0f} ms"
        cv2.putText(out, text, (8, 22), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (255, 255, 255), 2, cv2.LINE_AA)
        self._adapt()
        update = LiveUpdate(now, faces, latency, fps)
        try:
            self.updates.put_nowait(update)
        except queue.Full:  # the page is not reading: drop the oldest
            self.updates.get_nowait()
            self.updates.put_nowait(update)
        return out, update

    def _adapt(self) -> None:
        assert self.latencies.maxlen is not None  # made with a maxlen
        if len(self.latencies) < self.latencies.maxlen:
            return
        mean = sum(self.latencies) / len(self.latencies)
        if mean > self.budget_ms and self.detect_every < 30:
            self.detect_every += 2
            self.latencies.clear()
        elif mean < self.budget_ms / 3 and self.detect_every > 2:
            self.detect_every -= 1
            self.latencies.clear()

    def close(self) -> None:
        """Stop the background search thread."""
        if self.pool is not None:
            self.pool.shutdown(wait=False, cancel_futures=True)


def video_frame_callback(processor: LiveProcessor):  # noqa: ANN201 - returns streamlit-webrtc's callback type
    """Return a streamlit-webrtc ``video_frame_callback`` that runs ``processor`` on each frame."""
    import av

    def callback(frame: av.VideoFrame) -> av.VideoFrame:
        out, _ = processor.process(frame.to_ndarray(format="bgr24"))
        new = av.VideoFrame.from_ndarray(out, format="bgr24")
        new.pts = frame.pts
        if frame.time_base is not None:
            new.time_base = frame.time_base
        return new

    return callback


def ice_servers() -> list[dict]:
    """ICE servers for WebRTC from ``$EMOTION_ICE_SERVERS`` (a JSON list), default none.

    None works on localhost and on a LAN. Across the internet or behind NAT, set STUN or TURN, e.g.
    ``[{"urls": ["stun:stun.example.org:3478"]}]``.
    """
    import json

    raw = ice_servers_text()
    if not raw:
        return []
    try:
        servers = json.loads(raw)
    except json.JSONDecodeError:
        return []
    return [s for s in servers if isinstance(s, dict) and "urls" in s] if isinstance(servers, list) else []
