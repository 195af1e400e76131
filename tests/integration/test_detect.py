"""Face detectors on real media: the default finds the faces a person sees, every backend survives parallel workers."""

from __future__ import annotations

import shutil
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from emotion.analysis.pipeline import Models, analyze_file
from emotion.errors import ModelUnavailable
from emotion.face.blazeface import BlazeFaceDetector
from emotion.face.detect import DetectorFailed, HaarDetector, get_detector
from emotion.media import iter_video_frames, read_image
from emotion.settings import Settings, models_dir

pytestmark = [pytest.mark.needs_data]


@pytest.fixture(scope="module")
def blaze() -> BlazeFaceDetector:
    return get_detector()


def test_blazeface_is_the_default(blaze):
    assert Settings().detector == "blazeface" and blaze.name == "blazeface"


def test_group_photo_gives_all_five_faces(media, blaze):
    image = read_image(media / "multi_face.jpg")
    boxes = blaze.detect(image)
    assert len(boxes) == 5
    h, w = image.shape[:2]
    assert all(x >= 0 and y >= 0 and x + bw <= w and y + bh <= h and bw > 50 for x, y, bw, bh in boxes)
    assert [b[2] * b[3] for b in boxes] == sorted((b[2] * b[3] for b in boxes), reverse=True)
    centres = sorted(x + bw // 2 for x, _, bw, _ in boxes)
    assert min(np.diff(centres)) > 50  # five different people, not one face twice


def test_turned_head_and_black_and_white_photo_give_a_face(media, blaze):
    turned = blaze.detect(read_image(media / "45-m7-di-ph.jpg"))
    assert len(turned) == 1 and turned[0][1] > 100  # the face, not the hair above it
    bw = blaze.detect(read_image(media / "BWPictureHuman.jpg"))
    assert len(bw) >= 1 and 700 < bw[0][0] + bw[0][2] / 2 < 1100 and 300 < bw[0][1] + bw[0][3] / 2 < 700
    assert len(HaarDetector().detect(read_image(media / "45-m7-di-ph.jpg"))) == 0  # why Haar is only the fallback


def test_no_face_in_a_landscape_or_a_face_free_video(media, blaze):
    assert blaze.detect(read_image(media / "free-mountain-vector-01.jpg")) == []
    frames = [img for _, _, img in iter_video_frames(media / "no_face.mp4", [0.5, 1.5, 2.5, 3.5])]
    assert [blaze.detect(f) for f in frames] == [[]] * 4


def test_boxes_frame_the_face_as_haar_does(media, blaze):
    image = read_image(media / "single_face.jpg")
    ((x, y, w, h),) = blaze.detect(image)
    ((hx, hy, hw, hh),) = HaarDetector().detect(image)
    assert abs((x + w / 2) - (hx + hw / 2)) < 0.1 * hw and abs((y + h / 2) - (hy + hh / 2)) < 0.1 * hh
    assert 0.85 < w / hw < 1.2


def test_gray_and_dark_frames_keep_their_face(media, blaze):
    image = read_image(media / "single_face.jpg")
    gray = image.mean(axis=2).astype(np.uint8)
    dark = (image * 0.15).astype(np.uint8)
    assert len(blaze.detect(gray)) == 1 and len(blaze.detect(dark)) == 1


def test_small_face_in_a_1080p_frame_is_found(media, blaze):
    face = read_image(media / "0-f15-hao-ph.jpg")  # the face is about 340 px of 512
    small = face[::4, ::4]  # about 85 px
    canvas = np.full((1080, 1920, 3), 90, np.uint8)
    canvas[700 : 700 + small.shape[0], 1500 : 1500 + small.shape[1]] = small
    ((x, y, w, h),) = blaze.detect(canvas)
    assert 1500 <= x + w / 2 <= 1628 and 700 <= y + h / 2 <= 828


def test_detect_near_follows_a_known_face(media, blaze):
    frames = [img for _, _, img in iter_video_frames(media / "single_face.mp4", [0.5, 0.6])]
    first = blaze.detect(frames[0])
    near = blaze.detect_near(frames[1], first)
    assert len(near) == 1 and abs(near[0][0] - first[0][0]) < 30
    assert blaze.detect_near(frames[1], [[0, 0, 40, 40]]) == []  # nothing up in that corner


def test_a_damaged_model_file_is_refused(tmp_path):
    for name in ("blazeface_full.onnx", "blazeface_short.onnx", "blazeface.json"):
        shutil.copy(models_dir() / name, tmp_path / name)
    data = bytearray((tmp_path / "blazeface_full.onnx").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (tmp_path / "blazeface_full.onnx").write_bytes(bytes(data))
    with pytest.raises(ModelUnavailable, match="does not match its checksum"):
        BlazeFaceDetector(models_dir=tmp_path)
    (tmp_path / "blazeface.json").write_text("not json")
    with pytest.raises(ModelUnavailable, match="sidecar"):
        BlazeFaceDetector(models_dir=tmp_path)


def test_deepface_errors_say_what_failed():
    with pytest.raises(ModelUnavailable, match="'nosuch' could not load"):
        get_detector("nosuch").detect(np.zeros((64, 64, 3), np.uint8))
    loaded = get_detector("opencv")
    assert loaded.detect(np.zeros((64, 64, 3), np.uint8)) == []
    with pytest.raises(DetectorFailed, match="'opencv' failed on a frame") as err:
        loaded.detect(np.zeros(5, np.uint8))  # a malformed frame crashes the backend after it loaded
    assert "could not load" not in str(err.value)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["blazeface", "haar", "opencv"])
def test_one_detector_shared_by_threads_gives_what_it_gives_alone(media, name):
    detector = get_detector(name)
    frames = [img for _, _, img in iter_video_frames(media / "single_face.mp4", [0.2, 0.8, 1.4, 2.0])]
    frames.append(read_image(media / "multi_face.jpg"))
    alone = [detector.detect(f) for f in frames]
    with ThreadPoolExecutor(4) as pool:
        together = list(pool.map(detector.detect, frames * 6))
    assert together == alone * 6


@pytest.mark.slow
@pytest.mark.parametrize("name", ["blazeface", "haar", "opencv"])
def test_two_workers_never_fail(media, name):
    models = Models.load(Settings(detector=name))
    for interval in (0.0, 2.0, 0.0, 2.0):  # full searches on every frame, then mostly searches near known faces
        settings = Settings(workers=2, detector=name, audio=False, max_frames=12, detect_interval=interval)
        result = analyze_file(media / "single_face.mp4", settings, models)
        assert result.error is None, result.error
        assert sum(len(fr.faces) == 1 for fr in result.frames) >= 10
