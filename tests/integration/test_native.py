"""Every frame at its native rate: `--fps native`, shrunk decoding with boxes in original pixels."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from emotion.analysis.pipeline import analyze_file
from emotion.media import probe_video
from emotion.settings import Settings
from tests.integration.test_cli_and_errors import run_cli
from tests.media_tools import ffmpeg

pytestmark = [pytest.mark.needs_data]


def clip_1080p(folder: Path, media: Path, seconds: float) -> Path:
    """The first ``seconds`` of single_face.mp4 scaled to 1920x1080."""
    big = folder / f"big_{seconds:g}.mp4"
    scale = ["-vf", "scale=1920:1080", "-an", "-c:v", "libx264", "-preset", "ultrafast"]
    ffmpeg("-i", media / "single_face.mp4", "-t", f"{seconds:g}", *scale, big)
    return big


@pytest.mark.slow
def test_fps_native_analyses_every_frame_from_the_cli(tmp_path, media):
    out = tmp_path / "out.json"
    args = ["analyze", str(media / "single_face.mp4"), "--fps", "native", "--no-audio", "--no-save", "--out", str(out)]
    done = run_cli(*args)
    assert done.returncode == 0, done.stderr
    record = json.loads(out.read_text())[0]
    frames = record["frames"]
    assert len(frames) == probe_video(media / "single_face.mp4").frames
    assert record["settings"]["every_frame"] is True
    assert sum(len(f["faces"]) for f in frames) >= 0.9 * len(frames)
    assert len({f["index"] for f in frames}) == len(frames)


@pytest.mark.slow
def test_every_frame_of_a_1080p_clip_reports_boxes_in_original_pixels(tmp_path, media, models):
    big = clip_1080p(tmp_path, media, 1)
    every = analyze_file(big, Settings(audio=False, every_frame=True), models)
    sampled = analyze_file(big, Settings(audio=False, max_frames=3), models)
    assert every.error is None and len(every.frames) == probe_video(big).frames
    side = [f.box[2] for fr in every.frames for f in fr.faces]
    reference = [f.box[2] for fr in sampled.frames for f in fr.faces]
    assert side and reference and abs(sum(side) / len(side) / (sum(reference) / len(reference)) - 1) < 0.15
    small = analyze_file(big, Settings(audio=False, every_frame=True, min_face=2000), models)
    reason = small.frames[0].dropped_faces[0].reason
    assert "px < 2000 px" in reason
    side_px = int(reason.split("(")[1].split(" px")[0])  # said in the original frame's pixels, not the shrunk one's
    assert abs(side_px / min(reference) - 1) < 0.2


@pytest.mark.slow
def test_every_frame_readings_match_a_full_search_on_each_frame(tmp_path, media, models):
    """Following faces between searches, and keeping a reading for a repeated picture, reads as a search per frame."""
    big = clip_1080p(tmp_path, media, 2)
    fast = analyze_file(big, Settings(audio=False, every_frame=True, smooth=False), models)
    full = analyze_file(big, Settings(audio=False, every_frame=True, smooth=False, detect_interval=0), models)
    assert fast.error is None and full.error is None and len(fast.frames) == len(full.frames) > 30
    pairs = [(a.faces[0], b.faces[0]) for a, b in zip(fast.frames, full.frames) if a.faces and b.faces]
    assert len(pairs) >= 0.9 * len(full.frames)
    labels = sum(a.emotion == b.emotion for a, b in pairs) / len(pairs)
    change = sum(sum(abs(a.scores[k] - b.scores[k]) for k in a.scores) / 2 for a, b in pairs) / len(pairs)
    overlap = []
    for a, b in pairs:
        w = min(a.box[0] + a.box[2], b.box[0] + b.box[2]) - max(a.box[0], b.box[0])
        h = min(a.box[1] + a.box[3], b.box[1] + b.box[3]) - max(a.box[1], b.box[1])
        overlap.append(max(0, w) * max(0, h) / (a.box[2] * a.box[3] + b.box[2] * b.box[3] - max(0, w) * max(0, h)))
    assert labels >= 0.9, f"top labels agree on {labels:.2f} of frames"
    assert change <= 0.06, f"readings differ by {change:.3f} on average (total variation)"
    assert min(overlap) >= 0.7 and sum(overlap) / len(overlap) >= 0.9, f"box IoU {min(overlap):.2f} at worst"


@pytest.mark.slow
def test_every_frame_keeps_two_crossing_faces_apart(tmp_path):
    """Two real faces that cross, every frame: followed boxes never merge into one face or swap the two ids."""
    import cv2

    from tests.conftest import MEDIA, need
    from tests.integration.test_tracker import canvas
    from tests.media_tools import face_crops

    a, b = face_crops([need(MEDIA / "0-f15-hao-ph.jpg"), need(MEDIA / "single_face.jpg")])
    video = tmp_path / "cross.mp4"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"mp4v"), 15.0, (720, 400))
    for k in range(40):  # a walks right, b walks left, b passes in front of a half-way
        writer.write(canvas([(a, 20 + k * 13, 90), (b, 540 - k * 13, 130)]))
    writer.release()
    result = analyze_file(video, Settings(audio=False, every_frame=True, min_face=40))
    assert result.error is None and len(result.frames) == 40
    seen = [sorted((f.box[0], f.id) for f in fr.faces) for fr in result.frames]
    assert all(len(faces) <= 2 for faces in seen)
    start, end = seen[0], seen[-1]
    assert len(start) == len(end) == 2 and start[0][1] != start[1][1]
    assert (end[0][1], end[1][1]) == (start[1][1], start[0][1]), f"ids swapped or changed: {start} -> {end}"


def test_a_cancelled_every_frame_analysis_stops_its_reader(media, models):
    import threading

    from emotion.errors import Cancelled

    stop = threading.Event()
    calls = []

    def progress(stage: str, done: float) -> None:
        calls.append(stage)
        if len(calls) == 10:
            stop.set()

    with pytest.raises(Cancelled):
        analyze_file(media / "single_face.mp4", Settings(audio=False, every_frame=True), models, progress, stop)
    assert not [t for t in threading.enumerate() if t.name == "decode-ahead"]
