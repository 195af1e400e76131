"""Face detection behind one small interface: ``detector.detect(bgr) -> list of [x, y, w, h]``.

Detectors: "blazeface" (the default: MediaPipe's BlazeFace on onnxruntime, :mod:`emotion.face.blazeface`), "haar"
(OpenCV's frontal cascade, the fallback) and any DeepFace backend by name. Each one returned by :func:`get_detector`
may be shared by parallel workers: BlazeFace keeps no state between calls, Haar keeps one cascade per thread, and
DeepFace's backends take turns under a lock.
"""

from __future__ import annotations

import threading

import cv2
import numpy as np

from emotion.errors import ModelUnavailable, one_line
from emotion.face.protocols import FaceDetector


class HaarDetector:
    """OpenCV's frontal-face Haar cascade, run on a downscaled gray frame.

    Works offline with what ``opencv-contrib-python-headless<5`` ships.

    Args:
        work_side: The longer side the frame is shrunk to before detection.
        min_size: Smallest face side in pixels of the shrunk frame.
        min_neighbors: Higher rejects more false positives (and some faces).
        scale_factor: Pyramid step; smaller finds more faces, more slowly.
    """

    name = "haar"

    def __init__(
        self, work_side: int = 480, min_size: int = 24, min_neighbors: int = 5, scale_factor: float = 1.15
    ) -> None:
        self.path = cv2.data.haarcascades + "haarcascade_frontalface_default.xml"  # type: ignore[attr-defined]
        self._local = threading.local()  # a cascade is not safe to share between threads
        self._cascade()
        self.work_side = work_side
        self.min_size = min_size
        self.min_neighbors = min_neighbors
        self.scale_factor = scale_factor

    def _cascade(self) -> cv2.CascadeClassifier:
        cascade = getattr(self._local, "cascade", None)
        if cascade is None:
            cascade = self._local.cascade = cv2.CascadeClassifier(self.path)
            if cascade.empty():
                raise ModelUnavailable(
                    f"OpenCV's Haar cascade is missing at {self.path}: install opencv-contrib-python-headless<5"
                )
        return cascade

    def detect(self, image: np.ndarray) -> list[list[int]]:
        """Return face boxes [x, y, w, h] in pixels of ``image``, largest first."""
        gray = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        scale = min(1.0, self.work_side / max(gray.shape[:2]))
        small = cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) if scale < 1 else gray
        small = cv2.equalizeHist(small)
        found = self._cascade().detectMultiScale(
            small,
            scaleFactor=self.scale_factor,
            minNeighbors=self.min_neighbors,
            minSize=(self.min_size, self.min_size),
        )
        boxes = [[round(v / scale) for v in box] for box in (found if len(found) else [])]
        return sorted(boxes, key=lambda b: -b[2] * b[3])

    def detect_near(self, image: np.ndarray, boxes: list[list[int]]) -> list[list[int]]:
        """Look for each known face only around its last box: far cheaper than :meth:`detect`.

        Each region is the box grown by half its side on every side, shrunk so the face is
        about 64 px, and searched for faces of 0.6x to 1.6x that size.

        Returns:
            The faces found, largest first; fewer than ``boxes`` when a face was lost.
        """
        gray = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        found: list[list[int]] = []
        for x, y, w, h in boxes:
            side = max(w, h)
            x0, y0 = max(0, x - side // 2), max(0, y - side // 2)
            roi = gray[y0 : y + h + side // 2, x0 : x + w + side // 2]
            scale = min(1.0, 64 / side)
            small = cv2.equalizeHist(cv2.resize(roi, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA))
            hits = self._cascade().detectMultiScale(
                small,
                scaleFactor=self.scale_factor,
                minNeighbors=self.min_neighbors,
                minSize=(max(self.min_size, round(0.6 * side * scale)),) * 2,
                maxSize=(round(1.6 * side * scale),) * 2,
            )
            if len(hits):
                bx, by, bw, bh = max(hits, key=lambda b: b[2] * b[3])
                box = [x0 + round(bx / scale), y0 + round(by / scale), round(bw / scale), round(bh / scale)]
                if all(iou(box, other) < 0.5 for other in found):
                    found.append(box)
        return sorted(found, key=lambda b: -b[2] * b[3])


def iou(a: list[int], b: list[int]) -> float:
    """Intersection over union of two [x, y, w, h] boxes."""
    ix = max(0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = ix * iy
    return inter / float(a[2] * a[3] + b[2] * b[3] - inter)


class DetectorFailed(ModelUnavailable):
    """A detector that loaded raised an error on a frame; the message names the detector and the error."""


_DEEPFACE_LOCKS: dict[str, threading.Lock] = {}
_LOCKS_GUARD = threading.Lock()


class DeepFaceDetector:
    """Any DeepFace detector backend, by name (e.g. "opencv", "mediapipe", "retinaface").

    DeepFace keeps one detector object per backend for the whole process, and most of them (OpenCV's cascade
    among them) are not safe to run from two threads at once, so every call for a backend holds that backend's
    lock: parallel workers take turns on it. The backend is built on first use, under the same lock.

    Raises (from :meth:`detect`):
        ModelUnavailable: The backend could not be built (weights that must be downloaded fail offline).
        DetectorFailed: The backend loaded but raised an error on this frame.
    """

    def __init__(self, backend: str) -> None:
        self.name = backend
        with _LOCKS_GUARD:
            self._lock = _DEEPFACE_LOCKS.setdefault(backend, threading.Lock())
        self._loaded = False

    def _load(self) -> None:
        """Build DeepFace's detector for this backend (called under the lock)."""
        from deepface.modules import modeling

        try:
            modeling.build_model(task="face_detector", model_name=self.name)
        except Exception as exc:  # noqa: BLE001 - deepface raises many kinds on a failed download or a bad name
            raise ModelUnavailable(f"DeepFace detector '{self.name}' could not load: {one_line(exc, 200)}") from None
        self._loaded = True

    def detect(self, image: np.ndarray) -> list[list[int]]:
        """Return face boxes [x, y, w, h] in pixels of ``image``, largest first."""
        from deepface import DeepFace

        if image.ndim == 2:  # DeepFace's backends take BGR only
            image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
        with self._lock:
            if not self._loaded:
                self._load()
            try:
                faces = DeepFace.extract_faces(image, detector_backend=self.name, enforce_detection=False, align=False)
            except ValueError as exc:
                if "Face could not be detected" in str(exc):
                    return []
                why = one_line(exc, 200)
                raise DetectorFailed(f"DeepFace detector '{self.name}' failed on a frame: {why}") from None
            except Exception as exc:  # noqa: BLE001 - a backend's own error on this frame
                raise DetectorFailed(
                    f"DeepFace detector '{self.name}' failed on a frame ({type(exc).__name__}: {one_line(exc, 200)})"
                ) from None
        h, w = image.shape[:2]
        boxes = []
        for face in faces:
            area = face["facial_area"]
            box = [int(area["x"]), int(area["y"]), int(area["w"]), int(area["h"])]
            if face.get("confidence", 1) > 0 and not (
                box[2] >= w - 1 and box[3] >= h - 1
            ):  # whole frame = nothing found
                boxes.append(box)
        return sorted(boxes, key=lambda b: -b[2] * b[3])


def get_detector(name: str = "blazeface") -> FaceDetector:
    """Return a detector by name: "blazeface" (default, offline), "haar" (offline) or any DeepFace backend name."""
    if name in ("blazeface", "default"):
        from emotion.face.blazeface import BlazeFaceDetector

        return BlazeFaceDetector()
    return HaarDetector() if name == "haar" else DeepFaceDetector(name)
