"""Live webcam analysis: a per-frame processor fast enough for 2 CPU cores.

The processor runs on the media thread of the page's WebRTC stream (see :mod:`emotion.app.webrtc`); it never
touches ``st.*`` and takes plain BGR images, not WebRTC frames. Results go to the page through a queue (see
:class:`LiveProcessor`.``updates``) and are summed up by :class:`emotion.analysis.live_summary.RollingTracker`. The
microphone is read by :class:`emotion.analysis.live_voice.VoiceWorker` in its own thread.
"""

from __future__ import annotations

import queue
import threading
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace
from typing import TYPE_CHECKING

import cv2
import numpy as np

from emotion.analysis.live_summary import LiveUpdate
from emotion.analysis.pipeline import Models
from emotion.face.affect import valence_arousal
from emotion.face.detect import iou
from emotion.face.protocols import FaceSink, NearDetector
from emotion.face.quality import Limits, face_reason
from emotion.face.tracker import FaceTracker, SceneCuts
from emotion.labels import FACE_LABELS
from emotion.record import (
    DroppedFace,
    Face,
    Result,
    rounded,
)
from emotion.report.annotate import draw_faces
from emotion.settings import Settings

if TYPE_CHECKING:
    from emotion.analysis.batch import Analysis
    from emotion.learning.collect import Collector
    from emotion.storage.history import History
    from emotion.storage.learning_store import LearningStore

LEARN_EVERY = 2.0
"""Seconds between two face crops of one face kept for learning (when the live learning option is on)."""
MAX_SIDE = 640
"""Widest frame analysed at full size; wider frames (and any frame when time is short) are analysed downscaled."""
MIN_SIDE = 320
"""Narrowest the analysis goes to hold the target fps."""


class LiveProcessor:
    """Detect, track, check, classify and draw faces on webcam frames without ever blocking the video.

    Each frame, known faces are looked for only near their last boxes (a few ms). The full
    face search, which finds new faces, runs in a background thread every ``detect_every``
    frames or when a face is lost; its result joins the tracks when it is ready, so a slow
    search never delays a frame. Faces failing the quality filters (:func:`emotion.face.quality.face_reason`)
    are drawn with their reason instead of an emotion. Ids come from a tracker that matches position and
    appearance; when the feed cuts, jumps or loops (:class:`~emotion.face.tracker.SceneCuts`) every id ends.
    Each track's probabilities are smoothed over frames.

    To hold ``target_fps``, frames arriving faster are passed through with the last faces drawn on them, and
    when processed frames exceed their time budget the full search runs less often, then the frames are
    analysed smaller (down to :data:`MIN_SIDE` wide), and back up when there is room. :meth:`describe` says
    what it chose.

    Args:
        models: Loaded models (:class:`emotion.analysis.pipeline.Models`).
        detect_every: Frames between full face searches, at the start.
        budget_ms: Target per-frame processing time; 60% of a frame's time at ``target_fps`` when None.
        smooth: Weight of the newest probabilities in each track's running average.
        background: Run the full search in a background thread (False: inline, for tests).
        max_faces: Most faces read per frame (the largest); the settings' when None.
        settings: The quality filters and face limit (defaults when None).
        target_fps: Frames per second to analyse at most (0: every frame).
        collect: Receives a face crop per face every :data:`LEARN_EVERY` seconds (the learning collector).
    """

    def __init__(
        self,
        models: Models,
        detect_every: int = 5,
        budget_ms: float | None = None,
        smooth: float = 0.5,
        background: bool = True,
        max_faces: int | None = None,
        settings: Settings | None = None,
        target_fps: float = 0.0,
        collect: FaceSink | None = None,
    ) -> None:
        self.models = models
        self.settings = settings or Settings()
        self.limits = Limits.of(self.settings)
        self.max_faces = max_faces or self.settings.max_faces
        self.detect_every = detect_every
        self.target_fps = target_fps
        self.budget_ms = budget_ms or (600.0 / target_fps if target_fps > 0 else 40.0)
        self.smooth = smooth
        self.collect = collect
        self.tracker = FaceTracker(max_shift=1.0, max_gap=4.0)
        self.scenes = SceneCuts()
        self.scores: dict[int, np.ndarray] = {}
        self.boxes: list[list[int]] = []
        self.count = 0
        self.skipped = 0
        self.last_search = -(10**9)
        self.latencies: deque = deque(maxlen=15)
        self.times: deque = deque(maxlen=30)
        self.updates: queue.Queue[LiveUpdate] = queue.Queue(maxsize=600)
        self.pool = ThreadPoolExecutor(max_workers=1) if background else None
        self.search: Future | None = None
        self.lock = threading.Lock()
        self.side = MAX_SIDE
        self.shape: tuple[int, int] = (0, 0)
        self.start: float | None = None
        self.credit = 1.0
        self.last_t: float | None = None
        self.last_faces: list[Face] = []
        self.last_dropped: list[DroppedFace] = []
        self.kept_at: dict[int, float] = {}
        self.search_scale = 1.0

    def _find(self, image: np.ndarray) -> list[list[int]]:
        detector = self.models.detector
        boxes = detector.detect_near(image, self.boxes) if self.boxes and isinstance(detector, NearDetector) else []
        lost = len(boxes) < len(self.boxes)
        due = lost or not boxes or self.count - self.last_search >= self.detect_every
        if self.pool is None:
            return detector.detect(image) if due else boxes
        if self.search is not None and self.search.done():
            found, self.search = self.search.result(), None
            if self.search_scale != self.scale:  # searched at another size: bring its boxes to this one
                found = [[round(v * self.scale / self.search_scale) for v in b] for b in found]
            boxes += [b for b in found if all(iou(b, other) < 0.3 for other in boxes)]
        if due and self.search is None:
            self.search = self.pool.submit(detector.detect, image.copy())
            self.search_scale = self.scale
            self.last_search = self.count
        return boxes

    @property
    def scale(self) -> float:
        """The factor frames are analysed at (1.0: full size)."""
        return min(1.0, self.side / max(1, self.shape[1]))

    def _due(self, now: float) -> bool:
        """Whether this frame is analysed, or only drawn on, to hold the target fps (a token bucket)."""
        if self.target_fps <= 0 or self.last_t is None:
            return True
        self.credit = min(2.0, self.credit + (now - self.last_t) * self.target_fps)  # a late frame is not lost
        if self.credit >= 0.999:
            self.credit -= 1.0
            return True
        return False

    def process(self, image: np.ndarray, now: float | None = None) -> tuple[np.ndarray, LiveUpdate | None]:
        """Analyse one BGR frame; return it drawn on, and the update also put on :attr:`updates`.

        A frame skipped to hold the target fps comes back with the last faces drawn on it, and no update. Every
        change to the processor's state happens under :attr:`lock` (so a second caller, or :meth:`describe` on the
        page's thread, never sees it half made); only the drawing, on this frame's own copy, happens outside it.
        """
        start = time.perf_counter()
        now = time.time() if now is None else now
        with self.lock:
            due = self._due(now)
            self.last_t = now
            if not due:
                self.skipped += 1
                faces, dropped = self.last_faces, self.last_dropped
            else:
                faces, dropped = self._analyse(image, now)
                latency = (time.perf_counter() - start) * 1000
                self.latencies.append(latency)
                self.times.append(now)
                span = self.times[-1] - self.times[0]
                fps = (len(self.times) - 1) / span if span > 0 else 0.0
                self.last_faces, self.last_dropped = faces, dropped
                self._adapt()
                update = LiveUpdate(now, faces, latency, fps, dropped)
                self._publish(update)
        if not due:
            return self._draw(image, faces, dropped, None), None
        return self._draw(image, faces, dropped, f"{fps:4.1f} fps  {latency:3.0f} ms"), update

    def _analyse(self, image: np.ndarray, now: float) -> tuple[list[Face], list[DroppedFace]]:
        """Find, track, check and classify the faces of one frame (the caller holds :attr:`lock`)."""
        if image.shape[:2] != self.shape:
            self.shape, self.boxes, self.side = image.shape[:2], [], MAX_SIDE
        if self.start is None:
            self.start = now
        scale = self.scale
        small = image if scale >= 1.0 else cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        if self.scenes.cut(small):  # the feed cut, jumped or looped: no id continues, faces are searched afresh
            self.tracker.cut()
            self.boxes, self.scores, self.search = [], {}, None
        boxes = self._find(small)[: self.max_faces]
        ids = self.tracker.update(boxes, now, small)
        full = [[round(v / scale) for v in b] for b in boxes]
        gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if boxes else None
        reasons = [face_reason(gray, b, self.limits) for b in full] if gray is not None else []
        ok = [i for i, r in enumerate(reasons) if r is None]
        crops = [self.models.face.crop(small, boxes[i]) for i in ok]
        probs: np.ndarray | list[np.ndarray] = self.models.face.predict_proba(crops) if ok else []
        faces, dropped = [], [DroppedFace(full[i], r) for i, r in enumerate(reasons) if r is not None]
        for i, crop, p in zip(ok, crops, probs):
            face_id = ids[i]
            old = self.scores.get(face_id)
            smooth = p if old is None else self.smooth * p + (1 - self.smooth) * old
            self.scores[face_id] = smooth
            label = FACE_LABELS[int(np.argmax(smooth))]
            smoothed = rounded(FACE_LABELS, smooth)
            valence, arousal = valence_arousal(smoothed)
            confidence = round(float(self.models.face.calibrated(smooth[None])[0].max()), 4)
            faces.append(Face(face_id, full[i], label, rounded(FACE_LABELS, p), smoothed, valence, arousal,
                              confidence, confidence < self.settings.face_confidence))
            if self.collect is not None and now - self.kept_at.get(face_id, -1e9) >= LEARN_EVERY:
                self.kept_at[face_id] = now
                self.collect.face(small, boxes[i], crop, p, round(now - self.start, 3), face_id)
        self.scores = {i: self.scores[i] for i in ids if i in self.scores}
        self.boxes = boxes
        self.count += 1
        return faces, dropped

    def _publish(self, update: LiveUpdate) -> None:
        """Put ``update`` on :attr:`updates`; when the page is not reading, the oldest goes."""
        while True:
            try:
                self.updates.put_nowait(update)
                return
            except queue.Full:
                try:
                    self.updates.get_nowait()
                except queue.Empty:
                    pass

    def _draw(self, image: np.ndarray, faces: list[Face], dropped: list[DroppedFace], hud: str | None) -> np.ndarray:
        """The frame with faces and their emotions, rejected faces with their reason, and the speed drawn on."""
        out = draw_faces(image, faces) if faces else image.copy()
        for d in dropped:
            x, y, w, h = d.box
            cv2.rectangle(out, (x, y), (x + w, y + h), (160, 160, 160), 2, cv2.LINE_AA)
            text = d.reason.split(" (")[0]
            cv2.putText(out, text, (x, max(14, y - 6)), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 3, cv2.LINE_AA)
            cv2.putText(out, text, (x, max(14, y - 6)), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (230, 230, 230), 1, cv2.LINE_AA)
        if hud:
            cv2.putText(out, hud, (8, 22), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (255, 255, 255), 2, cv2.LINE_AA)
        return out

    def _adapt(self) -> None:
        """Search less often, then analyse smaller, when over budget; the reverse when well under it."""
        assert self.latencies.maxlen is not None  # made with a maxlen
        if len(self.latencies) < self.latencies.maxlen:
            return
        mean = sum(self.latencies) / len(self.latencies)
        top = min(MAX_SIDE, self.shape[1]) if self.shape[1] else MAX_SIDE
        if mean > self.budget_ms:
            if self.detect_every < 15:
                self.detect_every += 2
            elif self.side > MIN_SIDE:
                self.side = max(MIN_SIDE, int(self.side * 0.75))
                self.boxes = []  # boxes of the old size: search afresh
            self.latencies.clear()
        elif mean < self.budget_ms / 3:
            if self.side < top:
                self.side = min(top, int(self.side / 0.75) + 1)
                self.boxes = []
            elif self.detect_every > 2:
                self.detect_every -= 1
            self.latencies.clear()

    def describe(self) -> dict[str, object]:
        """What the processor chose: input and analysed size, target fps, search interval, skipped frames."""
        with self.lock:
            h, w = self.shape
            s = self.scale
            return {
                "input": f"{w}x{h}" if w else "—",
                "analysed": f"{round(w * s)}x{round(h * s)}" if w else "—",
                "target_fps": self.target_fps,
                "detect_every": self.detect_every,
                "skipped_frames": self.skipped,
            }

    def close(self) -> None:
        """Stop the background search thread."""
        if self.pool is not None:
            self.pool.shutdown(wait=False, cancel_futures=True)


def save_session(
    result: Result,
    settings: Settings,
    collector: Collector | None = None,
    history: History | None = None,
    store: LearningStore | None = None,
) -> Analysis:
    """Save a live session through the one batch flow (:func:`emotion.analysis.batch.save_one`).

    The record goes to History; with ``settings.live_collect`` on, the collector's face crops and voice windows
    are filed under that History entry (so forgetting the entry forgets them), and a retrain starts when due;
    auto-exports follow ``settings.auto_export``.
    """
    from emotion.analysis.batch import Analysis, save_one

    analysis = Analysis("live", result)
    keep = collector if settings.live_collect else None
    save_one(analysis, keep, replace(settings, save=True, collect=settings.live_collect), history, store)
    return analysis
