"""A simple tracker that gives the same person the same face id across sampled frames."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class _Track:
    id: int
    box: list[int]
    t: float


class FaceTracker:
    """Greedy nearest-centre matching of face boxes between consecutive frames.

    A face joins a track when its centre lies within ``max_shift`` box sides of the
    track's last box, their sizes differ by less than 2x and the track was seen within
    ``max_gap`` seconds; otherwise it starts a new track.

    Args:
        max_shift: Largest centre distance, in face sides, still counted as the same face.
        max_gap: Seconds a track may go unseen before it ends.
    """

    def __init__(self, max_shift: float = 0.8, max_gap: float = 3.0) -> None:
        self.max_shift = max_shift
        self.max_gap = max_gap
        self.tracks: list[_Track] = []
        self.next_id = 0

    def update(self, boxes: list[list[int]], t: float) -> list[int]:
        """Assign a track id to each box seen at time ``t`` (call in time order)."""
        live = [tr for tr in self.tracks if t - tr.t <= self.max_gap]
        pairs = []
        for i, box in enumerate(boxes):
            for tr in live:
                side = max(box[2], box[3], tr.box[2], tr.box[3])
                ratio = (box[2] * box[3]) / max(1, tr.box[2] * tr.box[3])
                dist = _centre_distance(box, tr.box) / side
                if dist <= self.max_shift and 0.5 <= ratio <= 2.0:
                    pairs.append((dist, i, tr))
        ids: list[int | None] = [None] * len(boxes)
        used: set[int] = set()
        for _, i, tr in sorted(pairs, key=lambda p: p[0]):
            if ids[i] is None and tr.id not in used:
                ids[i] = tr.id
                used.add(tr.id)
                tr.box, tr.t = boxes[i], t
        for i, box in enumerate(boxes):
            if ids[i] is None:
                ids[i] = self.next_id
                self.tracks.append(_Track(self.next_id, box, t))
                self.next_id += 1
        self.tracks = [tr for tr in self.tracks if t - tr.t <= self.max_gap]
        return [i for i in ids if i is not None]  # every slot was filled above


def _centre_distance(a: list[int], b: list[int]) -> float:
    ax, ay = a[0] + a[2] / 2, a[1] + a[3] / 2
    bx, by = b[0] + b[2] / 2, b[1] + b[3] / 2
    return ((ax - bx) ** 2 + (ay - by) ** 2) ** 0.5
