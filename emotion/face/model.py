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

DEFAULT_FACE_MODEL = "fer_cnn"
"""Chosen by the mean macro-F1 over sources (issue 25, ``models/face_sources.md``)."""


def onnx_session(path: Path, threads: int = 1):  # noqa: ANN201 - onnxruntime is imported lazily
    """An onnxruntime CPU session over ``path`` with ``threads`` intra-op threads and one inter-op thread."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


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


MAX_INPUT_SIZE = 512
"""Largest face side (pixels) a model may ask for; facial-emotion networks take 48-224."""
SCALES = ("minus1to1", "zero1")


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
    }
    problems = [what for what, ok in checks.items() if not ok]
    if problems:
        raise ModelUnavailable(
            f"face model '{name}' is refused: in its sidecar {meta_path.name}, {'; '.join(problems)}; reinstall it"
        )
    return meta


class OnnxFaceModel:
    """A facial-emotion network shipped in ``models/`` as ONNX, run on onnxruntime.

    Each ``NAME.onnx`` has a ``NAME.json`` beside it with ``input_size``, ``scale``
    ("minus1to1" or "zero1"), ``margin``, ``labels`` and the file's ``sha256``. All are checked on load, the file
    against its checksum, and one blank face is run through the graph, so a damaged, swapped or mismatched model
    is refused with :class:`ModelUnavailable` instead of failing later.

    Args:
        name: The model's file stem in ``models_dir``.
        models_dir: Where the model lives.
        threads: onnxruntime intra-op threads (1 suits parallel frame workers).
    """

    def __init__(self, name: str = DEFAULT_FACE_MODEL, models_dir: Path | None = None, threads: int = 1) -> None:
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
    """Every face model a user can name: "default", "deepface" and each face-emotion ONNX model in ``models/``.

    An ONNX file counts when its sidecar JSON lists the 7 face labels (detector models do not).
    """
    return ["default", "deepface", *sorted(p.stem for p in settings.models_dir().glob("*.onnx") if _is_face_model(p))]


def _is_face_model(path: Path) -> bool:
    try:
        return tuple(json.loads(path.with_suffix(".json").read_text()).get("labels", ())) == FACE_LABELS
    except (OSError, ValueError, AttributeError):
        return False
