"""Faces are judged on their own light: dark frames are enhanced, lit faces on dark backgrounds are kept."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from emotion.analysis.pipeline import analyze_file
from emotion.settings import Settings

pytestmark = [pytest.mark.needs_data]


def darken_background(src, dst, seconds: float = 2.0, keep: float = 0.05):
    """Write ``src``'s first seconds with everything but a margin around the face at ``keep`` of its brightness."""
    cascade = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")
    cap = cv2.VideoCapture(str(src))
    fps = cap.get(cv2.CAP_PROP_FPS) or 25.0
    writer, box, means = None, None, []
    for _ in range(int(fps * seconds)):
        ok, frame = cap.read()
        if not ok:
            break
        if box is None:
            found = cascade.detectMultiScale(cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY), 1.1, 5, minSize=(60, 60))
            x, y, w, h = max(found, key=lambda b: b[2] * b[3])
            pad = w // 10
            box = (max(0, x - pad), max(0, y - pad), x + w + pad, y + h + pad)
        out = (frame * keep).astype(np.uint8)
        x0, y0, x1, y1 = box
        out[y0:y1, x0:x1] = frame[y0:y1, x0:x1]
        means.append(float(cv2.cvtColor(out, cv2.COLOR_BGR2GRAY).mean()))
        if writer is None:
            writer = cv2.VideoWriter(str(dst), cv2.VideoWriter_fourcc(*"mp4v"), fps, frame.shape[1::-1])
        writer.write(out)
    cap.release()
    writer.release()
    return dst, means


def test_a_lit_face_on_a_dark_background_keeps_its_face(tmp_path, media, models):
    video, means = darken_background(media / "single_face.mp4", tmp_path / "stage.mp4")
    assert max(means) < Settings().min_brightness  # the frames as a whole are "too dark"
    result = analyze_file(video, Settings(audio=False, max_frames=5), models)
    assert result.error is None
    assert [len(fr.faces) for fr in result.frames] == [1] * 5
    assert all(fr.quality.ok and fr.quality.enhanced.startswith("dark frame") for fr in result.frames)


def test_a_dark_photo_is_enhanced_not_dropped(tmp_path, media, models):
    image = cv2.imread(str(media / "single_face.jpg"))
    dark = tmp_path / "dark.png"
    cv2.imwrite(str(dark), (image * 0.25).astype(np.uint8))
    result = analyze_file(dark, Settings(audio=False), models)
    frame = result.frames[0]
    assert frame.quality.enhanced.startswith("dark frame") and len(frame.faces) == 1
    plain = analyze_file(media / "single_face.jpg", Settings(audio=False), models)
    assert plain.frames[0].quality.enhanced is None
    assert frame.faces[0].emotion == plain.frames[0].faces[0].emotion


def test_a_black_frame_says_no_face_even_enhanced(tmp_path, models):
    black = tmp_path / "black.png"
    cv2.imwrite(str(black), np.full((240, 320, 3), 5, np.uint8))
    frame = analyze_file(black, Settings(audio=False), models).frames[0]
    assert not frame.quality.ok and frame.quality.reasons[0].startswith("no face detected (dark frame")


@pytest.mark.parametrize(
    ("settings", "flag"),
    [
        (Settings(audio=False, min_face=1000), "--min-face"),
        (Settings(audio=False, min_blur=1e6), "--min-blur"),
        (Settings(audio=False, min_brightness=250), "--min-brightness"),
        (Settings(audio=False, max_brightness=5), "--max-brightness"),
    ],
)
def test_each_drop_says_which_setting_keeps_the_face(media, models, settings, flag):
    dropped = analyze_file(media / "single_face.jpg", settings, models).frames[0].dropped_faces
    assert dropped and all(flag in d.reason and d.reason.endswith("to keep it)") for d in dropped)


def test_video_faces_carry_smoothed_scores_valence_and_arousal(media, models):
    from emotion.report.export import to_csv
    from emotion.report.views import affect_figure

    result = analyze_file(media / "single_face.mp4", Settings(audio=False, max_frames=5), models)
    faces = [f for fr in result.frames for f in fr.faces]
    assert len(faces) == 5 and all(f.smoothed and f.valence is not None and f.arousal is not None for f in faces)
    assert all(-1 <= f.valence <= 1 and 0 <= f.arousal <= 1 for f in faces)
    header = to_csv([result]).splitlines()[0]
    assert "face_valence" in header and "face_smoothed_happy" in header
    assert affect_figure(result) is not None
    raw = analyze_file(media / "single_face.mp4", Settings(audio=False, max_frames=5, smooth=0), models)
    assert all(f.smoothed is None and f.valence is not None for fr in raw.frames for f in fr.faces)
