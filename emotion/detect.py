"""Face detection behind one small interface: ``detector.detect(bgr) -> list of [x, y, w, h]``."""

from __future__ import annotations

import threading
from typing import Protocol

import cv2
import numpy as np


class ModelUnavailable(Exception):
    """A model or its weights cannot be loaded; the message says what to do."""


class FaceDetector(Protocol):
    """Anything that finds faces in a BGR image."""

    name: str

    def detect(self, image: np.ndarray) -> list[list[int]]:
        """Return face boxes [x, y, w, h] in pixels of ``image``, largest first."""
        ...


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
        self, work_side: int = 640, min_size: int = 24, min_neighbors: int = 5, scale_factor: float = 1.1
    ) -> None:
        self.path = cv2.data.haarcascades + "haarcascade_frontalface_default.xml"
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


class DeepFaceDetector:
    """Any DeepFace detector backend, by name (e.g. "opencv", "mediapipe", "retinaface").

    Backends whose weights must be downloaded fail offline with :class:`ModelUnavailable`.
    """

    def __init__(self, backend: str) -> None:
        self.name = backend

    def detect(self, image: np.ndarray) -> list[list[int]]:
        """Return face boxes [x, y, w, h] in pixels of ``image``, largest first."""
        from deepface import DeepFace

        try:
            faces = DeepFace.extract_faces(image, detector_backend=self.name, enforce_detection=False, align=False)
        except ValueError as exc:
            if "Face could not be detected" in str(exc):
                return []
            raise ModelUnavailable(
                f"DeepFace detector '{self.name}' could not load: {str(exc).splitlines()[0]}"
            ) from None
        except Exception as exc:  # noqa: BLE001 - deepface raises many kinds on a failed download
            raise ModelUnavailable(
                f"DeepFace detector '{self.name}' could not load: {str(exc).splitlines()[0][:200]}"
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


def get_detector(name: str = "haar") -> FaceDetector:
    """Return a detector by name: "haar" (default, offline) or any DeepFace backend name."""
    return HaarDetector() if name in ("haar", "default") else DeepFaceDetector(name)
