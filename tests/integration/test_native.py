"""Every frame at its native rate: `--fps native`, shrunk decoding with boxes in original pixels."""

from __future__ import annotations

import json

import pytest

from emotion.analysis.pipeline import analyze_file
from emotion.media import probe_video
from emotion.settings import Settings
from tests.integration.test_cli_and_errors import run_cli
from tests.media_tools import ffmpeg

pytestmark = [pytest.mark.needs_data]


def test_fps_native_analyses_every_frame_from_the_cli(tmp_path, media):
    out = tmp_path / "out.json"
    done = run_cli("analyze", str(media / "single_face.mp4"), "--fps", "native", "--no-audio", "--no-save",
                   "--out", str(out))
    assert done.returncode == 0, done.stderr
    record = json.loads(out.read_text())[0]
    frames = record["frames"]
    assert len(frames) == probe_video(media / "single_face.mp4").frames
    assert record["settings"]["every_frame"] is True
    assert sum(len(f["faces"]) for f in frames) >= 0.9 * len(frames)
    assert len({f["index"] for f in frames}) == len(frames)


def test_every_frame_of_a_1080p_clip_reports_boxes_in_original_pixels(tmp_path, media, models):
    big = tmp_path / "big.mp4"
    ffmpeg("-i", media / "single_face.mp4", "-t", "1", "-vf", "scale=1920:1080", "-an", "-c:v", "libx264",
           "-preset", "ultrafast", big)
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
