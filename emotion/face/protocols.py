"""What the analysis asks of a face detector, a face model and a face sink, as typing protocols."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np


class FaceDetector(Protocol):
    """Anything that finds faces in a BGR image."""

    name: str

    def detect(self, image: np.ndarray) -> list[list[int]]:
        """Return face boxes [x, y, w, h] in pixels of ``image``, largest first."""
        ...


@runtime_checkable
class NearDetector(FaceDetector, Protocol):
    """A detector that can also look for known faces only around their last boxes (much cheaper)."""

    def detect_near(self, image: np.ndarray, boxes: list[list[int]]) -> list[list[int]]:
        """Return the faces found near ``boxes``, largest first; fewer than ``boxes`` when a face was lost."""
        ...


class FaceModel(Protocol):
    """A facial-emotion model: crops faces its own way and returns (n, 7) probabilities in FACE_LABELS order.

    Attributes:
        name: The model's name as results record it ("fer_cnn", "fer_cnn+v20261130-101500-1").
        version: "base" for a shipped model, else the learned version that adapts it.
        base: The shipped model under an adapter (itself when there is none).
    """

    name: str
    version: str
    classes_: np.ndarray

    @property
    def base(self) -> FaceModel:  # noqa: D102
        ...

    def crop(self, image: np.ndarray, box: list[int]) -> np.ndarray:
        """Cut the face as the model was trained to see it."""
        ...

    def predict_proba(self, crops: list[np.ndarray]) -> np.ndarray:
        """Return (n, 7) probabilities."""
        ...

    def calibrated(self, probs: np.ndarray) -> np.ndarray:
        """Return ``probs`` (from :meth:`predict_proba`, or smoothed) as calibrated probabilities."""
        ...

    def predict(self, crops: list[np.ndarray]) -> np.ndarray:
        """Return the most probable label of each crop."""
        ...


class FaceSink(Protocol):
    """Receives every accepted face of an analysis (the learning collector is one)."""

    def face(self, image: np.ndarray, box: list[int], crop: np.ndarray, probs: np.ndarray, t: float,
             face_id: int) -> None:
        """Take one face: the frame, its box, the model's crop and probabilities, the time and the track id."""
        ...
