"""The face path on real media with the shipped model."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from emotion.analysis.pipeline import analyze_file
from emotion.settings import Settings
from tests.conftest import DATA, need

pytestmark = [pytest.mark.needs_data]

NO_AUDIO = Settings(audio=False)


def faces_per_frame(result) -> list[int]:
    return [len(fr.faces) for fr in result.frames]


def test_single_face_image_finds_one_face(media, models):
    result = analyze_file(media / "single_face.jpg", NO_AUDIO, models)
    assert result.error is None and result.kind == "image"
    assert faces_per_frame(result) == [1]
    assert abs(sum(result.frames[0].faces[0].scores.values()) - 1) < 1e-3


def test_multi_face_image_finds_at_least_four(media, models):
    result = analyze_file(media / "multi_face.jpg", NO_AUDIO, models)
    assert faces_per_frame(result)[0] >= 4
    assert len({f.id for f in result.frames[0].faces}) == faces_per_frame(result)[0]


def test_posed_happy_portrait_reads_happy(media, models):
    result = analyze_file(media / "0-f15-hao-ph.jpg", NO_AUDIO, models)
    assert result.summary["dominant_emotion"] == "happy"
    assert result.summary["confidence"] > 0.5


def test_posed_surprise_portrait_reads_surprise(media, models):
    result = analyze_file(media / "0-f1-su-ph.jpg", NO_AUDIO, models)
    assert result.summary["dominant_emotion"] == "surprise"


def test_no_face_video_gives_frames_with_a_reason(media, models):
    result = analyze_file(media / "no_face.mp4", NO_AUDIO, models)
    assert result.error is None and len(result.frames) == 21
    assert all(n == 0 for n in faces_per_frame(result))
    assert all(not fr.quality.ok and fr.quality.reasons == ["no face detected"] for fr in result.frames)
    assert result.summary["dominant_emotion"] is None


def test_face_then_no_face(media, models):
    counts = faces_per_frame(analyze_file(media / "face_noface.mov", NO_AUDIO, models))
    first, last = counts[: len(counts) // 4], counts[-len(counts) // 4 :]
    assert all(first) and not any(last)


def test_long_video_has_one_stable_face_id_over_time(media, models):
    result = analyze_file(media / "WolfgangLanger_Pexels.mp4", NO_AUDIO, models)
    ids = [f.id for fr in result.frames for f in fr.faces]
    assert len(ids) >= 15 and set(ids) == {0}
    times = [fr.t for fr in result.frames]
    assert times == sorted(times) and times[0] < 1.5 and times[-1] > 18  # sampled over the whole duration
    assert result.duration == pytest.approx(19.7, abs=0.2)


def test_fps_sampling(media, models):
    result = analyze_file(media / "single_face.mp4", Settings(audio=False, fps=5), models)
    assert len(result.frames) == 12  # 2.4 s at 5 fps


@pytest.mark.slow
def test_results_do_not_depend_on_workers(media, models):
    one = analyze_file(media / "face_noface.mov", Settings(audio=False, workers=1), models).to_dict()
    three = analyze_file(media / "face_noface.mov", Settings(audio=False, workers=3), models).to_dict()
    one.pop("settings"), three.pop("settings")
    assert one == three


def test_face_crop_mode_skips_detection(tmp_path, models):
    data = np.load(need(DATA / "fer2013" / "train.npz"))
    happy = int(np.flatnonzero(data["labels"] == 3)[0])
    img = tmp_path / "face.png"
    cv2.imwrite(str(img), data["images"][happy])
    result = analyze_file(img, Settings(face_crop=True), models)
    assert faces_per_frame(result) == [1]
    assert result.frames[0].faces[0].box == [0, 0, 48, 48]


@pytest.mark.parametrize(
    ("settings", "reason"),
    [
        (Settings(audio=False, min_face=1000), "face too small"),
        (Settings(audio=False, min_blur=1e6), "face blurred"),
        (Settings(audio=False, min_brightness=250), "face too dark"),
        (Settings(audio=False, max_brightness=5), "face too bright"),
    ],
)
def test_quality_filters_say_why(media, models, settings, reason):
    result = analyze_file(media / "single_face.jpg", settings, models)
    frame = result.frames[0]
    assert not frame.quality.ok and not frame.faces
    assert frame.quality.reasons[0].startswith(reason)
    assert result.summary["frames_ok"] == 0


@pytest.mark.parametrize(
    ("suffix", "codec"), [(".webm", "libvpx"), (".avi", "mpeg4"), (".mov", "libx264"), (".mkv", "mjpeg")]
)
@pytest.mark.slow
def test_video_containers(tmp_path, media, models, suffix, codec):
    from tests.media_tools import transcode

    video = transcode(media / "single_face.mp4", tmp_path / f"clip{suffix}", codec)
    result = analyze_file(video, Settings(audio=False, max_frames=5), models)
    assert result.error is None and result.kind == "video"
    assert faces_per_frame(result) == [1] * 5
