"""Facial emotion behind one interface: ``model.predict_proba(crops) -> (n, 7)``.

Each model cuts its own crops with ``model.crop(image, box)`` so that the crop matches
what it was trained on. Probabilities are in :data:`emotion.labels.FACE_LABELS` order.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import cv2
import numpy as np

from emotion import settings
from emotion.errors import ModelUnavailable
from emotion.files import sha256
from emotion.labels import FACE_LABELS

DEFAULT_FACE_MODEL = "fer_mini_xception"


def square_crop(image: np.ndarray, box: list[int], margin: float) -> np.ndarray:
    """Cut a square around ``box`` grown by ``margin`` of its side, padding past the edges.

    Args:
        image: BGR or gray image.
        box: [x, y, w, h].
        margin: Fraction of the box side added on every side.
    """
    x, y, w, h = box
    side = max(w, h) * (1 + 2 * margin)
    cx, cy = x + w / 2, y + h / 2
    x0, y0 = round(cx - side / 2), round(cy - side / 2)
    x1, y1 = x0 + round(side), y0 + round(side)
    pad = max(0, -x0, -y0, x1 - image.shape[1], y1 - image.shape[0])
    if pad:
        image = cv2.copyMakeBorder(image, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
    return image[y0 + pad : y1 + pad, x0 + pad : x1 + pad]


class OnnxFaceModel:
    """A facial-emotion network shipped in ``models/`` as ONNX, run on onnxruntime.

    Each ``NAME.onnx`` has a ``NAME.json`` beside it with ``input_size``, ``scale``
    ("minus1to1" or "zero1"), ``margin``, ``labels`` and the file's ``sha256``, which is
    checked on load so a damaged or swapped file is refused.

    Args:
        name: The model's file stem in ``models_dir``.
        models_dir: Where the model lives.
        threads: onnxruntime intra-op threads (1 suits parallel frame workers).
    """

    def __init__(self, name: str = DEFAULT_FACE_MODEL, models_dir: Path | None = None, threads: int = 1) -> None:
        import onnxruntime as ort

        if not re.fullmatch(r"[A-Za-z0-9_-]+", name):  # a model name, never a path: models load from models/ only
            raise ModelUnavailable(f"'{name}' is not a model name (letters, digits, '-' and '_' only)")
        path = Path(models_dir or settings.models_dir()) / f"{name}.onnx"
        meta_path = path.with_suffix(".json")
        if not path.is_file() or not meta_path.is_file():
            raise ModelUnavailable(f"face model '{name}' is missing: expected {path} and {meta_path.name}")
        self.meta = json.loads(meta_path.read_text())
        if self.meta.get("sha256") and sha256(path) != self.meta["sha256"]:
            raise ModelUnavailable(f"face model file {path} does not match its checksum; reinstall it")
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        self.session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        self.input_name = self.session.get_inputs()[0].name
        self.name = name
        self.version = "base"
        self.size = int(self.meta["input_size"])
        self.margin = float(self.meta.get("margin", 0.1))
        self.classes_ = np.array(FACE_LABELS)
        if tuple(self.meta.get("labels", FACE_LABELS)) != FACE_LABELS:
            raise ModelUnavailable(f"face model '{name}' has labels {self.meta.get('labels')}, expected {FACE_LABELS}")


    @property
    def base(self) -> OnnxFaceModel:
        """The model itself: a shipped model has no adapter."""
        return self

    def crop(self, image: np.ndarray, box: list[int]) -> np.ndarray:
        """Cut the face the way this model was trained: a square with a margin, gray, resized."""
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
        out = self.session.run(None, {self.input_name: self._input(crops)})[0]
        out = np.clip(out.astype(np.float64), 0, None)
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


def get_face_model(name: str = "default", threads: int = 1) -> OnnxFaceModel | DeepFaceModel:
    """Return a facial-emotion model by name: "default", "deepface" or a shipped ONNX stem."""
    if name == "deepface":
        return DeepFaceModel()
    return OnnxFaceModel(DEFAULT_FACE_MODEL if name == "default" else name, threads=threads)


def face_models() -> list[str]:
    """Every face model a user can name: "default", "deepface" and each ONNX model shipped in ``models/``."""
    return ["default", "deepface", *sorted(p.stem for p in settings.models_dir().glob("*.onnx"))]
