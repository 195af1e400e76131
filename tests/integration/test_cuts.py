"""Face ids end at a hard cut, in files and in a live feed (issue 26 item 1).

The video is made at test time by splicing three real clips of the shared media, 2 s each: a talking head, the same
person from a mirrored angle (the tracker used to keep her id across that cut: same face, nearby box), and another
person. Every face is found by the real detector. No id may be seen on both sides of a cut, and within each shot
(a continuous clip) the one face keeps one id.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from emotion.analysis.live import LiveProcessor
from emotion.analysis.pipeline import analyze_file
from emotion.face.tracker import SceneCuts
from emotion.settings import Settings
from tests.conftest import MEDIA, need

pytestmark = [pytest.mark.needs_data, pytest.mark.slow]

FPS = 15
SIZE = (640, 360)
SHOT = 2.0
CLIPS = (("single_face.mp4", False), ("face_noface.mov", True), ("WolfgangLanger_Pexels.mp4", False))
"""Each shot's source and whether it is mirrored."""


def shot_frames(src: Path, mirrored: bool) -> list[np.ndarray]:
    """The first :data:`SHOT` seconds of ``src`` at :data:`FPS`, as :data:`SIZE` BGR frames."""
    out: list[np.ndarray] = []
    with av.open(str(src)) as inp:
        for frame in inp.decode(video=0):
            if frame.time is None or frame.time < len(out) / FPS:
                continue
            if len(out) >= SHOT * FPS:
                break
            image = cv2.resize(frame.to_ndarray(format="bgr24"), SIZE, interpolation=cv2.INTER_AREA)
            out.append(cv2.flip(image, 1) if mirrored else image)
    return out


@pytest.fixture(scope="module")
def shots() -> list[list[np.ndarray]]:
    """The three shots' frames."""
    return [shot_frames(need(MEDIA / name), mirrored) for name, mirrored in CLIPS]


def spliced(shots: list[list[np.ndarray]], dst: Path) -> Path:
    """The shots one after the other, as an H.264 video."""
    with av.open(str(dst), "w") as out:
        stream = out.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = *SIZE, "yuv420p"
        for n, image in enumerate(image for shot in shots for image in shot):
            frame = av.VideoFrame.from_ndarray(image, format="bgr24")
            frame.pts, frame.time_base = n, Fraction(1, FPS)
            out.mux(stream.encode(frame))
        out.mux(stream.encode())
    return dst


def ids_per_shot(seen: list[tuple[float, list[int]]]) -> list[set[int]]:
    """The ids seen in each shot, from (time, ids) pairs."""
    per: list[set[int]] = [set() for _ in CLIPS]
    for t, ids in seen:
        per[min(len(CLIPS) - 1, int(t / SHOT + 1e-6))].update(ids)
    return per


def check(per: list[set[int]]) -> None:
    """Each shot shows its one face under one id, and no id is in two shots."""
    assert all(len(ids) == 1 for ids in per), f"ids per shot: {per}"
    assert len(set.union(*per)) == len(CLIPS), f"an id continued across a cut: {per}"


def test_the_cuts_are_seen_and_nothing_else(shots):
    scenes = SceneCuts()
    cuts = [n for n, image in enumerate(img for shot in shots for img in shot) if scenes.cut(image)]
    assert cuts == [len(shots[0]), len(shots[0]) + len(shots[1])]


@pytest.mark.parametrize("every_frame", [False, True], ids=["sampled", "every-frame"])
def test_no_id_continues_across_a_cut_in_a_file(shots, tmp_path, every_frame):
    video = spliced(shots, tmp_path / "spliced.mp4")
    settings = Settings(collect=False, every_frame=every_frame, fps=0.0 if every_frame else 5.0)
    result = analyze_file(video, settings)
    assert result.error is None
    check(ids_per_shot([(f.t, [face.id for face in f.faces]) for f in result.frames]))


def test_no_id_continues_across_a_cut_in_a_live_feed(shots, models):
    processor = LiveProcessor(models, background=False)
    seen = []
    for n, image in enumerate(img for shot in shots for img in shot):
        _, update = processor.process(image, now=1000.0 + n / FPS)
        if update is not None:
            seen.append((n / FPS, [face.id for face in update.faces]))
    check(ids_per_shot(seen))
