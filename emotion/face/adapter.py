"""A light adapter over the face model's outputs, learned from analysts' corrections.

The shipped face network never changes. The adapter maps its log-probabilities ``z`` to
``softmax(W z + b)``, regularised towards the identity (``W = I``, ``b = 0``), so with few corrections
it stays close to the base model and it can never forget a class that no correction mentions.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from scipy.optimize import minimize
from sklearn.base import BaseEstimator, ClassifierMixin

from emotion.errors import ModelError
from emotion.face.model import DEFAULT_FACE_MODEL
from emotion.face.protocols import FaceModel
from emotion.labels import FACE_LABELS


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def log_probs(probs: np.ndarray) -> np.ndarray:
    """The adapter's input features: log of the base model's probabilities."""
    return np.log(np.clip(np.asarray(probs, dtype=np.float64), 1e-6, 1.0))


class FaceAdapter(ClassifierMixin, BaseEstimator):
    """``softmax(W z + b)`` over base log-probabilities ``z``.

    Fitted by weighted cross-entropy plus ``alpha`` times the squared distance of (W, b) from the identity.

    Args:
        alpha: Strength of the pull towards the base model.
        base: The face model whose outputs it was fitted on; an adapter serves only over that model.
    """

    def __init__(self, alpha: float = 1.0, base: str = DEFAULT_FACE_MODEL) -> None:
        self.alpha = alpha
        self.base = base

    def fit(self, X: np.ndarray, y: np.ndarray, sample_weight: np.ndarray | None = None) -> FaceAdapter:  # noqa: N803
        """Fit on base log-probabilities ``X`` (n, 7) and labels ``y`` (names from FACE_LABELS)."""
        X = np.asarray(X, dtype=np.float64)
        k = len(FACE_LABELS)
        index = {label: i for i, label in enumerate(FACE_LABELS)}
        target = np.array([index[str(label)] for label in y])
        w = np.ones(len(X)) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
        w = w / w.sum()
        eye = np.eye(k)

        def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
            W, b = theta[: k * k].reshape(k, k), theta[k * k :]
            p = _softmax(X @ W.T + b)
            nll = -np.sum(w * np.log(p[np.arange(len(X)), target] + 1e-12))
            g = p.copy()
            g[np.arange(len(X)), target] -= 1
            g *= w[:, None]
            grad_w = g.T @ X + 2 * self.alpha * (W - eye)
            grad_b = g.sum(axis=0) + 2 * self.alpha * b
            reg = self.alpha * (np.sum((W - eye) ** 2) + np.sum(b**2))
            return nll + reg, np.concatenate([grad_w.ravel(), grad_b])

        theta0 = np.concatenate([eye.ravel(), np.zeros(k)])
        res = minimize(loss, theta0, jac=True, method="L-BFGS-B", options={"maxiter": 500})
        self.W_, self.b_ = res.x[: k * k].reshape(k, k), res.x[k * k :]
        self.classes_ = np.array(FACE_LABELS)
        return self

    def predict_proba(self, X: np.ndarray) -> np.ndarray:  # noqa: N803
        """Adapted probabilities (n, 7) from base log-probabilities."""
        return _softmax(np.asarray(X, dtype=np.float64) @ self.W_.T + self.b_)

    def predict(self, X: np.ndarray) -> np.ndarray:  # noqa: N803
        """The most probable label of each row."""
        return self.classes_[self.predict_proba(X).argmax(axis=1)]

    def save(self, path: Path) -> None:
        """Write the weights as JSON (no pickle)."""
        data = {"alpha": self.alpha, "base": self.base, "W": self.W_.tolist(), "b": self.b_.tolist()}
        path.write_text(json.dumps(data))

    @classmethod
    def load(cls, path: Path, base: str | None = None) -> FaceAdapter:
        """Read weights written by :meth:`save`.

        Args:
            path: The adapter file.
            base: The base model it must have been fitted on; None accepts any. Files from before the base was
                recorded were fitted on ``fer_mini_xception``, the default then.

        Raises:
            ModelError: The file is not JSON, its weights are missing, of the wrong shape or not finite, or it was
                fitted on another base model.
        """
        k = len(FACE_LABELS)
        try:
            data = json.loads(Path(path).read_text())
            adapter = cls(alpha=float(data["alpha"]), base=str(data.get("base") or "fer_mini_xception"))
            adapter.W_, adapter.b_ = np.array(data["W"], dtype=np.float64), np.array(data["b"], dtype=np.float64)
        except (OSError, UnicodeDecodeError, ValueError, TypeError, KeyError):
            adapter = None
        if adapter is None or adapter.W_.shape != (k, k) or adapter.b_.shape != (k,) or not (
            np.isfinite(adapter.W_).all() and np.isfinite(adapter.b_).all()
        ):
            raise ModelError(f"{Path(path).name} is not a face adapter (7x7 finite weights); not loading it")
        if base is not None and adapter.base != base:
            raise ModelError(f"it was fitted on {adapter.base}'s outputs, and the shipped face model is now {base}")
        adapter.classes_ = np.array(FACE_LABELS)
        return adapter


class AdaptedFaceModel:
    """A face model whose probabilities pass through a :class:`FaceAdapter`; same interface as the base."""

    def __init__(self, base: FaceModel, adapter: FaceAdapter, version: str) -> None:
        self.base, self.adapter, self.version = base, adapter, version
        self.name = f"{base.name}+{version}"
        self.classes_ = base.classes_

    def crop(self, image: np.ndarray, box: list[int]) -> np.ndarray:
        """Cut a face as the base model does."""
        return self.base.crop(image, box)

    def calibrated(self, probs: np.ndarray) -> np.ndarray:
        """The adapted probabilities as they are.

        The adapter was fitted by cross-entropy on the analysts' labels, so the base model's temperature does not
        apply to them.
        """
        return np.asarray(probs, np.float64)

    def predict_proba(self, crops: list[np.ndarray]) -> np.ndarray:
        """Adapted (n, 7) probabilities."""
        base = self.base.predict_proba(crops)
        return self.adapter.predict_proba(log_probs(base)) if len(base) else base

    def predict(self, crops: list[np.ndarray]) -> np.ndarray:
        """The most probable label of each crop."""
        return self.classes_[self.predict_proba(crops).argmax(axis=1)]
