"""Face ids on derived clips made from real faces: a face that leaves and comes back, two faces that cross.

The clips are drawn at test time from real portraits of the shared media (two different people), and each frame goes
through the real Haar detector, so the boxes jitter, shrink and vanish the way real detections do.
"""

from __future__ import annotations

import numpy as np
import pytest

from emotion.face.detect import HaarDetector
from emotion.face.tracker import FaceTracker, embedding
from tests.conftest import MEDIA, need
from tests.media_tools import face_crops

pytestmark = [pytest.mark.needs_data]
FPS = 15.0


@pytest.fixture(scope="module")
def people() -> list[np.ndarray]:
    """Two 180x180 face crops of two different people."""
    crops = face_crops([need(MEDIA / "0-f15-hao-ph.jpg"), need(MEDIA / "single_face.jpg")])
    assert len(crops) == 2
    return crops


def canvas(placed: list[tuple[np.ndarray, int, int]], size: tuple[int, int] = (400, 720)) -> np.ndarray:
    """A gray frame with each crop pasted at (x, y); later ones cover earlier ones."""
    out = np.full((*size, 3), 128, np.uint8)
    for crop, x, y in placed:
        x0, y0 = max(0, x), max(0, y)
        x1, y1 = min(size[1], x + crop.shape[1]), min(size[0], y + crop.shape[0])
        if x1 > x0 and y1 > y0:
            out[y0:y1, x0:x1] = crop[y0 - y : y1 - y, x0 - x : x1 - x]
    return out


def track(frames: list[np.ndarray], tracker: FaceTracker, with_image: bool = True) -> list[list[tuple[int, int]]]:
    """(id, box centre x) of each detected face, per frame."""
    detector = HaarDetector()
    out = []
    for i, img in enumerate(frames):
        boxes = detector.detect(img)
        ids = tracker.update(boxes, i / FPS, img if with_image else None)
        out.append([(face_id, b[0] + b[2] // 2) for face_id, b in zip(ids, boxes)])
    return out


def test_appearance_tells_two_people_apart(people):
    a, b = people
    box = [20, 20, 140, 140]
    same = embedding(a, box).distance(embedding(a[4:, 3:], box))  # the same face, shifted by a few pixels
    other = embedding(a, box).distance(embedding(b, box))
    assert same < 0.1 < 0.25 < other


def test_a_face_that_leaves_and_comes_back_keeps_its_id(people):
    a, b = people
    frames = [canvas([(a, 40, 100)])] * 15  # 1 s on the left
    frames += [canvas([])] * 20  # gone for 1.3 s
    frames += [canvas([(b, 280, 100)])] * 5  # someone else shows up meanwhile
    frames += [canvas([(a, 480, 120)])] * 15  # the first person is back, 440 px to the right
    seen = track(frames, FaceTracker())
    first = {i for faces in seen[:15] for i, _ in faces}
    other = {i for faces in seen[35:40] for i, _ in faces}
    back = {i for faces in seen[40:] for i, _ in faces}
    assert len(first) == 1 and len(other) == 1 and first != other
    assert back == first, f"the returning face got {back}, not {first}"


def test_position_alone_cannot_bring_a_face_back_elsewhere(people):
    """Without frames the tracker matches by position only: the same clip gives the returning face a new id."""
    a, _ = people
    frames = [canvas([(a, 40, 100)])] * 10 + [canvas([])] * 10 + [canvas([(a, 480, 120)])] * 10
    seen = track(frames, FaceTracker(), with_image=False)
    assert {i for f in seen[:10] for i, _ in f} != {i for f in seen[20:] for i, _ in f}


PATHS = {
    "steady": list(range(40)),
    "pause while one hides the other": list(range(20)) + [20] * 15 + list(range(20, 40)),
    "twice as fast": list(range(0, 40, 2)),
}


@pytest.mark.parametrize("path", PATHS, ids=list(PATHS))
@pytest.mark.slow
def test_two_faces_that_cross_keep_their_ids(people, path):
    a, b = people
    frames = []
    for k in PATHS[path]:  # a walks right, b walks left, b passes in front of a half-way
        xa = 20 + k * 520 // 39
        xb = 540 - k * 520 // 39
        frames.append(canvas([(a, xa, 90), (b, xb, 130)]))
    seen = track(frames, FaceTracker())
    start = sorted(seen[0], key=lambda f: f[1])  # left to right: a then b
    end = sorted(seen[-1], key=lambda f: f[1])  # left to right: b then a
    assert len(start) == len(end) == 2
    id_a, id_b = start[0][0], start[1][0]
    assert id_a != id_b
    assert (end[0][0], end[1][0]) == (id_b, id_a), f"ids swapped or changed: start {start}, end {end}"
    assert {i for faces in seen for i, _ in faces} == {id_a, id_b}  # no third id on the way


def test_boxes_only_api_still_works():
    tracker = FaceTracker()
    assert tracker.update([[10, 10, 50, 50], [200, 10, 50, 50]], 0.0) == [0, 1]
    assert tracker.update([[205, 12, 50, 50], [12, 11, 50, 50]], 0.5) == [1, 0]
    assert tracker.update([[12, 11, 50, 50]], 10.0) == [2]  # past max_gap: a new person


def test_a_video_file_keeps_the_returning_face_id(people, tmp_path, models):
    """The file path matches by appearance too: the same leave-and-return clip, written as a video and analysed."""
    import cv2

    from emotion.analysis.pipeline import analyze_file
    from emotion.settings import Settings

    a, b = people
    frames = [canvas([(a, 40, 100)])] * 15 + [canvas([])] * 20 + [canvas([(b, 280, 100)])] * 5
    frames += [canvas([(a, 480, 120)])] * 15
    video = tmp_path / "return.mp4"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"mp4v"), FPS, (720, 400))
    for img in frames:
        writer.write(img)
    writer.release()
    result = analyze_file(video, Settings(audio=False, every_frame=True, min_face=40), models)
    ids = [[f.id for f in fr.faces] for fr in result.frames]
    first = {i for faces in ids[:15] for i in faces}
    other = {i for faces in ids[36:40] for i in faces}
    back = {i for faces in ids[42:] for i in faces}
    assert len(first) == 1 and len(other) == 1 and first != other
    assert back == first, f"the returning face got {back}, not {first}"
