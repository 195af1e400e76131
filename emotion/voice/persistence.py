"""Safe persistence of voice models: skops files (no pickle) with a checksum sidecar and an exact-type allow-list.

:func:`save_voice_model` writes a fitted :class:`~emotion.voice.classifier.VoiceEmotionClassifier` and its JSON
sidecar; :func:`load_voice_model` loads one only if its checksum matches and it names no type outside
:data:`TRUSTED_TYPES`. Which learned version serves is decided above the voice (``emotion.learning.active``).
"""

from __future__ import annotations

import copy
import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.svm import SVC

from emotion import files, settings
from emotion.errors import ModelError
from emotion.voice.classifier import VoiceEmotionClassifier

DEFAULT_MODEL_NAME = "voice_svm"
"""The shipped model's name: ``models/voice_svm.skops`` and its sidecar ``voice_svm.json``."""

_cache: dict[tuple[str, int], VoiceEmotionClassifier] = {}


def default_model_path() -> Path:
    """The shipped voice model file."""
    return settings.models_dir() / f"{DEFAULT_MODEL_NAME}.skops"


TRUSTED_TYPES = frozenset(
    {
        *(f"emotion.voice.classifier.{name}" for name in ("Clip", "TopF", "VoiceEmotionClassifier")),
        *(f"emotion.voice.model.{name}" for name in ("Clip", "TopF", "VoiceEmotionClassifier")),
        "sklearn.calibration._CalibratedClassifier",
        "sklearn.calibration._SigmoidCalibration",
    }
)
"""The only types, beyond skops' own defaults, that a voice model file may name: exactly the classes the shipped
pipeline uses (``skops.io.get_untrusted_types`` of ``models/voice_svm.skops``, recorded in its sidecar), under
their path (``emotion.voice.classifier``) and the one files saved before the split name (``emotion.voice.model``,
which still exports them). SMOTE
and imbalanced-learn's Pipeline left the list with the model that dropped SMOTE: versions retrained before then
are refused, with a note, and the app serves the shipped model. Never a
module prefix and never a function: skops calls what a file names while loading it, so a name such as a
scikit-learn test helper would run code. A model that needs another type is refused when it is saved."""


def _untrusted(path: Path) -> list[str]:
    """The types a skops file names beyond skops' defaults (parsed only, nothing built)."""
    import skops.io as sio

    try:
        return sorted(sio.get_untrusted_types(file=path))
    except Exception as exc:  # noqa: BLE001 - skops raises zip, JSON, key and type errors for a damaged file
        raise ModelError(f"voice model {path.name} is not a readable skops file ({type(exc).__name__})") from None


def _refuse_untrusted(path: Path) -> None:
    bad = sorted(set(_untrusted(path)) - TRUSTED_TYPES)
    if bad:
        why = (
            " (it was trained with SMOTE by an earlier version; retrain the voice model)"
            if any(name.startswith("imblearn.") for name in bad)
            else ""
        )
        names = ", ".join(bad)
        raise ModelError(
            f"voice model {path.name} names {names}, outside the voice model's allow-list; not loading it{why}"
        )


def _svcs(model: Any) -> list[SVC]:
    """The fitted SVCs of a voice model (emotion and arousal), the last step of each calibrated pipeline."""
    out = []
    for calibrated in (getattr(model, "model_", None), getattr(model, "arousal_model_", None)):
        for part in getattr(calibrated, "calibrated_classifiers_", []):
            last = part.estimator.steps[-1][1] if hasattr(part.estimator, "steps") else None
            if isinstance(last, SVC):
                out.append(last)
    return out


def dump_voice_model(model: VoiceEmotionClassifier, path: str | Path) -> None:
    """Write a fitted model with skops (no pickle), compressed, its support vectors stored as float32.

    The support vectors are most of the file; :func:`load_voice_model` casts them back to float64 (libsvm's type).
    They are the PCA's float32 outputs, so the stored values lose nothing; ``model`` itself is left untouched.
    (Storing them, or the PCA axes, as float16 moved a calibrated probability by 0.12-0.16 on one clip: not done.)

    Raises:
        ModelError: The model holds a type outside :data:`TRUSTED_TYPES`, so it could never be loaded.
    """
    import skops.io as sio

    compact = copy.deepcopy(model)  # the caller's model may be serving other threads: never change it in place
    for svc in _svcs(compact):
        svc.support_vectors_ = svc.support_vectors_.astype(np.float32)
    sio.dump(compact, Path(path), compression=zipfile.ZIP_DEFLATED, compresslevel=9)
    _refuse_untrusted(Path(path))


def save_voice_model(model: VoiceEmotionClassifier, path: str | Path, meta: dict[str, Any] | None = None) -> Path:
    """Save a fitted model with skops (no pickle) and a JSON sidecar holding its sha256 and metadata.

    Args:
        model: The fitted classifier.
        path: Target ``.skops`` file; the sidecar is the same path with ``.json``.
        meta: Extra metadata for the sidecar (metrics, data source, ...).

    Returns:
        The path of the model file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp{path.suffix}")
    try:
        dump_voice_model(model, tmp)  # refused types never replace a good model
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
    sidecar = {
        "format": "skops",
        "sha256": files.sha256(path),
        "feature_sets": list(model.feature_sets),
        "classes": [str(c) for c in model.classes_],
        "trusted_types": _untrusted(path),
        **(meta or {}),
    }
    path.with_suffix(".json").write_text(json.dumps(sidecar, indent=2) + "\n")
    return path


def _sidecar_sha256(sidecar: Path) -> str:
    """The checksum a model's sidecar records (a 64-digit hex string), or a clear error."""
    if not sidecar.is_file():
        raise ModelError(f"voice model sidecar not found: {sidecar} (it holds the model's checksum)")
    try:
        value = json.loads(sidecar.read_text()).get("sha256")
    except (OSError, UnicodeDecodeError, ValueError, AttributeError):
        raise ModelError(f"voice model sidecar {sidecar.name} is not a JSON object; not loading the model") from None
    if not (isinstance(value, str) and len(value) == 64 and all(c in "0123456789abcdef" for c in value)):
        raise ModelError(f"voice model sidecar {sidecar.name} records no sha256 checksum; not loading the model")
    return value


def load_voice_model(path: str | Path | None = None, sha256: str | None = None) -> VoiceEmotionClassifier:
    """Load a voice model saved by :func:`save_voice_model` (the shipped default when ``path`` is None).

    The file's sha256 must match ``sha256`` or, when that is None, its JSON sidecar; and it may name only the types
    in :data:`TRUSTED_TYPES` (besides skops' defaults), checked before anything is built. Loaded models are cached by
    path and modification time.

    Raises:
        ModelError: The model or its sidecar is missing or malformed, the checksum does not match, the file names a
            type outside the allow-list, or it is not a voice model.
    """
    import skops.io as sio

    path = Path(path) if path else default_model_path()
    if not path.is_file():
        raise ModelError(f"voice model not found: {path} (train it with `python -m training.train_audio`)")
    key = (str(path.resolve()), path.stat().st_mtime_ns)
    if key in _cache:
        return _cache[key]
    sha256 = sha256 or _sidecar_sha256(path.with_suffix(".json"))
    if files.sha256(path) != sha256:
        raise ModelError(f"voice model checksum mismatch: {path.name} does not match its record, not loading it")
    _refuse_untrusted(path)
    try:
        model = sio.load(path, trusted=sorted(TRUSTED_TYPES))
    except Exception as exc:  # noqa: BLE001 - a damaged file fails in many ways; none may take the app down
        raise ModelError(f"voice model {path.name} could not be read ({type(exc).__name__})") from None
    if not isinstance(model, VoiceEmotionClassifier) or not hasattr(model, "model_"):
        raise ModelError(f"{path.name} is not a fitted voice emotion model")
    for svc in _svcs(model):  # stored as float32 (see dump_voice_model); libsvm reads float64
        svc.support_vectors_ = np.ascontiguousarray(svc.support_vectors_, dtype=np.float64)
    _cache.clear()
    _cache[key] = model
    return model
