"""Live voice: the microphone's audio, read by the voice model on a rolling window in a worker thread.

streamlit-webrtc hands audio frames (20 ms each) to a callback on its media thread
(:meth:`emotion.app.webrtc.LiveSession.audio_callback`). The callback only turns each frame into mono samples
and puts them on a bounded queue (:meth:`VoiceWorker.push`), which never blocks: when the worker falls behind, the
oldest audio is dropped, never a video frame. The worker keeps the last ``window`` seconds and, every ``hop``
seconds of new audio, runs speech detection and the voice model on them through
:func:`read_window`, the one place that calls the voice path (:mod:`emotion.voice.process`).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from emotion.errors import one_line
from emotion.record import Segment
from emotion.settings import Settings

log = logging.getLogger(__name__)

SR = 16_000
"""The voice path's sample rate."""
HOP = 1.0
"""Seconds of new audio between two readings of the rolling window."""
AROUSAL = {
    "neutral": 0.2,
    "calm": 0.1,
    "happy": 0.6,
    "sad": 0.2,
    "angry": 0.9,
    "fearful": 0.8,
    "disgust": 0.5,
    "surprised": 0.8,
}
"""Arousal of each voice label (calm 0 to activated 1, after Russell's circumplex), used only when the voice path
leaves :attr:`~emotion.record.Segment.arousal` empty: the probability-weighted mean of these."""

VoiceSink = Callable[[np.ndarray, Segment, np.ndarray], None]
"""Receives a classified speech window: its 16 kHz samples, its segment (session times) and its features."""


def read_window(samples: np.ndarray, settings: Settings, model: Any, collect: VoiceSink | None = None) -> Segment:
    """Read one window of 16 kHz mono audio: speech or not, and if speech, its emotion, confidence and arousal.

    The adapter between the live page and the voice path: it calls :func:`emotion.voice.process.process_signal`
    with one window covering the whole signal, and fills ``confidence`` (the top probability) and ``arousal``
    (from :data:`AROUSAL`) where the voice path leaves them empty.

    Args:
        samples: float32 samples at :data:`SR`.
        settings: ``denoise`` is used (and whatever else the voice path reads).
        model: The voice model.
        collect: Called with the window when it holds speech (times within the window).

    Returns:
        A segment from 0 to the window's length; ``speech=False`` and ``emotion=None`` when nobody spoke.
    """
    from emotion.voice import process

    seconds = samples.size / SR
    one = replace(settings, segment_seconds=max(seconds, 0.01), segment_hop=max(seconds, 0.01), max_duration=0.0)
    result = process.process_signal(samples, SR, one, model, collect)
    segment = result.segments[0] if result.segments else Segment(0.0, seconds, None, {}, False)
    if segment.speech and segment.scores:
        if segment.confidence is None:
            segment.confidence = round(max(segment.scores.values()), 4)
        if segment.arousal is None:
            segment.arousal = round(sum(AROUSAL.get(k, 0.5) * p for k, p in segment.scores.items()), 4)
    return segment


@dataclass
class VoiceUpdate:
    """One reading of the rolling window.

    ``t`` is the wall time of its end; the segment's times are session seconds (from the first audio frame).
    """

    t: float
    segment: Segment
    latency_ms: float


class VoiceWorker:
    """Reads the voice on a rolling window in its own thread, fed through a queue that never blocks.

    Args:
        settings: The voice settings; ``segment_seconds`` is the window.
        model: The voice model; the active version is loaded in the worker when None.
        hop: Seconds of new audio between readings.
        collect: Receives each speech window (for the learning store), with session times.
    """

    def __init__(
        self, settings: Settings, model: Any | None = None, hop: float = HOP, collect: VoiceSink | None = None
    ) -> None:
        self.settings, self.model, self.hop, self.collect = settings, model, hop, collect
        self.window = settings.segment_seconds
        self.inbox: queue.Queue[tuple[np.ndarray, int, float] | None] = queue.Queue(maxsize=1000)
        self.updates: queue.Queue[VoiceUpdate] = queue.Queue(maxsize=600)
        self.dropped = 0
        self.error: str | None = None
        self.t0: float | None = None
        self._buf = np.zeros(0, np.float32)
        self._rate = 0
        self._new = 0
        self._heard = 0
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    @property
    def heard(self) -> float:
        """Seconds of audio the worker has taken in so far."""
        return self._heard / self._rate if self._rate else 0.0

    def push(self, samples: np.ndarray, sr: int, t: float | None = None) -> None:
        """Hand over mono samples that arrived at wall time ``t`` (their end); never blocks."""
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="live-voice", daemon=True)
                self._thread.start()
        try:
            self.inbox.put_nowait((samples, sr, time.time() if t is None else t))
        except queue.Full:
            self.dropped += 1

    def _run(self) -> None:
        try:
            if self.model is None:
                from emotion.learning.active import load_active_voice_model

                self.model = load_active_voice_model()[0]
            while True:
                item = self.inbox.get()
                if item is None:
                    return
                self.feed(*item)
        except Exception as exc:  # noqa: BLE001 - the voice must never take the video down
            self.error = one_line(exc)
            log.warning("live voice stopped: %s", self.error)

    def feed(self, samples: np.ndarray, sr: int, t: float) -> VoiceUpdate | None:
        """Add samples (in the worker, or directly in tests) and read the window when a hop's worth is new."""
        if sr != self._rate:  # a new rate (or the first frame): start over
            self._buf, self._rate, self._new = np.zeros(0, np.float32), sr, 0
        if self.t0 is None:
            self.t0 = t - samples.size / sr
        keep = int(self.window * sr)
        self._buf = np.concatenate([self._buf, samples])[-keep:]
        self._new += samples.size
        self._heard += samples.size
        if self._new < self.hop * sr or self._buf.size < min(keep, int(1.0 * sr)):
            return None
        if not self.inbox.empty() and self.inbox.qsize() > self.hop * sr / max(1, samples.size):
            return None  # over a hop behind: read the newest window instead of every stale one
        self._new = 0
        start = time.perf_counter()
        x = self._buf if sr == SR else _resample(self._buf, sr)
        end = self._heard / sr
        begin = max(0.0, end - x.size / SR)
        sink = None
        if self.collect is not None:
            collect = self.collect

            def sink(s: np.ndarray, seg: Segment, features: np.ndarray) -> None:
                collect(s, replace(seg, start=round(begin + seg.start, 3), end=round(begin + seg.end, 3)), features)

        segment = read_window(x, self.settings, self.model, sink)
        segment = replace(segment, start=round(begin, 3), end=round(end, 3))
        update = VoiceUpdate(t, segment, (time.perf_counter() - start) * 1000)
        try:
            self.updates.put_nowait(update)
        except queue.Full:  # the page is not reading: drop the oldest
            self.updates.get_nowait()
            self.updates.put_nowait(update)
        return update

    def close(self) -> None:
        """Stop the worker thread (what it has queued is dropped)."""
        if self._thread is not None:
            try:
                self.inbox.put_nowait(None)
            except queue.Full:
                self.inbox.get_nowait()
                self.inbox.put_nowait(None)
            self._thread.join(timeout=5)


def _resample(x: np.ndarray, sr: int) -> np.ndarray:
    from scipy.signal import resample_poly

    g = np.gcd(int(sr), SR)
    return resample_poly(x, SR // g, int(sr) // g).astype(np.float32)
