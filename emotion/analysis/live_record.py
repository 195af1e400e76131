"""Recording a live session (camera and microphone) to an MP4 in the data dir, to re-analyse as a file later.

The media threads only put frames on a bounded queue (:meth:`Recorder.video`, :meth:`Recorder.audio`); a worker
thread encodes them (H.264 "ultrafast" and AAC), so recording never slows the live analysis: when the encoder falls
behind, frames are dropped and counted. Recordings are personal data like uploads: they live in
:func:`recordings_dir` (mode 0700), are named by time only, and :func:`delete` removes one; the History entry of the
saved session names its recording (``summary["recording"]``).

A recording that fails (the encoder stops on an error, or does not finish in time) is deleted rather than left
half-written as if it were whole; :attr:`Recorder.error` says why, and :meth:`Recorder.close` returns in bounded
time however the encoder ended.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from emotion.errors import one_line
from emotion.settings import data_dir

log = logging.getLogger(__name__)

FOLDER = "recordings"
"""The data dir's folder of live recordings."""
AUDIO_RATE = 48_000
"""Sample rate of the recorded audio track."""
CLOSE_SECONDS = 30.0
"""Longest :meth:`Recorder.close` waits for the encoder to finish the file (it returns at once if it died)."""


def recordings_dir() -> Path:
    """The folder of live recordings (made private, mode 0700)."""
    folder = data_dir() / FOLDER
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    return folder


def delete(name: str) -> bool:
    """Delete a recording by its file name (as in a session's ``summary["recording"]``); True if one was deleted."""
    path = data_dir() / FOLDER / Path(name).name  # a name only: never a path out of the folder
    if path.suffix != ".mp4" or not path.is_file():
        return False
    path.unlink()
    return True


class Recorder:
    """Writes the session's input frames and audio to ``recordings/live-<time>.mp4`` in a worker thread.

    Args:
        fps: The frame rate written into the file (frames carry their own times; this is the time base's hint).
        path: Where to write; a new name in :func:`recordings_dir` when None.
    """

    def __init__(self, fps: float = 15.0, path: Path | None = None) -> None:
        self.path = path or recordings_dir() / f"live-{time.strftime('%Y%m%d-%H%M%S')}.mp4"
        self.fps = fps
        self.inbox: queue.Queue[tuple[str, Any, int, float] | None] = queue.Queue(maxsize=300)
        self.dropped = 0
        self.frames = 0
        self.error: str | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._closed = False

    def video(self, bgr: np.ndarray, t: float) -> None:
        """Queue one camera frame seen at wall time ``t``; never blocks."""
        self._put(("video", bgr, 0, t))

    def audio(self, samples: np.ndarray, sr: int, t: float) -> None:
        """Queue mono float samples that arrived at wall time ``t``; never blocks."""
        self._put(("audio", samples, sr, t))

    def _put(self, item: tuple[str, Any, int, float]) -> None:
        with self._lock:
            if self._closed or self.error is not None:
                return  # closing, or the encoder stopped: nothing more goes to the file
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="live-recorder", daemon=True)
                self._thread.start()
        try:
            self.inbox.put_nowait(item)
        except queue.Full:
            with self._lock:
                self.dropped += 1

    def _run(self) -> None:
        import av

        out = vstream = astream = None
        t0: float | None = None
        last_pts = -1
        audio_at = 0
        try:
            while True:
                item = self.inbox.get()
                if item is None:
                    break
                kind, data, sr, t = item
                if out is None:
                    if kind != "video":
                        continue  # the file starts with the first picture
                    h, w = data.shape[:2]
                    out = av.open(str(self.path), "w", format="mp4")
                    vstream = out.add_stream("libx264", rate=round(self.fps), options={"preset": "ultrafast"})
                    vstream.width, vstream.height, vstream.pix_fmt = w - w % 2, h - h % 2, "yuv420p"
                    vstream.codec_context.time_base = Fraction(1, 1000)
                    astream = out.add_stream("aac", rate=AUDIO_RATE, layout="mono")
                    t0 = t
                assert vstream is not None and astream is not None and t0 is not None
                if kind == "video":
                    pts = round((t - t0) * 1000)
                    if pts <= last_pts or data.shape[0] < vstream.height or data.shape[1] < vstream.width:
                        continue  # a frame out of order, or the camera changed size mid-session
                    frame = av.VideoFrame.from_ndarray(
                        np.ascontiguousarray(data[: vstream.height, : vstream.width]), format="bgr24"
                    )
                    frame.pts, frame.time_base, last_pts = pts, Fraction(1, 1000), pts
                    out.mux(vstream.encode(frame))
                    self.frames += 1
                else:
                    x = data if sr == AUDIO_RATE else _resample(data, sr)
                    if audio_at == 0:  # the first audio: placed where it arrived against the first picture
                        audio_at = max(1, round((t - t0) * AUDIO_RATE) - x.size)
                    sound = av.AudioFrame.from_ndarray(x[None, :].astype(np.float32), format="flt", layout="mono")
                    sound.sample_rate, sound.pts = AUDIO_RATE, audio_at
                    audio_at += x.size
                    out.mux(astream.encode(sound))
        except Exception as exc:  # noqa: BLE001 - a failed recording must not stop the session
            self._fail(exc)
        finally:
            if out is not None:
                try:
                    assert vstream is not None and astream is not None
                    out.mux(vstream.encode())
                    out.mux(astream.encode())
                except Exception as exc:  # noqa: BLE001 - flushing is writing too; same rule
                    self._fail(exc)
                finally:
                    try:
                        out.close()
                    except Exception as exc:  # noqa: BLE001
                        self._fail(exc)
            if self.error is not None:
                self.path.unlink(missing_ok=True)  # half-written: not left as if it were a whole recording

    def _fail(self, exc: BaseException) -> None:
        """Keep the first error, in one line, and say it in the log (not to the user: the page shows it)."""
        if self.error is None:
            self.error = one_line(exc)
            log.warning("live recording failed: %s", self.error)

    def close(self, timeout: float = CLOSE_SECONDS) -> Path | None:
        """Finish the file, waiting at most ``timeout`` seconds for the encoder; safe to call more than once.

        Returns at once when the encoder has died (its queue may be full: nothing reads it any more).

        Returns:
            The file's path, or None when nothing was recorded or the recording failed (then :attr:`error` says why
            and no file is left).
        """
        with self._lock:
            self._closed = True
            thread = self._thread
        if thread is not None:
            deadline = time.monotonic() + timeout
            while thread.is_alive() and time.monotonic() < deadline:  # the end mark, once there is room for it
                try:
                    self.inbox.put(None, timeout=0.1)
                    break
                except queue.Full:
                    continue
            thread.join(timeout=max(0.0, deadline - time.monotonic()))
            if thread.is_alive():  # still encoding: give up on the file rather than on the page
                self.error = self.error or f"the recording did not finish within {timeout:g} s"
                log.warning("live recording failed: %s", self.error)
                self.path.unlink(missing_ok=True)
        if self.error is not None:
            return None
        return self.path if self.frames and self.path.is_file() else None


def _resample(x: np.ndarray, sr: int) -> np.ndarray:
    from scipy.signal import resample_poly

    g = np.gcd(int(sr), AUDIO_RATE)
    return resample_poly(x, AUDIO_RATE // g, int(sr) // g).astype(np.float32)
