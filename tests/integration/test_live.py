"""The live session's own streamlit-webrtc callbacks on real frames wrapped as av.VideoFrame and av.AudioFrame."""

from __future__ import annotations

import av
import numpy as np
import pytest

from emotion.analysis.live import LiveProcessor
from emotion.analysis.live_summary import RollingTracker
from emotion.app.webrtc import LiveSession
from emotion.media import iter_video_frames, sample_times

pytestmark = [pytest.mark.needs_data]


def test_callback_draws_faces_and_feeds_the_tracker(media, models):
    session = LiveSession(LiveProcessor(models, background=False), RollingTracker(window=30))
    callback = session.video_callback()
    frames = [img for _, _, img in iter_video_frames(media / "single_face.mp4", sample_times(2.4, 12))]
    outs = []
    for img in frames:
        frame = av.VideoFrame.from_ndarray(img, format="bgr24")
        frame.pts = len(outs)
        out = callback(frame)
        assert isinstance(out, av.VideoFrame) and (out.width, out.height) == (640, 360) and out.pts == frame.pts
        outs.append(out.to_ndarray(format="bgr24"))
    assert any(not np.array_equal(a, b) for a, b in zip(outs, frames))  # boxes and labels were drawn

    session.drain()
    tracker = session.tracker
    updates = list(tracker.history)
    assert len(updates) == len(frames)
    assert sum(bool(u.faces) for u in updates) >= 10
    assert {f.id for u in updates for f in u.faces} == {0}  # one person, one stable id
    label, confidence = tracker.dominant()
    assert label is not None and confidence > 0.3
    assert set(tracker.per_face()) == {0}
    assert tracker.stats()["latency_p95_ms"] > 0
    assert session.recorder is None and session.recordings == []  # recording is off unless asked for
    session.close()


def test_no_face_frames_and_session_record(media, models):
    processor = LiveProcessor(models, background=False)
    frames = [img for _, _, img in iter_video_frames(media / "no_face.mp4", sample_times(3.9, 5))]
    tracker = RollingTracker()
    for i, img in enumerate(frames):
        _, update = processor.process(img, now=100.0 + i)
        tracker.add(update)
    result = tracker.to_result("webcam")
    assert result.kind == "live" and len(result.frames) == 5 and result.duration == 4.0
    assert result.summary["dominant_emotion"] is None
    assert all(fr.quality.reasons == ["no face detected"] for fr in result.frames)


def test_background_search_finds_the_face(media, models):
    import time

    processor = LiveProcessor(models)
    img = next(iter_video_frames(media / "single_face.mp4", [1.0]))[2]
    deadline = time.time() + 10
    update = processor.process(img)[1]
    while not update.faces and time.time() < deadline:
        time.sleep(0.05)
        update = processor.process(img)[1]
    processor.close()
    assert len(update.faces) == 1


# ----------------------------------------------------------------------------------------------------------------
# Voice, engagement, quality, resolution, learning and recording (issue 16)

SPEECH = "Actor_01/03-01-03-02-01-01-01.flac"  # RAVDESS: actor 1, happy, strong


def speech_48k(seconds_silence: float = 0.0) -> np.ndarray:
    """A real RAVDESS sentence at 48 kHz, then some silence."""
    import soundfile as sf
    from scipy.signal import resample_poly

    from emotion.settings import ravdess_dir
    from tests.conftest import need

    x, sr = sf.read(str(need(ravdess_dir() / SPEECH)), dtype="float32")
    x = resample_poly(x, 48000, sr).astype(np.float32)  # a browser's microphone runs at 48 kHz
    return np.concatenate([x, np.zeros(int(seconds_silence * 48000), np.float32)])


def browser_frames(x: np.ndarray) -> list[av.AudioFrame]:
    """20 ms frames of 48 kHz interleaved 16-bit stereo, as aiortc hands the browser's microphone over."""
    pcm = (np.clip(x, -1, 1) * 32767).astype(np.int16)
    frames = []
    for i in range(0, pcm.size - 960 + 1, 960):
        stereo = np.repeat(pcm[i : i + 960], 2)[None, :]
        frame = av.AudioFrame.from_ndarray(stereo, format="s16", layout="stereo")
        frame.sample_rate, frame.pts = 48000, i
        frames.append(frame)
    return frames


@pytest.mark.slow
def test_microphone_frames_reach_the_voice_model_off_the_media_thread(models):
    import asyncio
    import inspect
    import time

    from emotion.settings import Settings

    session = LiveSession.start(models, Settings())  # the voice is on by default, with the loaded voice model
    assert session.voice is not None and session.audio
    worker = session.voice
    callback = session.audio_callback()
    assert inspect.iscoroutinefunction(callback)  # streamlit-webrtc awaits queued-frame callbacks
    frames = browser_frames(speech_48k(seconds_silence=5.0))
    spent = 0.0
    for frame in frames:  # at 4x real time
        started = time.perf_counter()
        (out,) = asyncio.run(callback([frame]))
        spent += time.perf_counter() - started
        assert out.samples == frame.samples and not out.to_ndarray().any()  # silence goes back: no echo
        time.sleep(0.005)
    assert spent / len(frames) < 0.005, "the media thread must only queue the audio"  # a bound, not a benchmark
    deadline = time.time() + 30
    while time.time() < deadline and not worker.inbox.empty():
        time.sleep(0.1)
    session.close()  # stops the worker (at most 5 s) and drains its readings into the tracker
    updates = list(session.tracker.voice)
    assert len(updates) >= 3  # one per second of audio, fewer when the worker is behind (it reads the newest)
    assert worker.error is None and worker.dropped == 0
    speech = [u.segment for u in updates if u.segment.speech]
    assert speech, [u.segment for u in updates]
    for seg in speech:
        assert seg.emotion in seg.scores and 0 < seg.confidence <= 1 and 0 <= seg.arousal <= 1
        assert seg.end - seg.start == pytest.approx(3.0, abs=0.05) or seg.start == 0.0
    assert not updates[-1].segment.speech  # the last windows hold only the silence
    assert [u.segment.end for u in updates] == sorted(u.segment.end for u in updates)


@pytest.mark.slow
def test_session_record_has_voice_and_engagement(media, models):
    from emotion.analysis.live import save_session
    from emotion.analysis.live_voice import VoiceWorker
    from emotion.record import Result
    from emotion.settings import Settings
    from emotion.storage.history import History

    processor = LiveProcessor(models, background=False)
    tracker = RollingTracker(window=30, context="classroom")
    frames = [img for _, _, img in iter_video_frames(media / "single_face.mp4", sample_times(3.9, 20))]
    worker = VoiceWorker(Settings())
    x = speech_48k(1.0)
    for i, img in enumerate(frames):
        t = 100.0 + i * 0.25
        tracker.add(processor.process(img, now=t)[1])
        chunk = x[int(i * 0.25 * 48000) : int((i + 1) * 0.25 * 48000)]
        if worker.model is None:
            from emotion.learning.active import load_active_voice_model

            worker.model = load_active_voice_model()[0]
        update = worker.feed(chunk, 48000, t)
        if update:
            tracker.add_voice(update)
    assert tracker.voice_now() is not None
    live_eng = tracker.engagement()
    assert live_eng.score is not None and set(live_eng.parts) == {"face_affect", "voice_affect"}
    series = {row["emotion"] for row in tracker.timeline()}
    assert {"voice: confidence", "voice: arousal", "happy"} <= series

    result = tracker.to_result("webcam", extra={"processing": processor.describe()})
    assert result.audio is not None and any(s.speech and s.emotion for s in result.audio.segments)
    assert result.summary["engagement"]["score"] is not None and result.summary["engagement"]["context"] == "classroom"
    assert all(0 <= s.start < s.end <= result.duration + 1e-6 for s in result.audio.segments)
    analysis = save_session(result, Settings())
    assert analysis.history_id is not None and analysis.kept == 0  # learning is off by default for live
    saved = History().get(analysis.history_id)[0]
    assert isinstance(saved, Result) and saved.summary["engagement"] == result.summary["engagement"]
    assert saved.audio is not None and saved.audio.summary["dominant_emotion"]


def test_quality_filters_draw_the_reason_instead_of_an_emotion(media, models):
    import cv2

    from emotion.settings import Settings

    img = next(iter_video_frames(media / "single_face.mp4", [1.0]))[2]
    small = cv2.resize(cv2.resize(img, None, fx=0.3, fy=0.3), (img.shape[1], img.shape[0]))  # blurred
    processor = LiveProcessor(models, background=False, settings=Settings(min_blur=200.0))
    out, update = processor.process(small, now=1.0)
    assert update is not None and not update.faces and update.dropped
    assert update.dropped[0].reason.startswith("face blurred")
    assert not np.array_equal(out, small)
    tracker = RollingTracker()
    tracker.add(update)
    assert tracker.to_result().frames[0].quality.reasons == ["face blurred"]


@pytest.mark.slow
def test_target_fps_and_frame_size_are_held_and_reported(media, models):
    import cv2

    frames = [img for _, _, img in iter_video_frames(media / "single_face.mp4", sample_times(2.0, 30))]
    frames = [cv2.resize(f, (1280, 720)) for f in frames]
    processor = LiveProcessor(models, background=False, target_fps=15.0)
    outs = [processor.process(img, now=i / 30) for i, img in enumerate(frames)]
    processed = [u for _, u in outs if u is not None]
    assert len(processed) == pytest.approx(15, abs=1)  # half of a 30 fps camera
    assert all(o.shape == (720, 1280, 3) for o, _ in outs)
    chosen = processor.describe()
    assert chosen["input"] == "1280x720" and chosen["analysed"] == "640x360" and chosen["skipped_frames"] >= 14
    faces = [f for u in processed for f in u.faces]
    assert faces and all(f.box[2] > 100 for f in faces)  # boxes in the camera's pixels, not the analysed ones


def test_live_learning_files_faces_and_voice_under_the_saved_session(media, models):
    from emotion.analysis.live import save_session
    from emotion.analysis.live_voice import VoiceWorker
    from emotion.learning.collect import Collector
    from emotion.settings import Settings
    from emotion.storage.learning_store import LearningStore

    settings = Settings(live_collect=True, retrain_after=0)
    collector = Collector("live session")
    processor = LiveProcessor(models, background=False, collect=collector)
    tracker = RollingTracker()
    frames = [img for _, _, img in iter_video_frames(media / "single_face.mp4", sample_times(3.9, 12))]
    for i, img in enumerate(frames):
        tracker.add(processor.process(img, now=10.0 + i * 0.5)[1])
    worker = VoiceWorker(Settings(), collect=collector.voice)
    from emotion.learning.active import load_active_voice_model

    worker.model = load_active_voice_model()[0]
    x = speech_48k()
    for i in range(0, x.size, 960):
        worker.feed(x[i : i + 960], 48000, 10.0 + i / 48000)
    kinds = [it.modality for it in collector.items]
    assert 2 <= kinds.count("face") <= 4  # one crop every 2 s of the 6 s session
    assert kinds.count("voice") >= 1
    analysis = save_session(tracker.to_result(), settings, collector)
    assert analysis.kept == len(kinds) and analysis.history_id is not None
    store = LearningStore()
    assert store.sources_of("") == [] and store.delete_source(f"history:{analysis.history_id}") == len(kinds)


@pytest.mark.slow
def test_recording_can_be_reanalysed_as_a_file_and_deleted(media, models):
    import asyncio

    from emotion.analysis import live_record
    from emotion.analysis.pipeline import analyze_file
    from emotion.settings import Settings

    frames = [img for _, _, img in iter_video_frames(media / "single_face.mp4", sample_times(3.9, 30))]
    sound = browser_frames(speech_48k())
    session = LiveSession(LiveProcessor(models, background=False), RollingTracker(), record=True)
    assert session.audio  # recording asks for the microphone even without the live voice
    video, audio = session.video_callback(), session.audio_callback()
    for i, img in enumerate(frames):
        frame = av.VideoFrame.from_ndarray(img, format="bgr24")
        frame.pts = i
        video(frame)
        asyncio.run(audio(sound[i * 5 : (i + 1) * 5]))  # 0.1 s of speech per picture
    recorder = session.recorder
    assert recorder is not None
    session.stop()
    assert session.recorder is None and session.problems == [] and recorder.dropped == 0
    (name,) = session.recordings
    path = live_record.recordings_dir() / name
    assert path.is_file() and oct(path.parent.stat().st_mode & 0o777) == "0o700"
    result = analyze_file(path, Settings(), models)
    assert result.error is None and result.kind == "video" and any(fr.faces for fr in result.frames)
    assert result.audio is not None and result.audio.segments
    assert session.result("webcam").summary["recordings"] == [name]
    assert live_record.delete("../" + path.name) and not path.exists()  # a name only, never a path
    session.close()


def test_forgetting_a_live_session_deletes_its_recordings_by_name_only(tmp_path):
    from emotion.analysis import live_record
    from emotion.privacy import delete_all, forget_analysis
    from emotion.record import Result
    from emotion.storage.history import History

    folder = live_record.recordings_dir()
    mine, other = folder / "live-1.mp4", folder / "live-2.mp4"
    outside = tmp_path / "keep.mp4"
    for path in (mine, other, outside):
        path.write_bytes(b"not really a video")
    names = [mine.name, f"../../{outside.name}", str(outside)]
    entry = History().add(Result(file="live session", kind="live", summary={"recordings": names}))
    forget_analysis(entry)
    assert not mine.exists() and other.exists() and outside.exists()
    delete_all()
    assert not folder.exists() and outside.exists()
