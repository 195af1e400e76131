"""Threads that cannot hang or race: the live recorder, the live session's callbacks, the processor, retrain locks.

Issue 23. Every wait here has a time limit: a regression fails with a message instead of hanging the suite.
"""

from __future__ import annotations

import asyncio
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import av
import cv2
import numpy as np
import pytest

from emotion.analysis.live import LiveProcessor
from emotion.analysis.live_record import Recorder
from emotion.analysis.live_summary import RollingTracker
from emotion.app.webrtc import LiveSession
from emotion.errors import RetrainError
from emotion.learning import jobs as learning
from emotion.media import iter_video_frames, sample_times
from emotion.storage.learning_store import LearningStore

pytestmark = [pytest.mark.needs_data]


def within(seconds: float, work: Callable[[], object]) -> object:
    """Run ``work`` in a thread and return what it returned; fail (not hang) when it takes over ``seconds``."""
    out: list[object] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            out.append(work())
        except BaseException as exc:  # noqa: BLE001 - handed to the test below
            errors.append(exc)

    thread = threading.Thread(target=run, daemon=True)  # a hung call must not keep pytest from exiting
    thread.start()
    thread.join(timeout=seconds)
    assert not thread.is_alive(), f"{getattr(work, '__name__', work)} did not return within {seconds} s"
    if errors:
        raise errors[0]
    return out[0]


def wait_for(condition: Callable[[], object], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"{what} did not happen within {seconds} s"
        time.sleep(0.02)


@contextmanager
def busy_switching() -> Iterator[None]:
    """Let threads change hands far more often than usual, so that races show up in a few rounds."""
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    try:
        yield
    finally:
        sys.setswitchinterval(old)


@pytest.fixture(scope="module")
def pictures(media) -> list[np.ndarray]:
    """Real camera pictures (BGR, 640x360) of one face."""
    return [img for _, _, img in iter_video_frames(media / "single_face.mp4", sample_times(2.4, 6))]


def video_frame(img: np.ndarray, pts: int = 0) -> av.VideoFrame:
    frame = av.VideoFrame.from_ndarray(img, format="bgr24")
    frame.pts = pts
    return frame


def audio_frames(n: int, seconds: float = 0.02) -> list[av.AudioFrame]:
    """``n`` frames of 48 kHz 16-bit stereo, as aiortc hands the browser's microphone over (a quiet tone)."""
    size = round(48000 * seconds)
    tone = (np.sin(np.arange(size) * 2 * np.pi * 220 / 48000) * 3000).astype(np.int16)
    frames = []
    for i in range(n):
        frame = av.AudioFrame.from_ndarray(np.repeat(tone, 2)[None, :], format="s16", layout="stereo")
        frame.sample_rate, frame.pts = 48000, i * size
        frames.append(frame)
    return frames


def recorder_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name == "live-recorder" and t.is_alive()}


# ----------------------------------------------------------------------------------------------------------------
# 1. A recorder whose encoder died closes in bounded time, says why, and leaves no half-written file


def test_a_recorder_whose_encoder_died_mid_file_closes_at_once_and_keeps_nothing(pictures):
    recorder = Recorder(fps=15)
    for i, img in enumerate(pictures[:3]):
        recorder.video(img, 100.0 + i / 15)
    recorder.video(cv2.cvtColor(pictures[3], cv2.COLOR_BGR2GRAY), 100.2)  # a picture the encoder cannot take
    wait_for(lambda: recorder.error is not None, 30, "the encoder's failure")
    for i in range(400):  # the camera goes on: more than the queue holds, and nothing reads it any more
        recorder.video(pictures[i % len(pictures)], 100.3 + i / 15)
    started = time.monotonic()
    assert within(20, recorder.close) is None
    assert time.monotonic() - started < 5  # the encoder is dead: nothing to wait for
    assert recorder.error and "\n" not in recorder.error
    assert not recorder.path.exists()  # the frames before the failure are not left as if they were a recording
    assert within(5, recorder.close) is None  # and closing again is harmless


def test_a_session_stops_in_bounded_time_and_says_the_recording_failed(tmp_path, pictures, models):
    gone = tmp_path / "deleted" / "live.mp4"  # the data folder went while recording (e.g. "delete all my data")
    processor = LiveProcessor(models, background=False)
    session = LiveSession(processor, RollingTracker(), recorder=Recorder(path=gone), record=True)
    video, audio = session.video_callback(), session.audio_callback()
    for i, img in enumerate(pictures[:3]):  # the encoder writes from its second picture on
        assert isinstance(video(video_frame(img, pts=i)), av.VideoFrame)
    wait_for(lambda: session.recorder is not None and session.recorder.error is not None, 30, "the encoder's failure")
    for _ in range(8):  # 400 microphone frames: more than the recorder's queue holds
        asyncio.run(audio(audio_frames(50)))
    within(20, session.stop)
    assert session.recorder is None and session.recordings == []
    assert len(session.problems) == 1 and session.problems[0].startswith("The recording failed and was not kept: ")
    assert "Traceback" not in session.problems[0] and "\n" not in session.problems[0]
    assert not gone.exists()
    within(5, session.stop)  # the page calls stop() on every rerun
    assert len(session.problems) == 1


# ----------------------------------------------------------------------------------------------------------------
# 2. One recorder per session, however the video and audio threads race for it


def test_racing_video_and_audio_callbacks_make_one_recorder_per_session(pictures, models):
    processor = LiveProcessor(models, background=False, target_fps=1.0)  # most frames pass through: a quick round
    session = LiveSession(processor, RollingTracker(), record=True)
    video, audio = session.video_callback(), session.audio_callback()
    leftover = recorder_threads()
    errors: list[BaseException] = []

    def feed(gate: threading.Barrier, kind: str, i: int) -> None:
        try:
            gate.wait()
            if kind == "video":
                video(video_frame(pictures[i % len(pictures)], pts=i))
            else:
                asyncio.run(audio(audio_frames(2)))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    for round_ in range(15):
        gate = threading.Barrier(8, timeout=30)
        threads = [threading.Thread(target=feed, args=(gate, kind, i), daemon=True)
                   for kind in ("video", "audio") for i in range(4)]  # fmt: skip
        with busy_switching():
            for t in threads:
                t.start()
            for t in threads:
                t.join(timeout=60)
        assert not any(t.is_alive() for t in threads) and not errors, errors
        within(30, session.stop)
        # Every recorder the callbacks made was the session's, so stop() finished them all; a second one would be
        # left with its thread waiting for frames that never come.
        wait_for(lambda: not recorder_threads() - leftover, 10, f"round {round_}: every recorder closing")
    assert session.problems == []


# ----------------------------------------------------------------------------------------------------------------
# 3. The processor's lock covers every change process() makes


def test_process_changes_nothing_while_someone_holds_the_processors_lock(pictures, models):
    processor = LiveProcessor(models, background=False, target_fps=15.0)
    for i in range(3):
        processor.process(pictures[i], now=100.0 + i / 1000)  # the third comes too soon: passed through
    assert processor.skipped == 1
    before = (processor.last_t, processor.skipped, processor.count, processor.credit)
    with processor.lock:  # as describe() does on the page's thread
        late = threading.Thread(target=processor.process, args=(pictures[3], 100.01), daemon=True)  # passed through
        late.start()
        late.join(timeout=1.0)
        assert late.is_alive(), "process() changed the processor's state without holding its lock"
        assert (processor.last_t, processor.skipped, processor.count, processor.credit) == before
    late.join(timeout=30)
    assert not late.is_alive() and processor.skipped == 2 and processor.last_t == 100.01


@pytest.mark.slow
def test_two_callers_and_the_page_share_the_processor_without_losing_a_frame(pictures, models):
    processor = LiveProcessor(models, background=False, target_fps=15.0)
    calls, errors = 40, []
    done = threading.Event()

    def camera(offset: float) -> None:
        try:
            for i in range(calls):
                processor.process(pictures[i % len(pictures)], now=100.0 + i / 30 + offset)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    def page() -> None:
        while not done.is_set():
            chosen = processor.describe()
            if chosen["input"] != "—" and chosen["input"] != "640x360":
                errors.append(AssertionError(chosen))

    threads = [threading.Thread(target=camera, args=(o,), daemon=True) for o in (0.0, 0.01)]
    reader = threading.Thread(target=page, daemon=True)
    with busy_switching():
        reader.start()
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        done.set()
        reader.join(timeout=10)
    assert not any(t.is_alive() for t in [*threads, reader]) and not errors, errors
    assert processor.count + processor.skipped == 2 * calls  # every frame counted once, analysed or passed through
    assert processor.updates.qsize() == processor.count


# ----------------------------------------------------------------------------------------------------------------
# 4. Asking whether a retrain runs never takes the lock from a retrain that is starting


def test_a_retrain_starting_among_many_probes_always_gets_its_lock():
    store = LearningStore()  # no labels: a face retrain that gets its lock stops at once, saying so
    stop = threading.Event()
    seen: list[bool] = []

    def probe() -> None:
        while not stop.is_set():
            seen.append(learning.running("face"))

    def starts() -> list[str]:
        messages = []
        for i in range(400):
            try:
                if i % 40:  # what a retrain takes first, many times
                    with learning._lock("face"):
                        messages.append("needs at least: got the lock")
                else:  # and now and then the whole retrain, which stops at once with nothing to learn from
                    learning.retrain("face", store)
            except RetrainError as exc:
                messages.append(str(exc))
        return messages

    probes = [threading.Thread(target=probe, daemon=True) for _ in range(6)]
    with busy_switching():
        for t in probes:
            t.start()
        try:
            messages = within(120, starts)
        finally:
            stop.set()
            for t in probes:
                t.join(timeout=10)
    assert not any(t.is_alive() for t in probes)
    assert isinstance(messages, list) and len(messages) == 400
    stolen = [m for m in messages if "already running" in m]
    assert not stolen, f"{len(stolen)} of 400 starts lost their lock to a probe"
    assert all("needs at least" in m for m in messages)
    assert seen  # the probes ran all along


def test_a_held_retrain_lock_is_seen_and_a_second_retrain_refused():
    assert not learning.running("face")
    with learning._lock("face"):
        assert learning.running("face") and learning.running("face")  # asking twice changes nothing
        with pytest.raises(RetrainError, match="already running"):
            learning.retrain("face", LearningStore())
    assert not learning.running("face")  # let go with the lock: nothing stale
