"""Live webcam analysis: a per-frame processor fast enough for 2 CPU cores, and a rolling tracker.

The processor runs inside streamlit-webrtc's frame callback thread; it never touches ``st.*``.
Results go to the page through a queue (see :class:`LiveProcessor`.``updates``). The microphone is read by
:class:`emotion.analysis.live_voice.VoiceWorker` in its own thread; the :class:`RollingTracker` joins both, scores
engagement over its window and turns the session into a record.
"""

from __future__ import annotations

import queue
import threading
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np

from emotion.analysis.live_voice import VoiceUpdate, VoiceWorker
from emotion.analysis.pipeline import Models
from emotion.face.affect import valence_arousal
from emotion.face.detect import iou
from emotion.face.protocols import FaceSink, NearDetector
from emotion.face.quality import face_reason
from emotion.face.tracker import FaceTracker
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
from emotion.report.annotate import draw_faces
from emotion.report.engagement import Engagement, engagement_score
from emotion.settings import VERSION, Settings, ice_servers_text

if TYPE_CHECKING:
    from emotion.analysis.batch import Analysis
    from emotion.analysis.live_record import Recorder
    from emotion.learning.collect import Collector
    from emotion.storage.history import History
    from emotion.storage.learning_store import LearningStore

LEARN_EVERY = 2.0
"""Seconds between two face crops of one face kept for learning (when the live learning option is on)."""
MAX_SIDE = 640
"""Widest frame analysed at full size; wider frames (and any frame when time is short) are analysed downscaled."""
MIN_SIDE = 320
"""Narrowest the analysis goes to hold the target fps."""


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


class LiveProcessor:
    """Detect, track, check, classify and draw faces on webcam frames without ever blocking the video.

    Each frame, known faces are looked for only near their last boxes (a few ms). The full
    face search, which finds new faces, runs in a background thread every ``detect_every``
    frames or when a face is lost; its result joins the tracks when it is ready, so a slow
    search never delays a frame. Faces failing the quality filters (:func:`emotion.face.quality.face_reason`)
    are drawn with their reason instead of an emotion. Ids come from a tracker that matches position and
    appearance. Each track's probabilities are smoothed over frames.

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
        self.max_faces = max_faces or self.settings.max_faces
        self.detect_every = detect_every
        self.target_fps = target_fps
        self.budget_ms = budget_ms or (600.0 / target_fps if target_fps > 0 else 40.0)
        self.smooth = smooth
        self.collect = collect
        self.tracker = FaceTracker(max_shift=1.0, max_gap=4.0)
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
        boxes = self._find(small)[: self.max_faces]
        ids = self.tracker.update(boxes, now, small)
        full = [[round(v / scale) for v in b] for b in boxes]
        gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if boxes else None
        reasons = [face_reason(gray, b, self.settings) for b in full] if gray is not None else []
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
            faces.append(Face(face_id, full[i], label, rounded(FACE_LABELS, p), smoothed, valence, arousal))
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


def _process_frame(frame: Any, processor: LiveProcessor, recorder: Recorder | None = None) -> Any:
    """Send one camera frame (an ``av.VideoFrame``) to ``recorder``, analyse it and return it drawn on."""
    import av

    image = frame.to_ndarray(format="bgr24")
    if recorder is not None:
        recorder.video(image, time.time())
    out, _ = processor.process(image)
    new = av.VideoFrame.from_ndarray(out, format="bgr24")
    new.pts = frame.pts
    if frame.time_base is not None:
        new.time_base = frame.time_base
    return new


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


def _reasons(update: LiveUpdate) -> list[str]:
    """Why a processed frame has no usable face."""
    return sorted({d.reason.split(" (")[0] for d in update.dropped}) or ["no face detected"]


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


@dataclass
class LiveSession:
    """Everything one live session holds, and the streamlit-webrtc callbacks that feed it.

    The frame processor, the voice worker, the rolling tracker, the learning collector and the recorder. Build
    it with :meth:`start`; the page only draws what it holds. The callbacks run on streamlit-webrtc's media threads
    (video and audio at once) while the page's thread calls :meth:`stop`: the recorder is made and taken under
    one lock, so a session never has two.
    """

    processor: LiveProcessor
    tracker: RollingTracker
    voice: VoiceWorker | None = None
    collector: Collector | None = None
    recorder: Recorder | None = None
    record: bool = False
    recordings: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    """What went wrong that the page should say (a failed recording), one line each."""
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    @classmethod
    def start(cls, models: Models, settings: Settings, context: str = "general") -> LiveSession:
        """A new session with the settings' target fps, voice, learning and recording options."""
        collector = None
        if settings.live_collect:
            from emotion.learning.collect import Collector

            base = models.face.base if models.face.base is not models.face else None
            collector = Collector("live session", base_face=base)
        processor = LiveProcessor(models, max_faces=settings.max_faces, settings=settings,
                                  target_fps=settings.live_fps, collect=collector)  # fmt: skip
        voice = None
        if settings.live_voice:
            voice = VoiceWorker(settings, models.voice, collect=collector.voice if collector is not None else None)
        tracker = RollingTracker(window=settings.live_window, context=context)
        return cls(processor, tracker, voice, collector, None, settings.live_record)

    @property
    def audio(self) -> bool:
        """Whether the session wants the microphone."""
        return self.voice is not None or self.record

    def _recorder(self) -> Recorder | None:
        """The session's recorder, made by the first media thread that needs one (None when not recording)."""
        if not self.record:
            return None
        with self._lock:
            if self.recorder is None:
                from emotion.analysis.live_record import Recorder

                self.recorder = Recorder(fps=self.processor.target_fps or 15.0)
            return self.recorder

    def video_callback(self):  # noqa: ANN201 - streamlit-webrtc's callback type
        """streamlit-webrtc's ``video_frame_callback``: the frame to the recorder, then analysed and drawn on."""
        return lambda frame: _process_frame(frame, self.processor, self._recorder())

    def audio_callback(self):  # noqa: ANN201 - streamlit-webrtc's callback type
        """streamlit-webrtc's ``queued_audio_frames_callback`` (a coroutine function, as the library requires).

        Every frame goes to the voice worker and the recorder; silence goes back, so the browser never echoes the
        microphone.
        """
        from emotion.analysis.live_voice import mono, silence

        async def callback(frames: list) -> list:  # streamlit-webrtc awaits queued-frame callbacks
            now, recorder = time.time(), self._recorder()
            for frame in frames:
                samples, sr = mono(frame)
                if self.voice is not None:
                    self.voice.push(samples, sr, now)
                if recorder is not None:
                    recorder.audio(samples, sr, now)
            return [silence(frame) for frame in frames]

        return callback

    def drain(self) -> None:
        """Move what the media threads queued into the tracker."""
        while not self.processor.updates.empty():
            self.tracker.add(self.processor.updates.get_nowait())
        while self.voice is not None and not self.voice.updates.empty():
            self.tracker.add_voice(self.voice.updates.get_nowait())

    def stop(self) -> None:
        """After the stream stops: finish the recording (a later start records a new file).

        Returns in bounded time even when the recorder's encoder died (:meth:`Recorder.close`); a recording that
        failed is not kept and :attr:`problems` says why.
        """
        with self._lock:
            recorder, self.recorder = self.recorder, None
        if recorder is not None:
            path = recorder.close()
            if path is not None:
                self.recordings.append(path.name)
            elif recorder.error is not None:
                self.problems.append(f"The recording failed and was not kept: {recorder.error}.")
        self.drain()

    def result(self, name: str, models: Models | None = None, settings: Settings | None = None) -> Result:
        """The session as a record: faces, voice, engagement, what the processor chose, the recordings."""
        extra: dict[str, Any] = {"live": self.processor.describe()}
        if self.voice is not None:
            extra["live"]["voice_dropped_frames"] = self.voice.dropped
        if self.recordings:
            extra["recordings"] = list(self.recordings)
        result = self.tracker.to_result(name, extra=extra)
        h, w = self.processor.shape
        result.width, result.height = w, h
        if models is not None and settings is not None:
            result.produced_by.update(models.describe(settings))
            result.settings = settings.to_dict()
        return result

    def close(self) -> None:
        """Stop the threads, then move what they read last into the tracker."""
        self.stop()
        self.processor.close()
        if self.voice is not None:
            self.voice.close()
        self.drain()
