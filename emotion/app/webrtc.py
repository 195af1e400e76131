"""The WebRTC glue of the Live page: streamlit-webrtc's callbacks, PyAV frame conversion and ICE servers.

:class:`LiveSession` holds what one live session runs (the frame processor, the voice worker, the rolling tracker,
the learning collector and the recorder) and hands streamlit-webrtc its callbacks: frames arrive as PyAV frames on
the library's media threads, go to the analysis as plain arrays and come back drawn on, as in the
streamlit-webrtc examples. Nothing here imports Streamlit; :mod:`emotion.app.live` draws the page.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from emotion.analysis.live import LiveProcessor
from emotion.analysis.live_summary import RollingTracker
from emotion.analysis.live_voice import VoiceWorker
from emotion.analysis.pipeline import Models
from emotion.record import Result
from emotion.settings import Settings, ice_servers_text

if TYPE_CHECKING:
    from emotion.analysis.live_record import Recorder
    from emotion.learning.collect import Collector


def mono(frame: Any) -> tuple[np.ndarray, int]:
    """A PyAV audio frame as mono float32 samples in [-1, 1], and its sample rate."""
    raw = frame.to_ndarray()
    channels = len(frame.layout.channels)
    data = raw.reshape(channels, -1).mean(axis=0) if frame.format.is_planar else raw.reshape(-1, channels).mean(axis=1)
    if np.issubdtype(raw.dtype, np.integer):
        data = data / float(np.iinfo(raw.dtype).max + 1)
    return data.astype(np.float32), int(frame.sample_rate)




def silence(frame: Any) -> Any:
    """A silent PyAV audio frame of the same format, length and time as ``frame``."""
    import av

    out = av.AudioFrame(format=frame.format.name, layout=frame.layout.name, samples=frame.samples)
    for plane in out.planes:
        plane.update(bytes(plane.buffer_size))
    out.sample_rate, out.pts = frame.sample_rate, frame.pts
    if frame.time_base is not None:
        out.time_base = frame.time_base
    return out


def video_frame(frame: Any, processor: LiveProcessor, recorder: Recorder | None = None) -> Any:
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


def ice_servers() -> list[dict]:
    """ICE servers for WebRTC from ``$EMOTION_ICE_SERVERS`` (a JSON list), default none.

    None works on localhost and on a LAN. Across the internet or behind NAT, set STUN or TURN, e.g.
    ``[{"urls": ["stun:stun.example.org:3478"]}]``.
    """
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
        return lambda frame: video_frame(frame, self.processor, self._recorder())

    def audio_callback(self):  # noqa: ANN201 - streamlit-webrtc's callback type
        """streamlit-webrtc's ``queued_audio_frames_callback`` (a coroutine function, as the library requires).

        Every frame goes to the voice worker and the recorder; silence goes back, so the browser never echoes the
        microphone.
        """
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
