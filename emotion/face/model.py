"""Facial emotion behind one interface: ``model.predict_proba(crops) -> (n, 7)``.

Each model cuts its own crops with ``model.crop(image, box)`` so that the crop matches
what it was trained on. Probabilities are in :data:`emotion.labels.FACE_LABELS` order.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from emotion import settings
from emotion.errors import ModelUnavailable
from emotion.face.base import onnx_session, square_crop
from emotion.files import sha256
from emotion.labels import FACE_LABELS

DEFAULT_FACE_MODEL = "fer_cnn"
"""Chosen by the mean macro-F1 over sources (issue 25, ``models/face_sources.md``)."""


MAX_INPUT_SIZE = 512
"""Largest face side (pixels) a model may ask for; facial-emotion networks take 48-224."""
SCALES = ("minus1to1", "zero1")
MAX_BATCH = 256
"""Most face crops sent to the network at once: memory stays bounded (about 0.5 GB) however many a caller passes."""


def _read_sidecar(meta_path: Path, name: str) -> dict:
    """A face model's sidecar, checked: a sha256, a sane ``input_size``, a known ``scale``, a margin, the labels.

    Raises:
        ModelUnavailable: The sidecar is not JSON or any field is missing or out of range.
    """
    try:
        meta = json.loads(meta_path.read_text())
    except (OSError, UnicodeDecodeError, ValueError):
        meta = None
    if not isinstance(meta, dict):
        raise ModelUnavailable(f"face model '{name}': its sidecar {meta_path.name} is not a JSON object; reinstall it")
    size, margin, digest = meta.get("input_size"), meta.get("margin", 0.1), meta.get("sha256")
    labels = meta.get("labels", list(FACE_LABELS))
    checks = {
        "it records no sha256 checksum": type(digest) is str and re.fullmatch("[0-9a-f]{64}", digest) is not None,
        f"input_size {size!r} is not a whole number from 8 to {MAX_INPUT_SIZE}":
            type(size) is int and 8 <= size <= MAX_INPUT_SIZE,
        f"scale {meta.get('scale')!r} is not one of {', '.join(SCALES)}": meta.get("scale", SCALES[0]) in SCALES,
        f"margin {margin!r} is not a number from 0 to 1": type(margin) in (int, float) and 0 <= margin <= 1,
        f"labels {labels} are not {list(FACE_LABELS)}": type(labels) is list and tuple(labels) == FACE_LABELS,
        f"calibration {meta.get('calibration')!r} has no temperature from 0.05 to 20": _temperature_ok(meta),
    }
    problems = [what for what, ok in checks.items() if not ok]
    if problems:
        raise ModelUnavailable(
            f"face model '{name}' is refused: in its sidecar {meta_path.name}, {'; '.join(problems)}; reinstall it"
        )
    return meta


def _temperature_ok(meta: dict) -> bool:
    """Whether a sidecar's optional ``calibration`` holds a temperature from 0.05 to 20."""
    cal = meta.get("calibration")
    if cal is None:
        return True
    t = cal.get("temperature") if isinstance(cal, dict) else None
    return isinstance(t, int | float) and not isinstance(t, bool) and 0.05 <= t <= 20


def temper(probs: np.ndarray, temperature: float) -> np.ndarray:
    """Probabilities at ``temperature``: the softmax of the log-probabilities divided by it (1 changes nothing)."""
    z = np.log(np.clip(np.asarray(probs, np.float64), 1e-7, 1.0)) / temperature
    z -= z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


class OnnxFaceModel:
    """A facial-emotion network shipped in ``models/`` as ONNX, run on onnxruntime.

    Each ``NAME.onnx`` has a ``NAME.json`` beside it with ``input_size``, ``scale``
    ("minus1to1" or "zero1"), ``margin``, ``labels`` and the file's ``sha256``, and optionally a ``calibration``
    with the ``temperature`` that :meth:`calibrated` applies (fitted by ``training/face_sources.py``). All are checked
    on load, the file against its checksum, and one blank face is run through the graph, so a damaged, swapped or
    mismatched model is refused with :class:`ModelUnavailable` instead of failing later.

    Args:
        name: The model's file stem in ``models_dir``.
        models_dir: Where the model lives.
        threads: onnxruntime intra-op threads (1 suits parallel frame workers).
        align: Cut faces aligned by their eyes (:mod:`emotion.face.align`) instead of the square around the box;
            a face whose eyes are not found keeps the square.
    """

    def __init__(self, name: str = DEFAULT_FACE_MODEL, models_dir: Path | None = None, threads: int = 1,
                 align: bool = False) -> None:
        if not re.fullmatch(r"[A-Za-z0-9_-]+", name):  # a model name, never a path: models load from models/ only
            raise ModelUnavailable(f"'{name}' is not a model name (letters, digits, '-' and '_' only)")
        path = Path(models_dir or settings.models_dir()) / f"{name}.onnx"
        meta_path = path.with_suffix(".json")
        if not path.is_file() or not meta_path.is_file():
            raise ModelUnavailable(f"face model '{name}' is missing: expected {path} and {meta_path.name}")
        self.meta = _read_sidecar(meta_path, name)
        if sha256(path) != self.meta["sha256"]:
            raise ModelUnavailable(f"face model file {path} does not match its checksum; reinstall it")
        try:
            self.session = onnx_session(path, threads)
        except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own types (InvalidProtobuf, Fail, ...)
            raise ModelUnavailable(f"face model file {path.name} is not a valid ONNX model ({type(exc).__name__}); "
                                   "reinstall it") from None
        self.input_name = self.session.get_inputs()[0].name
        self.name = name
        self.version = "base"
        self.size = int(self.meta["input_size"])
        self.margin = float(self.meta.get("margin", 0.1))
        self.classes_ = np.array(FACE_LABELS)
        self.temperature = float((self.meta.get("calibration") or {}).get("temperature", 1.0))
        self.align = align
        self._eyes: Any = None
        self._models_dir = path.parent
        self._probe(path)

    def _probe(self, path: Path) -> None:
        """Run one blank face, so a graph that does not take this input or give 7 scores is refused on load."""
        try:
            out = self.session.run(None, {self.input_name: np.zeros((1, self.size, self.size, 1), np.float32)})[0]
        except Exception as exc:  # noqa: BLE001 - onnxruntime's errors for a wrong shape or type
            out, why = None, type(exc).__name__
        else:
            why = f"output of shape {np.shape(out)}"
        if out is None or np.shape(out) != (1, len(FACE_LABELS)) or not np.isfinite(out).all():
            raise ModelUnavailable(f"face model file {path.name} does not map a {self.size}x{self.size} gray face to "
                                   f"{len(FACE_LABELS)} scores ({why}); reinstall it")


    @property
    def base(self) -> OnnxFaceModel:
        """The model itself: a shipped model has no adapter."""
        return self

    def calibrated(self, probs: np.ndarray) -> np.ndarray:
        """Probabilities a user can read as such: ``probs`` at the sidecar's fitted temperature (same top label)."""
        return temper(probs, self.temperature) if self.temperature != 1.0 else np.asarray(probs, np.float64)

    def crop(self, image: np.ndarray, box: list[int]) -> np.ndarray:
        """Cut the face the way this model was trained: a square with a margin, gray, resized.

        With ``align``, the face is instead rotated and scaled so its eyes sit where FER2013's do
        (:func:`emotion.face.align.aligned_crop`), when BlazeFace finds them.
        """
        if self.align:
            from emotion.face.align import EyeFinder, aligned_crop

            if self._eyes is None:
                self._eyes = EyeFinder(self._models_dir if (self._models_dir / "blazeface.json").is_file() else None)
            eyes = self._eyes.eyes(image, box)
            if eyes is not None:
                return aligned_crop(image, eyes, self.size)
        face = square_crop(image, box, self.margin)
        if face.ndim == 3:
            face = cv2.cvtColor(face, cv2.COLOR_BGR2GRAY)
        return cv2.resize(face, (self.size, self.size), interpolation=cv2.INTER_AREA)

    def _input(self, crops: list[np.ndarray]) -> np.ndarray:
        x = np.stack(
            [c if c.shape == (self.size, self.size) else self.crop(c, [0, 0, c.shape[1], c.shape[0]]) for c in crops]
        )
        x = x.astype(np.float32)[..., None] / 255.0
        return (x - 0.5) * 2.0 if self.meta.get("scale", "minus1to1") == "minus1to1" else x

    def predict_proba(self, crops: list[np.ndarray]) -> np.ndarray:
        """Return (n, 7) probabilities for face crops (from :meth:`crop`, or any face image)."""
        if len(crops) == 0:
            return np.zeros((0, len(FACE_LABELS)), np.float32)
        parts = [  # in chunks: a CNN's activations grow with the batch (7,000 faces at once took 15 GB)
            self.session.run(None, {self.input_name: self._input(crops[i : i + MAX_BATCH])})[0]
            for i in range(0, len(crops), MAX_BATCH)
        ]
        out = np.clip(np.concatenate(parts).astype(np.float64), 0, None)
        return out / out.sum(axis=1, keepdims=True).clip(1e-12)

    def predict(self, crops: list[np.ndarray]) -> np.ndarray:
        """Return the most probable label of each crop."""
        return self.classes_[self.predict_proba(crops).argmax(axis=1)]


def deepface_weights_path() -> Path:
    """Where DeepFace looks for its emotion weights under the onnx engine."""
    return settings.deepface_home() / ".deepface" / "weights" / "facial_expression_model_weights.onnx"


class DeepFaceModel:
    """DeepFace's own emotion model through the real ``DeepFace.analyze`` call.

    Raises:
        ModelUnavailable: When DeepFace cannot load or download its weights; the message
            names the file and where to put it.
    """

    name = "deepface"
    version = "base"
    margin = 0.0

    def __init__(self) -> None:
        from deepface.modules import modeling

        try:
            modeling.build_model(task="facial_attribute", model_name="Emotion")
        except Exception:  # noqa: BLE001 - deepface wraps download failures in several types
            raise ModelUnavailable(
                "DeepFace's emotion weights could not be loaded or downloaded. Download "
                "facial_expression_model_weights.onnx from the deepface_models releases on GitHub and put it at "
                f"{deepface_weights_path()} (set DEEPFACE_HOME to change the folder), or use the default face model."
            ) from None
        self.classes_ = np.array(FACE_LABELS)


    @property
    def base(self) -> DeepFaceModel:
        """The model itself: a shipped model has no adapter."""
        return self

    def calibrated(self, probs: np.ndarray) -> np.ndarray:
        """DeepFace's probabilities as they are (never calibrated here)."""
        return np.asarray(probs, np.float64)

    def crop(self, image: np.ndarray, box: list[int]) -> np.ndarray:
        """Cut the detected box as DeepFace does (tight, colour)."""
        face = square_crop(image, box, self.margin)
        return face if face.ndim == 3 else cv2.cvtColor(face, cv2.COLOR_GRAY2BGR)

    def predict_proba(self, crops: list[np.ndarray]) -> np.ndarray:
        """Return (n, 7) probabilities, one ``DeepFace.analyze`` call per crop."""
        from deepface import DeepFace

        rows = []
        for crop in crops:
            res = DeepFace.analyze(
                crop, actions=("emotion",), detector_backend="skip", enforce_detection=False, silent=True
            )
            scores = res[0]["emotion"]
            rows.append([float(scores[label]) / 100.0 for label in FACE_LABELS])
        out = np.array(rows, np.float64).reshape(-1, len(FACE_LABELS))
        return out / out.sum(axis=1, keepdims=True).clip(1e-12)

    def predict(self, crops: list[np.ndarray]) -> np.ndarray:
        """Return the most probable label of each crop."""
        return self.classes_[self.predict_proba(crops).argmax(axis=1)]


def get_face_model(name: str = "default", threads: int = 1, align: bool = False) -> OnnxFaceModel | DeepFaceModel:
    """Return a facial-emotion model by name: "default", "deepface" or a shipped ONNX stem.

    ``align`` is passed to :class:`OnnxFaceModel`; DeepFace cuts its own way.
    """
    if name == "deepface":
        return DeepFaceModel()
    return OnnxFaceModel(DEFAULT_FACE_MODEL if name == "default" else name, threads=threads, align=align)


def face_models() -> list[str]:
    """Every face model a user can name: "default", "deepface" and each face-emotion ONNX model in ``models/``.

    An ONNX file counts when its sidecar JSON lists the 7 face labels (detector models do not).
    """
    return ["default", "deepface", *sorted(p.stem for p in settings.models_dir().glob("*.onnx") if _is_face_model(p))]


def _is_face_model(path: Path) -> bool:
    try:
        return tuple(json.loads(path.with_suffix(".json").read_text()).get("labels", ())) == FACE_LABELS
    except (OSError, ValueError, AttributeError):
        return False
