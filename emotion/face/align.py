"""Eye-aligned face crops: rotate and scale each face so its eyes land on fixed points of the crop.

A detector box frames a face loosely: where the eyes fall in it depends on the detector, the head's tilt and
the photo. The face networks learned FER2013's framing, where the eyes sit at nearly the same place in every
48x48 crop. :class:`EyeFinder` runs BlazeFace's short-range network (the app's own detector, see
:mod:`emotion.face.blazeface`) on a square around a detected box and returns the two eye keypoints;
:func:`aligned_crop` maps them onto :data:`CANONICAL_EYES` with a similarity transform (rotation, scale, shift).
"""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np

from emotion.face.base import square_crop

CANONICAL_EYES = np.array([[0.318, 0.392], [0.682, 0.392]])
"""Where the eyes of a FER2013 face sit, as fractions of the crop side (x, y), the image's left eye first.

The medians of BlazeFace's eye keypoints on FER2013's training part (1,923 of 2,000 random faces had them; measured
by ``python -m training.face_data framing``), with the eye line levelled: the midpoint at (0.502, 0.392), the eyes
0.364 of the side apart."""

CONTEXT = 0.5
"""The eyes are searched in the box grown by this fraction of its side on every side (a square twice as large)."""


def _square(box: list[int] | np.ndarray, margin: float) -> tuple[float, float, float]:
    """The top-left corner and side of the square :func:`emotion.face.model.square_crop` cuts around ``box``."""
    x, y, w, h = (float(v) for v in box)
    side = max(w, h) * (1 + 2 * margin)
    return round(x + w / 2 - side / 2), round(y + h / 2 - side / 2), side


class EyeFinder:
    """The eye keypoints of a detected face, from BlazeFace's short-range network on a square around its box.

    Safe to share between threads (an onnxruntime session and numpy only).

    Args:
        models_dir: Where ``blazeface_short.onnx`` and ``blazeface.json`` live (checked as the detector checks them).
        threads: onnxruntime intra-op threads.
        min_score: Lowest face score whose keypoints are used.
    """

    def __init__(self, models_dir: Path | None = None, threads: int = 1, min_score: float = 0.4) -> None:
        from emotion.face.blazeface import SHORT, BlazeNet

        self.net = BlazeNet(SHORT, models_dir, threads)
        self.min_score = min_score

    def eyes(self, image: np.ndarray, box: list[int]) -> np.ndarray | None:
        """Return the eyes of the face in ``box`` as a (2, 2) array of x, y pixels of ``image``, left eye first.

        Args:
            image: BGR or gray frame.
            box: The face's [x, y, w, h] from any detector.

        Returns:
            The eyes, or None when no face is found near the box's centre or its eyes are implausibly placed
            (closer than a sixth or further than three quarters of the box side apart).
        """
        side_px = self.net.spec.side
        x0, y0, side = _square(box, CONTEXT)
        region = square_crop(image, list(box), CONTEXT)
        if region.size == 0:
            return None
        rgb = cv2.cvtColor(region, cv2.COLOR_GRAY2RGB) if region.ndim == 2 else region[:, :, 2::-1]
        interp = cv2.INTER_AREA if rgb.shape[0] > side_px else cv2.INTER_LINEAR
        square = cv2.resize(np.ascontiguousarray(rgb), (side_px, side_px), interpolation=interp)
        ((boxes, scores, points),) = self.net.run_keypoints(square[None], self.min_score)
        if not len(scores):
            return None
        centres = (boxes[:, :2] + boxes[:, 2:]) / 2
        near = np.linalg.norm(centres - 0.5, axis=1) < 0.2  # the face of this box, not a neighbour
        if not near.any():
            return None
        best = int(np.argmax(np.where(near, scores, -1.0)))
        overlap = _iou(boxes[best], boxes) > 0.3  # MediaPipe's weighted mean over the boxes of one face
        weights = scores[overlap][:, None]
        eyes = (points[overlap, :2] * weights[:, :, None]).sum(0) / weights.sum()
        eyes = eyes[np.argsort(eyes[:, 0])] * region.shape[0] + np.array([x0, y0])
        distance = float(np.linalg.norm(eyes[1] - eyes[0]))
        if not max(box[2], box[3]) / 6 <= distance <= 0.75 * max(box[2], box[3]):
            return None
        return eyes


def _iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """IoU of one (x0, y0, x1, y1) box with each of ``boxes``."""
    ix = np.clip(np.minimum(box[2], boxes[:, 2]) - np.maximum(box[0], boxes[:, 0]), 0, None)
    iy = np.clip(np.minimum(box[3], boxes[:, 3]) - np.maximum(box[1], boxes[:, 1]), 0, None)
    inter = ix * iy
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    return inter / np.maximum(area + areas - inter, 1e-9)


def similarity(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """The 2x3 rotation-scale-shift matrix that maps the two points ``src`` onto the two points ``dst``."""
    ds, dd = src[1] - src[0], dst[1] - dst[0]
    scale = float(np.linalg.norm(dd)) / max(float(np.linalg.norm(ds)), 1e-6)
    angle = math.atan2(dd[1], dd[0]) - math.atan2(ds[1], ds[0])
    rot = scale * np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    return np.hstack([rot, (dst[0] - rot @ src[0])[:, None]])


def aligned_crop(
    image: np.ndarray, eyes: np.ndarray, size: int, points: np.ndarray = CANONICAL_EYES
) -> np.ndarray:
    """Cut a ``size`` x ``size`` gray face whose eyes are at ``points`` (fractions of the side).

    The region the crop covers is first cut out and shrunk with area averaging, so a large face is not aliased,
    then rotated and scaled onto the crop; pixels past the frame's edge repeat the edge.

    Args:
        image: BGR or gray frame.
        eyes: (2, 2) eye positions in pixels of ``image``, the image's left eye first (:meth:`EyeFinder.eyes`).
        size: The crop's side.
        points: Where the eyes go, as fractions of the side.
    """
    gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 else image
    src, dst = np.asarray(eyes, np.float64), np.asarray(points, np.float64) * size
    matrix = similarity(src, dst)
    scale = float(np.hypot(matrix[0, 0], matrix[1, 0]))
    centre = cv2.invertAffineTransform(matrix) @ np.array([size / 2, size / 2, 1.0])
    half = 0.75 * size / scale  # covers the crop's corners at any rotation (half its diagonal is 0.71 sides)
    region_box = [round(centre[0] - half), round(centre[1] - half), round(2 * half), round(2 * half)]
    region = square_crop(gray, region_box, 0.0)
    x0, y0, _ = _square(region_box, 0.0)
    full = max(region.shape[0], 1)
    if full > 1.5 * size:
        side = round(1.5 * size)
        region = cv2.resize(region, (side, side), interpolation=cv2.INTER_AREA)
    local = (src - np.array([x0, y0])) * (region.shape[0] / full)
    return cv2.warpAffine(
        region, similarity(local, dst), (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )
