"""Analysis settings: one dataclass, shared by the CLI, the app and the tests."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any


@dataclass
class Settings:
    """Every knob of an analysis, with the defaults an analyst gets.

    Attributes:
        max_frames: Frames sampled evenly over a video when ``fps`` is not set.
        fps: Target sampled frames per second; overrides ``max_frames`` when > 0.
        workers: Threads that analyse sampled frames in parallel.
        detect_interval: Seconds of video between full face searches; in between, faces are
            looked for only near where they were (and fully again when one is lost).
        face_backend: Facial-emotion model: "default" (shipped ONNX) or "deepface".
        detector: Face detector: "haar" (offline default) or a DeepFace backend name.
        face_crop: Treat each image as an already-cropped face and skip detection.
        min_face: Smallest face side, in pixels of the original frame.
        min_blur: Smallest variance of the Laplacian of a face crop (lower is blurrier).
        min_brightness: Darkest accepted mean frame brightness (0..255).
        max_brightness: Brightest accepted mean frame brightness (0..255).
        max_faces: Most faces analysed per frame (the largest are kept).
        max_duration: Seconds of media analysed; 0 means all.
        audio: Whether to analyse the voice.
        denoise: Apply noise reduction before voice features.
        segment_seconds: Voice window length.
        segment_hop: Seconds between voice window starts.
        collect: Keep each analysed face (a small crop) and voice segment (audio and features) in the
            learning store, for review and retraining.
        collect_threshold: Predictions at least this confident are kept as (down-weighted) training labels.
        retrain_after: Retrain in the background once this many new labels have gathered; 0 = only by hand.
    """

    max_frames: int = 21
    fps: float = 0.0
    workers: int = 2
    detect_interval: float = 2.0
    face_backend: str = "default"
    detector: str = "haar"
    face_crop: bool = False
    min_face: int = 40
    min_blur: float = 20.0
    min_brightness: float = 40.0
    max_brightness: float = 220.0
    max_faces: int = 20
    max_duration: float = 0.0
    audio: bool = True
    denoise: bool = False
    segment_seconds: float = 3.0
    segment_hop: float = 1.5
    collect: bool = True
    collect_threshold: float = 0.9
    retrain_after: int = 50

    def to_dict(self) -> dict[str, Any]:
        """Return the settings as plain data."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Settings:
        """Build settings from a dict, ignoring unknown keys."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})
