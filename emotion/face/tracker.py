"""A tracker that gives the same person the same face id across frames, by position and by appearance.

Each track remembers its last box, its velocity and, when frames are given, a cheap appearance vector of the face
(:func:`embedding`: a 16x16 normalised gray patch and a hue-saturation histogram, nothing to download). A face
joins the track it matches best, where the cost is its distance from where the track was heading plus how different
it looks. A face that was gone for a while (up to ``max_gap`` seconds) gets its old id back when it looks the same,
wherever it comes back; two faces that cross keep their ids because each still looks like itself.

Between two detector runs on consecutive frames, :func:`follow` moves a face's box to where its picture went
(template matching on a small gray copy), so every frame can be read without running the detector on each.

A hard cut ends every track: :class:`SceneCuts` compares a small gray thumbnail of each analysed frame with the one
before, and after a cut :meth:`FaceTracker.cut` makes every face start a new id (no id continues across it, in a
file or in a live feed that jumps or loops).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

PATCH_SIDE = 16
"""Side of the gray patch in an appearance vector."""
HIST_BINS = (8, 4)
"""Hue and saturation bins of the colour histogram in an appearance vector."""
CUT_SIDE = 32
"""Side of the gray thumbnail that :class:`SceneCuts` compares between frames."""
CUT_DIFF = 40.0
"""Mean absolute difference (gray levels, 0-255) between two analysed frames' thumbnails from which they are taken
to be two shots. Measured on the shared videos: within a shot, frames 0.5 s apart differ by at most 25 (a moving
camera, a head that turns) and consecutive frames by at most 7; their hard cuts (to and from black, to another
scene, to another video) differ by 55 to 146."""


@dataclass
class Appearance:
    """What a face looks like, cheaply: a zero-mean unit-norm gray patch and a normalised colour histogram."""

    patch: np.ndarray
    hist: np.ndarray

    def distance(self, other: Appearance) -> float:
        """0 for the same picture; about 0.3-0.9 between two people's faces (see tests/unit/test_tracker.py)."""
        cos = float(self.patch @ other.patch)
        bhat = float(cv2.compareHist(self.hist, other.hist, cv2.HISTCMP_BHATTACHARYYA))
        return 0.5 * (1.0 - cos) + 0.5 * bhat

    def blend(self, other: Appearance, weight: float) -> Appearance:
        """Move towards ``other`` by ``weight`` (a running average that follows slow changes of light and pose)."""
        patch = (1 - weight) * self.patch + weight * other.patch
        patch /= float(np.linalg.norm(patch)) or 1.0
        hist = ((1 - weight) * self.hist + weight * other.hist).astype(np.float32)
        return Appearance(patch.astype(np.float32), hist)


def embedding(image: np.ndarray, box: list[int]) -> Appearance | None:
    """The appearance vector of the face in ``box`` of a BGR (or gray) ``image``; None when the box is empty."""
    x, y, w, h = (int(v) for v in box)
    crop = image[max(0, y) : y + h, max(0, x) : x + w]
    if crop.shape[0] < 4 or crop.shape[1] < 4:
        return None
    gray = crop if crop.ndim == 2 else cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY)
    patch = cv2.resize(gray, (PATCH_SIDE, PATCH_SIDE), interpolation=cv2.INTER_AREA).astype(np.float32).ravel()
    patch -= patch.mean()
    patch /= float(np.linalg.norm(patch)) or 1.0
    if crop.ndim == 2:
        hist = np.full(HIST_BINS[0] * HIST_BINS[1], 1.0 / (HIST_BINS[0] * HIST_BINS[1]), np.float32)
    else:
        hsv = cv2.cvtColor(crop, cv2.COLOR_BGR2HSV)
        hist = cv2.calcHist([hsv], [0, 1], None, list(HIST_BINS), [0, 180, 0, 256]).ravel().astype(np.float32)
        hist /= float(hist.sum()) or 1.0
    return Appearance(patch, hist)


def thumbnail(image: np.ndarray) -> np.ndarray:
    """A BGR (or gray) frame as a :data:`CUT_SIDE` square of gray levels (cheap: strided, then averaged down)."""
    step = max(1, min(image.shape[0], image.shape[1]) // (4 * CUT_SIDE))
    sub = np.ascontiguousarray(image[::step, ::step])
    gray = sub if sub.ndim == 2 else cv2.cvtColor(sub, cv2.COLOR_BGR2GRAY)
    return cv2.resize(gray, (CUT_SIDE, CUT_SIDE), interpolation=cv2.INTER_AREA)


class SceneCuts:
    """Tells, frame after frame, whether a frame starts a new shot (a hard cut, or a live feed that jumps).

    Args:
        threshold: Mean absolute thumbnail difference, in gray levels, from which two frames are two shots.
    """

    def __init__(self, threshold: float = CUT_DIFF) -> None:
        self.threshold = threshold
        self.last: np.ndarray | None = None

    def cut(self, image: np.ndarray) -> bool:
        """Whether ``image`` (the next analysed frame) starts a new shot; the first frame does not."""
        small, before = thumbnail(image), self.last
        self.last = small
        return before is not None and float(cv2.absdiff(before, small).mean()) >= self.threshold


@dataclass
class _Track:
    id: int
    box: list[int]
    t: float
    look: Appearance | None = None
    vx: float = 0.0
    vy: float = 0.0


class FaceTracker:
    """Matches face boxes between frames by position (with a constant-velocity guess) and appearance.

    A face may join a track when the track was seen within ``max_gap`` seconds, their sizes differ by less than 2x,
    and either its centre lies within ``max_shift`` face sides of where the track was heading (and, with frames
    given, it does not look like someone else: appearance distance at most ``max_look``), or, with frames given, it
    looks like the track's face (distance at most ``reid_look``) wherever it is. Among these, the pairs of least
    cost (distance in sides + ``look_weight`` x appearance distance) win, one face per track; the rest start
    new tracks.

    Args:
        max_shift: Largest centre distance, in face sides, still counted as the same face by position.
        max_gap: Seconds a track may go unseen before it ends.
        max_look: Largest appearance distance at which a face near a track may still join it.
        reid_look: Largest appearance distance at which a face anywhere may take a lost track's id.
        look_weight: Weight of appearance against position in the matching cost.
    """

    def __init__(
        self,
        max_shift: float = 0.8,
        max_gap: float = 3.0,
        max_look: float = 0.45,
        reid_look: float = 0.15,
        look_weight: float = 3.0,
    ) -> None:
        self.max_shift = max_shift
        self.max_gap = max_gap
        self.max_look = max_look
        self.reid_look = reid_look
        self.look_weight = look_weight
        self.tracks: list[_Track] = []
        self.next_id = 0

    def update(
        self, boxes: list[list[int]], t: float, image: np.ndarray | None = None, looks: list | None = None
    ) -> list[int]:
        """Assign a track id to each box seen at time ``t`` (call in time order).

        Args:
            boxes: [x, y, w, h] face boxes of one frame.
            t: The frame's time in seconds.
            image: The frame (BGR); when given, faces are matched by appearance too.
            looks: Each box's :func:`embedding`, computed already (where the frame is no longer held); used
                instead of ``image``.
        """
        live = [tr for tr in self.tracks if t - tr.t <= self.max_gap]
        if looks is None:
            looks = [embedding(image, b) for b in boxes] if image is not None else [None] * len(boxes)
        pairs = []
        for i, box in enumerate(boxes):
            for tr in live:
                cost = self._cost(box, looks[i], tr, t)
                if cost is not None:
                    pairs.append((cost, i, tr))
        ids: list[int | None] = [None] * len(boxes)
        used: set[int] = set()
        for _, i, tr in sorted(pairs, key=lambda p: p[0]):
            if ids[i] is None and tr.id not in used:
                ids[i] = tr.id
                used.add(tr.id)
                self._move(tr, boxes[i], looks[i], t)
        for i, box in enumerate(boxes):
            if ids[i] is None:
                ids[i] = self.next_id
                self.tracks.append(_Track(self.next_id, list(box), t, looks[i]))
                self.next_id += 1
        self.tracks = [tr for tr in self.tracks if t - tr.t <= self.max_gap]
        return [i for i in ids if i is not None]  # every slot was filled above

    def cut(self) -> None:
        """End every track: the faces seen next get new ids (call at a hard cut, before the next :meth:`update`)."""
        self.tracks = []

    def _cost(self, box: list[int], look: Appearance | None, tr: _Track, t: float) -> float | None:
        """The cost of ``box`` joining ``tr``, or None when it may not."""
        ratio = (box[2] * box[3]) / max(1, tr.box[2] * tr.box[3])
        if not 0.5 <= ratio <= 2.0:
            return None
        dt = min(max(0.0, t - tr.t), 1.0)  # velocity guesses beyond a second are worthless
        side = max(box[2], box[3], tr.box[2], tr.box[3])
        cx, cy = tr.box[0] + tr.box[2] / 2 + tr.vx * dt, tr.box[1] + tr.box[3] / 2 + tr.vy * dt
        dist = (
            min(
                ((box[0] + box[2] / 2 - cx) ** 2 + (box[1] + box[3] / 2 - cy) ** 2) ** 0.5,
                _centre_distance(box, tr.box),
            )
            / side
        )
        diff = look.distance(tr.look) if look is not None and tr.look is not None else None
        near = dist <= self.max_shift and (diff is None or diff <= self.max_look)
        alike = diff is not None and diff <= self.reid_look and t > tr.t
        if not (near or alike):
            return None
        return min(dist, self.max_shift) + self.look_weight * (diff or 0.0)

    @staticmethod
    def _move(tr: _Track, box: list[int], look: Appearance | None, t: float) -> None:
        dt = t - tr.t
        if 0 < dt <= 1.0:
            vx = (box[0] + box[2] / 2 - tr.box[0] - tr.box[2] / 2) / dt
            vy = (box[1] + box[3] / 2 - tr.box[1] - tr.box[3] / 2) / dt
            tr.vx, tr.vy = 0.5 * tr.vx + 0.5 * vx, 0.5 * tr.vy + 0.5 * vy
        elif dt > 1.0:
            tr.vx = tr.vy = 0.0
        tr.box, tr.t = list(box), t
        if look is not None:
            tr.look = look if tr.look is None else tr.look.blend(look, 0.2)


def _centre_distance(a: list[int], b: list[int]) -> float:
    ax, ay = a[0] + a[2] / 2, a[1] + a[3] / 2
    bx, by = b[0] + b[2] / 2, b[1] + b[3] / 2
    return ((ax - bx) ** 2 + (ay - by) ** 2) ** 0.5


FOLLOW_SIDE = 48
"""Side in pixels at which a face is matched from frame to frame by :func:`follow` (a 400 px face: 1 px is 2%)."""
FOLLOW_REACH = 0.25
"""How far (a fraction of the face's side, each way) :func:`follow` looks for a face from its last box."""


def _gray(image: np.ndarray, x0: int, y0: int, x1: int, y1: int, size: tuple[int, int]) -> np.ndarray:
    """The region x0..x1, y0..y1 of ``image`` as gray, averaged down to ``size`` (width, height)."""
    step = max(1, min((x1 - x0) // (2 * size[0]), (y1 - y0) // (2 * size[1])))
    sub = np.ascontiguousarray(image[y0:y1:step, x0:x1:step])
    gray = sub if sub.ndim == 2 else cv2.cvtColor(sub, cv2.COLOR_BGR2GRAY)
    return cv2.resize(gray, size, interpolation=cv2.INTER_AREA)


def template(image: np.ndarray, box: list[int]) -> np.ndarray | None:
    """The face in ``box`` as a :data:`FOLLOW_SIDE` gray square for :func:`follow`; None when the box is off-frame."""
    x, y, w, h = box
    x0, y0, x1, y1 = max(0, x), max(0, y), min(image.shape[1], x + w), min(image.shape[0], y + h)
    if x1 - x0 < 8 or y1 - y0 < 8 or (x1 - x0, y1 - y0) != (w, h):
        return None
    return _gray(image, x0, y0, x1, y1, (FOLLOW_SIDE, FOLLOW_SIDE))


def follow(image: np.ndarray, box: list[int], face: np.ndarray) -> tuple[list[int], float]:
    """Find where a face moved, near its last box, by matching its :func:`template` (translation only).

    The region around ``box`` (grown by :data:`FOLLOW_REACH` of its side each way) is averaged down to the
    template's scale and matched by normalised cross-correlation, the peak refined to a fraction of a pixel.

    Args:
        image: The new BGR (or gray) frame.
        box: The face's last [x, y, w, h] (the size the template was taken at).
        face: Its :func:`template`.

    Returns:
        The moved box and the match score (1 for the same picture; a face turned away or gone scores low).
        A box whose region leaves the frame is returned as it was, with score 0.
    """
    x, y, w, h = box
    reach = round(FOLLOW_REACH * max(w, h))
    x0, y0 = max(0, x - reach), max(0, y - reach)
    x1, y1 = min(image.shape[1], x + w + reach), min(image.shape[0], y + h + reach)
    f = FOLLOW_SIDE / w  # template pixels per image pixel
    size = (round((x1 - x0) * f), round((y1 - y0) * FOLLOW_SIDE / h))
    if size[0] <= FOLLOW_SIDE or size[1] <= FOLLOW_SIDE or x < x0 or y < y0 or x + w > x1 or y + h > y1:
        return list(box), 0.0
    region = _gray(image, x0, y0, x1, y1, size)
    scores = cv2.matchTemplate(region, face, cv2.TM_CCOEFF_NORMED)
    _, best, _, (px, py) = cv2.minMaxLoc(scores)
    dx, dy = px + _peak(scores[py, :], px), py + _peak(scores[:, px], py)
    sx, sy = (x1 - x0) / size[0], (y1 - y0) / size[1]  # image pixels per region pixel
    nx, ny = round(x0 + dx * sx), round(y0 + dy * sy)
    return [nx, ny, w, h], float(best)


def _peak(line: np.ndarray, i: int) -> float:
    """Sub-pixel offset of the maximum at ``i`` of ``line``, from a parabola through it and its neighbours."""
    if i <= 0 or i >= len(line) - 1:
        return 0.0
    a, b, c = float(line[i - 1]), float(line[i]), float(line[i + 1])
    den = a - 2 * b + c
    return 0.0 if den >= 0 else max(-0.5, min(0.5, 0.5 * (a - c) / den))
