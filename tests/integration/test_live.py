"""The live frame callback on real frames wrapped as av.VideoFrame objects."""

from __future__ import annotations

import av
import numpy as np
import pytest

from emotion.analysis.live import LiveProcessor, RollingTracker, video_frame_callback
from emotion.media import iter_video_frames, sample_times

pytestmark = [pytest.mark.needs_data]


def test_callback_draws_faces_and_feeds_the_tracker(media, models):
    processor = LiveProcessor(models, background=False)
    callback = video_frame_callback(processor)
    frames = [img for _, _, img in iter_video_frames(media / "single_face.mp4", sample_times(2.4, 12))]
    outs = []
    for img in frames:
        frame = av.VideoFrame.from_ndarray(img, format="bgr24")
        frame.pts = len(outs)
        out = callback(frame)
        assert isinstance(out, av.VideoFrame) and (out.width, out.height) == (640, 360) and out.pts == frame.pts
        outs.append(out.to_ndarray(format="bgr24"))
    assert any(not np.array_equal(a, b) for a, b in zip(outs, frames))  # boxes and labels were drawn

    tracker = RollingTracker(window=30)
    while not processor.updates.empty():
        tracker.add(processor.updates.get_nowait())
    updates = list(tracker.history)
    assert len(updates) == len(frames)
    assert sum(bool(u.faces) for u in updates) >= 10
    assert {f.id for u in updates for f in u.faces} == {0}  # one person, one stable id
    label, confidence = tracker.dominant()
    assert label is not None and confidence > 0.3
    assert set(tracker.per_face()) == {0}
    assert tracker.stats()["latency_p95_ms"] > 0


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
