"""Retraining from the learning store: fit a candidate, judge it on held-out data, keep it as a version.

:func:`retrain_voice` fits a voice model on RAVDESS (all but the held-out actor) plus the store's labels;
:func:`retrain_face` fits a face adapter on the store's face labels. Each candidate and the serving model are
scored on the same held-out data, and the candidate becomes active only if it is not worse
(:mod:`emotion.storage.versions` keeps every version, so any can be restored).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from emotion import settings
from emotion.errors import RetrainError
from emotion.files import write_text
from emotion.labels import FACE_LABELS
from emotion.storage.learning_store import LearningStore
from emotion.storage.versions import Registry

MODALITIES = ("voice", "face")
HUMAN_REPEATS, AUTO_REPEATS = 2, 1
"""Voice training weights, as repeats (SMOTE cannot carry sample weights): a correction counts twice, a collected
prediction once, like one RAVDESS clip."""
FACE_HUMAN_WEIGHT, FACE_AUTO_WEIGHT = 1.0, 0.3
MIN_FACE_LABELS = 5
"""Human face labels needed (outside the held-out share) before a face adapter is fitted."""

Report = Callable[[str, float], None]



def _accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float | None:
    return round(float(np.mean(np.asarray(y_true) == np.asarray(y_pred))), 4) if len(y_true) else None


def gate_score(parts: dict[str, float | None]) -> float | None:
    """The number a candidate must not lower: the mean of the held-out accuracies that exist."""
    values = [v for v in parts.values() if v is not None]
    return round(float(np.mean(values)), 4) if values else None


def _voice_params() -> dict[str, Any]:
    """The shipped model's configuration, with its searched C and gamma fixed (a retrain skips the grid)."""
    from emotion.voice.model import load_voice_model

    shipped = load_voice_model()
    params = {k: v for k, v in shipped.get_params().items() if "__" not in k}
    best = getattr(shipped, "best_params_", {})
    params.update(param_grid=None, C=best.get("svc__C", params["C"]), gamma=best.get("svc__gamma", params["gamma"]))
    return params


def retrain_voice(store: LearningStore, registry: Registry | None = None, report: Report | None = None) -> dict:
    """Fit a voice model on RAVDESS (all but the held-out actor) plus the store's labels; gate; add a version.

    Raises:
        RetrainError: The RAVDESS base features are neither cached nor extractable.
    """
    from emotion.voice import corpora as ravdess
    from emotion.voice.model import VoiceEmotionClassifier, dump_voice_model, load_active_voice_model

    report = report or (lambda stage, frac: None)
    registry = registry or Registry("voice")
    report("loading RAVDESS base features", 0.05)
    try:
        base = ravdess.load_features()
    except FileNotFoundError as exc:
        raise RetrainError(f"{exc}; set EMOTION_RAVDESS to the RAVDESS folder to retrain the voice model") from None
    params = _voice_params()
    X_base = ravdess.columns(base, tuple(params["feature_sets"]))
    gate = base["actor"] == ravdess.HELD_OUT_ACTOR
    data = store.labelled("voice", human_weight=HUMAN_REPEATS, auto_weight=AUTO_REPEATS)
    keep = np.array([len(x) == X_base.shape[1] for x in data["X"]], bool)  # rows the base features match
    X_new = data["X"][keep] if keep.any() else np.zeros((0, X_base.shape[1]), np.float32)
    y_new, reps, held = data["y"][keep], data["w"][keep], data["held_out"][keep]
    # a negative group per source file, so no file is split across calibration folds
    sources = -1 - np.unique(data["sources"][keep], return_inverse=True)[1].astype(np.int64)
    train_new = ~held
    rep = reps[train_new].astype(int)
    X = np.vstack([X_base[~gate], np.repeat(X_new[train_new], rep, axis=0)])
    y = np.concatenate([base["y"][~gate], np.repeat(y_new[train_new], rep)])
    groups = np.concatenate([base["actor"][~gate].astype(np.int64), np.repeat(sources[train_new], rep)])
    report(f"fitting on {len(y)} examples ({int(train_new.sum())} from the store)", 0.15)
    t0 = time.perf_counter()
    model = VoiceEmotionClassifier(**params).fit(X, y, groups=groups)
    fit_seconds = round(time.perf_counter() - t0, 1)
    report("scoring on the held-out set", 0.85)
    current, _, _ = load_active_voice_model()

    def parts(m: Any) -> dict[str, float | None]:
        return {
            "ravdess_held_out_actor": _accuracy(base["y"][gate], m.predict(X_base[gate])),
            "held_out_corrections": _accuracy(y_new[held], m.predict(X_new[held])) if held.any() else None,
        }

    metrics = {"candidate": parts(model), "current": parts(current), "current_version": registry.active()}
    info = {
        "ravdess_clips": int((~gate).sum()),
        "store_items": int(train_new.sum()),
        "human": int(np.sum(reps[train_new] == HUMAN_REPEATS)),
        "held_out_items": int(held.sum()),
        "fit_seconds": fit_seconds,
    }
    report("saving", 0.95)
    return _finish(registry, metrics, info, lambda tmp: dump_voice_model(model, tmp), ".skops")


def reference_faces(n_per_class: int = 100) -> tuple[np.ndarray, np.ndarray] | None:
    """Base-model probabilities and labels of a fixed sample of FER2013 faces, if the shared data is present.

    The sample is seeded and stratified (``n_per_class`` faces of each class), so every retrain is judged on it.
    """
    from emotion.face.model import get_face_model

    path = settings.fer2013_file()
    if not path.is_file():
        return None
    data = np.load(path)
    labels = data["labels"].astype(int)
    names = [str(n).lower() for n in data["label_names"]]
    rng = np.random.default_rng(7)
    idx = np.concatenate([rng.choice(np.flatnonzero(labels == c), n_per_class, replace=False)
                          for c in range(len(names)) if (labels == c).sum() >= n_per_class])
    model = get_face_model("default")
    crops = [cv2.cvtColor(im, cv2.COLOR_GRAY2BGR) for im in data["images"][idx]]
    probs = np.concatenate([model.predict_proba(crops[i : i + 256]) for i in range(0, len(crops), 256)])
    y = np.array([_face_label(names[c]) for c in labels[idx]])
    return probs, y


def base_score(modality: str) -> float | None:
    """The shipped model's held-out score on the data its gate uses.

    Face: accuracy on the reference faces (None without the shared FER2013 data). Voice: the held-out accuracy its
    model card records (RAVDESS actor 24).
    """
    if modality == "face":
        reference = reference_faces()
        if reference is None:
            return None
        probs, labels = reference
        return round(float((np.array(FACE_LABELS)[probs.argmax(axis=1)] == labels).mean()), 4)
    card = json.loads((settings.models_dir() / "voice_svm.json").read_text())
    value = card.get("held_out_accuracy")
    return float(value) if isinstance(value, int | float) else None


def _face_label(name: str) -> str:
    return {"surprised": "surprise", "fearful": "fear"}.get(name, name)


def retrain_face(store: LearningStore, registry: Registry | None = None, report: Report | None = None) -> dict:
    """Fit a face adapter on the store's face labels; gate it against the serving adapter; add a version.

    Raises:
        RetrainError: Fewer than :data:`MIN_FACE_LABELS` human face labels outside the held-out share.
    """
    from emotion.face.adapter import FaceAdapter, log_probs

    report = report or (lambda stage, frac: None)
    registry = registry or Registry("face")
    data = store.labelled("face", human_weight=FACE_HUMAN_WEIGHT, auto_weight=FACE_AUTO_WEIGHT)
    held = data["held_out"]
    train = ~held
    humans = int(np.sum(train & (data["w"] == FACE_HUMAN_WEIGHT))) if len(held) else 0
    if humans < MIN_FACE_LABELS:
        raise RetrainError(f"the face adapter needs at least {MIN_FACE_LABELS} corrected faces; there are {humans}")
    report(f"fitting on {int(train.sum())} faces", 0.2)
    t0 = time.perf_counter()
    X = log_probs(data["X"])
    model = FaceAdapter().fit(X[train], data["y"][train], data["w"][train])
    fit_seconds = round(time.perf_counter() - t0, 2)
    report("scoring on the held-out set", 0.6)
    reference = reference_faces()
    version, path, _ = registry.active_file()
    current = FaceAdapter.load(path) if path is not None else None

    def parts(m: Any) -> dict[str, float | None]:
        def predict(z: np.ndarray) -> np.ndarray:
            return m.predict(z) if m is not None else np.array(FACE_LABELS)[z.argmax(axis=1)]

        return {
            "reference_faces": _accuracy(reference[1], predict(log_probs(reference[0]))) if reference else None,
            "held_out_corrections": _accuracy(data["y"][held], predict(X[held])) if held.any() else None,
        }

    metrics = {"candidate": parts(model), "current": parts(current), "current_version": version}
    info = {"store_items": int(train.sum()), "human": humans, "held_out_items": int(held.sum()),
            "fit_seconds": fit_seconds}
    return _finish(registry, metrics, info, model.save, ".json")


def _finish(registry: Registry, metrics: dict, info: dict, write: Callable[[Path], None], suffix: str) -> dict:
    """Gate the candidate, then save it as a version (active only if it passed). Returns the outcome."""
    cand, cur = gate_score(metrics["candidate"]), gate_score(metrics["current"])
    metrics.update(score=cand, current_score=cur)
    promote = cand is not None and (cur is None or cand >= cur)
    version = registry.add(write, metrics, info, suffix, promote)
    verdict = "promoted" if promote else "kept the current model (the new one scored lower)"
    if cand is None:
        verdict = "kept the current model (no held-out data to judge the new one)"
    card = _card(registry.folder.name, version, metrics, info, verdict)
    write_text(registry.folder / f"{version}.md", card)
    return {"version": version, "promoted": promote, "metrics": metrics, "data": info,
            "message": f"{registry.folder.name} model {version}: score {cand} vs {cur} for the current one; {verdict}"}


def _card(modality: str, version: str, metrics: dict, info: dict, verdict: str) -> str:
    """A short model card for a learned version: what it is, the data it saw, its held-out scores, its limits.

    Args:
        modality: "voice" or "face".
        version: The version's name in its registry.
        metrics: ``candidate`` and ``current`` (held-out part -> accuracy), ``current_version``, ``score`` and
            ``current_score`` (their means).
        info: What the version was trained on (name -> number), as :func:`_finish` receives it.
        verdict: Whether it was promoted, and why.

    Returns:
        The card in Markdown (see :mod:`emotion.storage.cards`).
    """
    from emotion.storage.cards import markdown_table, render_card

    what = {
        "voice": "RBF SVM on OpenSMILE ComParE features (the shipped configuration, C and gamma fixed), trained on "
        "RAVDESS actors 1-23 plus the learning store's labels (human labels twice, collected ones once).",
        "face": "7x7 adapter softmax(W log p + b) over the shipped face model's probabilities, pulled towards the "
        "identity, trained on the learning store's face labels (human weight 1, collected 0.3).",
    }[modality]
    rows = [[part, metrics["candidate"][part], metrics["current"][part]] for part in metrics["candidate"]]
    rows.append(["**score (mean)**", metrics["score"], metrics["current_score"]])
    held = "60 clips of one RAVDESS actor" if modality == "voice" else "700 FER2013 reference faces"
    sections = {
        "Data": ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in info.items()) + ".",
        "Held-out accuracy": f"Never trained on, against the model serving then ({metrics['current_version']}):\n\n"
        + markdown_table(["part", "this version", "serving"], rows),
        "Decision": f"{verdict[:1].upper()}{verdict[1:]}.",
        "Limits": f"The held-out parts are small ({held} and a fifth of the corrections), so a difference of a few "
        "hundredths is noise; corrections from one speaker or one camera adapt the model to them; collected labels "
        "are the model's own confident guesses and can reinforce its mistakes.",
    }
    return render_card(f"{modality} model {version}", sections, intro=what)
