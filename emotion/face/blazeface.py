"""BlazeFace (MediaPipe's face detector) on onnxruntime: anchors, box decoding and weighted NMS in numpy.

The networks are MediaPipe's short- and full-range BlazeFace models (Apache-2.0), converted once to ONNX by
``training/convert_blazeface.py`` and shipped in ``models/`` with the card ``models/blazeface.md``. Nothing is
downloaded at run time. An onnxruntime session may be run from many threads at once and the rest is pure numpy,
so one detector can serve parallel workers.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from emotion import settings
from emotion.errors import ModelUnavailable
from emotion.face.base import onnx_session
from emotion.files import sha256


@dataclass(frozen=True)
class Spec:
    """One BlazeFace network as MediaPipe runs it.

    Attributes:
        file: The ONNX file stem in ``models/``.
        side: The square input side in pixels.
        strides: The SSD layers' strides (layers with equal strides share one grid).
        anchors_per_layer: Anchors per grid cell of each layer (2 with MediaPipe's interpolated scale, else 1).
        min_score: MediaPipe's score threshold for this network.
    """

    file: str
    side: int
    strides: tuple[int, ...]
    anchors_per_layer: int
    min_score: float


SHORT = Spec("blazeface_short", 128, (8, 16, 16, 16), 2, 0.5)
"""Faces within about 2 m of the camera (a face fills much of the frame)."""
FULL = Spec("blazeface_full", 192, (4,), 1, 0.6)
"""Faces up to about 5 m away: smaller faces, the one the detector uses."""


SURE = 0.75
"""Score from which a box is kept whatever its keypoints say."""


def anchor_centers(spec: Spec) -> np.ndarray:
    """The (n, 2) anchor centres, normalised to 0..1, in the network's output order (MediaPipe's SSD anchors)."""
    out, i = [], 0
    while i < len(spec.strides):
        j = i
        while j < len(spec.strides) and spec.strides[j] == spec.strides[i]:
            j += 1
        cells = -(-spec.side // spec.strides[i])
        ys, xs = np.mgrid[0:cells, 0:cells]
        centers = np.stack([(xs + 0.5) / cells, (ys + 0.5) / cells], -1).reshape(-1, 2)
        out.append(np.repeat(centers, (j - i) * spec.anchors_per_layer, axis=0))
        i = j
    return np.concatenate(out).astype(np.float32)


def weighted_nms(boxes: np.ndarray, scores: np.ndarray, threshold: float = 0.3) -> list[tuple[np.ndarray, float]]:
    """MediaPipe's weighted non-maximum suppression.

    Each kept box is the score-weighted mean of the boxes overlapping the best remaining one (IoU above
    ``threshold``), with the best score.

    Args:
        boxes: (n, 4) as x0, y0, x1, y1.
        scores: (n,) scores.
        threshold: IoU above which boxes are merged.

    Returns:
        (box, score) pairs, best first.
    """
    order = np.argsort(-scores)
    boxes, scores = boxes[order], scores[order]
    kept = []
    while len(boxes):
        ix0 = np.maximum(boxes[0, 0], boxes[:, 0])
        iy0 = np.maximum(boxes[0, 1], boxes[:, 1])
        ix1 = np.minimum(boxes[0, 2], boxes[:, 2])
        iy1 = np.minimum(boxes[0, 3], boxes[:, 3])
        inter = np.clip(ix1 - ix0, 0, None) * np.clip(iy1 - iy0, 0, None)
        areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
        overlap = inter / np.maximum(areas[0] + areas - inter, 1e-9)
        group = overlap > threshold
        weights = scores[group]
        kept.append(((boxes[group] * weights[:, None]).sum(0) / weights.sum(), float(scores[0])))
        boxes, scores = boxes[~group], scores[~group]
    return kept


def read_sidecar(models_dir: Path) -> dict:
    """The detector's sidecar ``blazeface.json``: each network's sha256 and input side, checked.

    Raises:
        ModelUnavailable: The sidecar is missing, not JSON, or lacks a checksum.
    """
    path = models_dir / "blazeface.json"
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        meta = None
    nets = meta.get("models") if isinstance(meta, dict) else None
    if not isinstance(nets, dict):
        raise ModelUnavailable(f"face detector 'blazeface': its sidecar {path} is missing or not JSON; reinstall it")
    for spec in (SHORT, FULL):
        entry = nets.get(spec.file)
        digest = entry.get("sha256") if isinstance(entry, dict) else None
        if type(digest) is not str or not re.fullmatch("[0-9a-f]{64}", digest):
            raise ModelUnavailable(f"face detector 'blazeface': {path.name} records no sha256 for {spec.file}")
    return nets


class BlazeNet:
    """One BlazeFace network: a letterboxed square in, scored boxes out (in the square's 0..1 coordinates).

    Args:
        spec: Which network.
        models_dir: Where the ONNX file and its sidecar live.
        threads: onnxruntime intra-op threads (1 suits parallel frame workers).
    """

    def __init__(self, spec: Spec, models_dir: Path | None = None, threads: int = 1) -> None:
        folder = Path(models_dir or settings.models_dir())
        path = folder / f"{spec.file}.onnx"
        expected = read_sidecar(folder)[spec.file]["sha256"]
        if not path.is_file():
            raise ModelUnavailable(f"face detector 'blazeface': {path} is missing; reinstall it")
        if sha256(path) != expected:
            raise ModelUnavailable(f"face detector file {path.name} does not match its checksum; reinstall it")
        try:
            self.session = onnx_session(path, threads)
            out = self.session.run(None, {"input": np.zeros((1, spec.side, spec.side, 3), np.float32)})
        except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own types (InvalidProtobuf, Fail, ...)
            raise ModelUnavailable(
                f"face detector file {path.name} does not run as a {spec.side}x{spec.side} BlazeFace network "
                f"({type(exc).__name__}); reinstall it"
            ) from None
        self.spec = spec
        self.anchors = anchor_centers(spec)
        if [o.shape for o in out] != [(1, len(self.anchors), 16), (1, len(self.anchors), 1)]:
            raise ModelUnavailable(
                f"face detector file {path.name} gives outputs {[o.shape for o in out]}; reinstall it"
            )

    def run(self, squares: np.ndarray, min_score: float) -> list[tuple[np.ndarray, np.ndarray]]:
        """Score a batch of RGB uint8 squares of the network's side: :meth:`run_keypoints` without the keypoints."""
        return [(boxes, scores) for boxes, scores, _ in self.run_keypoints(squares, min_score)]

    def run_keypoints(self, squares: np.ndarray, min_score: float) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """Score a batch of RGB uint8 squares of the network's side, with each box's six keypoints.

        An anchor scoring below :data:`SURE` is kept only if its keypoints are laid out as in an upright face (the
        mouth at least a quarter of the box below both eyes): face-like blobs score 0.5-0.65 with keypoints that
        are not.

        Args:
            squares: (n, side, side, 3) RGB uint8.
            min_score: Keep anchors scoring at least this.

        Returns:
            For each square, its candidate boxes (k, 4) as x0, y0, x1, y1 in 0..1, their scores (k,) and their
            keypoints (k, 6, 2) as x, y in 0..1: MediaPipe's order, the eyes first (0: the eye on the image's
            left in an upright, unmirrored face; 1: the other), then the nose tip, the mouth and the two ear points.
        """
        x = squares.astype(np.float32) / 127.5 - 1.0
        reg, cls = self.session.run(None, {"input": x})
        scores = 1.0 / (1.0 + np.exp(-np.clip(cls[..., 0], -80, 80)))  # MediaPipe clips at 100; exp overflows
        out = []
        for r, s in zip(reg, scores, strict=True):
            r = r / self.spec.side
            eyes_y = np.maximum(r[:, 5], r[:, 7])  # keypoints 0 and 1 are the eyes, 3 the mouth (offsets from anchor)
            upright = r[:, 11] - eyes_y >= 0.25 * r[:, 2]
            keep = (s >= min_score) & ((s >= SURE) | upright)
            r, a = r[keep], self.anchors[keep]
            cx, cy = r[:, 0] + a[:, 0], r[:, 1] + a[:, 1]
            w, h = r[:, 2], r[:, 3]
            points = r[:, 4:16].reshape(-1, 6, 2) + a[:, None, :]
            out.append((np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], 1), s[keep], points))
        return out


def letterbox(image: np.ndarray, side: int) -> tuple[np.ndarray, float]:
    """Shrink ``image`` (RGB) into a black ``side`` square at its top-left corner; return it and the scale."""
    scale = side / max(image.shape[:2])
    h, w = max(1, round(image.shape[0] * scale)), max(1, round(image.shape[1] * scale))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    square = np.zeros((side, side, 3), np.uint8)
    square[:h, :w] = cv2.resize(image, (w, h), interpolation=interp)
    return square, scale


def tile_grid(width: int, height: int, side: int, min_overlap: float = 0.15) -> list[tuple[int, int]]:
    """Top-left corners of ``side`` squares covering a ``width`` x ``height`` frame, overlapping by ``min_overlap``."""

    def starts(length: int) -> list[int]:
        if length <= side:
            return [0]
        n = -(-length // side)
        while n > 1 and (n * side - length) / (n - 1) < min_overlap * side:
            n += 1
        return [round(i * (length - side) / (n - 1)) for i in range(n)]

    return [(x, y) for y in starts(height) for x in starts(width)]


def same_face(box: np.ndarray, other: np.ndarray, limit: float = 0.6) -> bool:
    """Whether two (x0, y0, x1, y1) boxes show one face.

    They do when ``box`` lies mostly (``limit`` of its area) inside ``other`` (a face cut by a tile's edge), or
    when each box's centre lies inside the other (two framings of one face).
    """
    area = max((box[2] - box[0]) * (box[3] - box[1]), 1e-9)
    inter = max(0.0, min(box[2], other[2]) - max(box[0], other[0])) * max(
        0.0, min(box[3], other[3]) - max(box[1], other[1])
    )

    def holds(a: np.ndarray, b: np.ndarray) -> bool:
        cx, cy = (b[0] + b[2]) / 2, (b[1] + b[3]) / 2
        return bool(a[0] <= cx <= a[2] and a[1] <= cy <= a[3])

    return inter / area >= limit or (holds(box, other) and holds(other, box))


def suppress_contained(found: list[tuple[np.ndarray, float]]) -> list[tuple[np.ndarray, float]]:
    """Keep the best box of each face (``found`` is best first): drop any box that :func:`same_face` as a kept one."""
    kept: list[tuple[np.ndarray, float]] = []
    for box, score in found:
        if not any(same_face(box, k) for k, _ in kept):
            kept.append((box, score))
    return kept


class BlazeFaceDetector:
    """MediaPipe's full-range BlazeFace on onnxruntime, with tiles for small faces in large frames.

    The whole frame is letterboxed into the network's 192 px square; a frame whose longer side exceeds
    ``tile_above`` pixels is also cut into overlapping squares (side: the frame's shorter side, or a fraction of it),
    so a face a tenth of a 1080p frame's height is seen at about 20 px. Boxes from every view are merged with
    MediaPipe's weighted NMS and then reframed like the Haar cascade's (a square a little larger than BlazeFace's
    tight box, centred slightly higher), so the face models crop what they were tuned on.

    Safe to share between threads: onnxruntime sessions run concurrently and the rest keeps no state.

    Args:
        models_dir: Where ``blazeface_full.onnx`` and ``blazeface.json`` live.
        min_score: Lowest face score kept (MediaPipe uses 0.6 for this network; see :data:`SURE` below 0.75).
        tile_above: Longer side in pixels above which tiles are added (0: never).
        tile_levels: Tile sides as fractions of the frame's shorter side (1.0 = squares as high as the frame).
        close_ups: Also run the short-range network on the whole frame, for faces that fill it.
        threads: onnxruntime intra-op threads (1 suits parallel frame workers).
    """

    name = "blazeface"
    scale = 1.11
    """Haar's box side over BlazeFace's, measured on faces both find (see ``models/blazeface.md``)."""
    shift = -0.11
    """How far Haar's box centre sits above BlazeFace's, as a fraction of BlazeFace's side."""

    def __init__(
        self,
        models_dir: Path | None = None,
        min_score: float = 0.55,
        tile_above: int = 600,
        tile_levels: tuple[float, ...] = (1.0,),
        close_ups: bool = True,
        threads: int = 1,
    ) -> None:
        self.net = BlazeNet(FULL, models_dir, threads)
        self.near_net = BlazeNet(SHORT, models_dir, threads) if close_ups else None
        self.min_score = min_score
        self.tile_above = tile_above
        self.tile_levels = tile_levels

    def views(self, width: int, height: int) -> list[tuple[int, int, int]]:
        """The squares (x, y, side) the frame is looked at in: the whole frame first, then any tiles."""
        views = [(0, 0, max(width, height))]
        if self.tile_above and max(width, height) > self.tile_above:
            for level in self.tile_levels:
                side = round(min(width, height) * level)
                if side < max(width, height):
                    views += [(x, y, side) for x, y in tile_grid(width, height, side)]
        return views

    def _search(self, rgb: np.ndarray, views: list[tuple[int, int, int]]) -> list[tuple[np.ndarray, float]]:
        """Run the network on each view; return merged (x0, y0, x1, y1) boxes in frame pixels with scores."""
        side = self.net.spec.side
        squares, places = [], []
        for x, y, s in views:
            square, scale = letterbox(rgb[y : y + s, x : x + s], side)
            squares.append(square)
            places.append((x, y, side / scale))
        boxes, scores = [], []
        for (b, sc), (x, y, size) in zip(self.net.run(np.stack(squares), self.min_score), places, strict=True):
            boxes.append(b * size + np.array([x, y, x, y], np.float32))
            scores.append(sc)
        if self.near_net is not None and views[0][2] >= max(rgb.shape[:2]):  # the whole frame, for close-ups
            square, scale = letterbox(rgb, self.near_net.spec.side)
            ((b, sc),) = self.near_net.run(square[None], max(self.min_score, self.near_net.spec.min_score))
            boxes.append(b * self.near_net.spec.side / scale)
            scores.append(sc)
        if not boxes or not sum(len(s) for s in scores):
            return []
        return suppress_contained(weighted_nms(np.concatenate(boxes), np.concatenate(scores)))

    def reframe(self, box: np.ndarray, width: int, height: int) -> list[int] | None:
        """BlazeFace's (x0, y0, x1, y1) as a Haar-like [x, y, w, h] square, clipped to the frame."""
        side = max(box[2] - box[0], box[3] - box[1]) * self.scale
        cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2 + self.shift * side / self.scale
        x0, y0 = max(0, round(cx - side / 2)), max(0, round(cy - side / 2))
        x1, y1 = min(width, round(cx + side / 2)), min(height, round(cy + side / 2))
        if x1 - x0 < 4 or y1 - y0 < 4:
            return None
        return [x0, y0, x1 - x0, y1 - y0]

    def detect(self, image: np.ndarray) -> list[list[int]]:
        """Return face boxes [x, y, w, h] in pixels of ``image``, largest first."""
        rgb = cv2.cvtColor(image, cv2.COLOR_GRAY2RGB) if image.ndim == 2 else image[:, :, 2::-1]
        h, w = rgb.shape[:2]
        boxes = [self.reframe(b, w, h) for b, _ in self._search(rgb, self.views(w, h))]
        return sorted((b for b in boxes if b), key=lambda b: -b[2] * b[3])

    def detect_near(self, image: np.ndarray, boxes: list[list[int]]) -> list[list[int]]:
        """Look for each known face only in a square three times its side around its last box (one batched run).

        Returns:
            The faces found, largest first; fewer than ``boxes`` when a face was lost.
        """
        rgb = cv2.cvtColor(image, cv2.COLOR_GRAY2RGB) if image.ndim == 2 else image[:, :, 2::-1]
        h, w = rgb.shape[:2]
        views = []
        for x, y, bw, bh in boxes:
            side = min(max(w, h), 3 * max(bw, bh))
            x0 = int(np.clip(x + bw / 2 - side / 2, 0, max(0, w - side)))
            y0 = int(np.clip(y + bh / 2 - side / 2, 0, max(0, h - side)))
            views.append((x0, y0, side))
        found = [self.reframe(b, w, h) for b, _ in self._search(rgb, views)] if views else []
        return sorted((b for b in found if b), key=lambda b: -b[2] * b[3])
