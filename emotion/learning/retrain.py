"""Retraining from the learning store: fit a candidate, judge it on held-out data, keep it as a version.

:func:`retrain_voice` fits a voice model on RAVDESS + TESS (all but the held-out speakers) plus the store's labels;
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
from emotion.errors import ModelError, RetrainError
from emotion.files import write_text
from emotion.labels import FACE_LABELS
from emotion.storage.learning_store import LearningStore
from emotion.storage.versions import BASE, Registry

MODALITIES = ("voice", "face")
HUMAN_REPEATS, AUTO_REPEATS = 2, 1
"""Voice training weights, as repeats (SMOTE cannot carry sample weights): a correction counts twice, a collected
prediction once, like one corpus clip."""
FACE_HUMAN_WEIGHT, FACE_AUTO_WEIGHT = 1.0, 0.3
MIN_FACE_LABELS = 5
"""Human face labels needed (outside the held-out share) before a face adapter is fitted."""

Report = Callable[[str, float], None]



GATE_ALPHA = 0.05
"""A candidate is refused when it is worse than a model it is compared with at this one-sided significance."""
MIN_HELD_OUT = 20
"""Held-out corrections needed before they count in the gate; fewer are shown but decide nothing."""
Check = tuple[np.ndarray, np.ndarray, np.ndarray]
"""One part of the gate: the true labels, the candidate's predictions and the other model's, on the same items."""


def _accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float | None:
    return round(float(np.mean(np.asarray(y_true) == np.asarray(y_pred))), 4) if len(y_true) else None


def compare(truth: np.ndarray, candidate: np.ndarray, other: np.ndarray, need: int = 1) -> dict[str, Any]:
    """Paired comparison of two models on the same items: McNemar's exact test, one-sided ("the candidate is worse").

    Only the items where exactly one model is right carry information: if both models were equally good, each such
    item would be a fair coin, so losing many more than gaining is evidence that the candidate is worse.

    Args:
        truth: True labels.
        candidate: The candidate's predictions.
        other: The predictions of the model it must not be worse than.
        need: Items needed before this part counts.

    Returns:
        ``n``; ``candidate`` and ``other`` (accuracies); ``gained`` and ``lost`` (items only the candidate, or only
        the other model, got right); ``p_worse`` (the chance of losing at least that many of those items if the
        models were equally good); ``counts`` (``n >= need``); ``worse`` (it counts and ``p_worse < GATE_ALPHA``).
    """
    from scipy.stats import binomtest

    truth = np.asarray(truth)
    right, other_right = np.asarray(candidate) == truth, np.asarray(other) == truth
    gained, lost = int(np.sum(right & ~other_right)), int(np.sum(~right & other_right))
    p = float(binomtest(lost, gained + lost, 0.5, alternative="greater").pvalue) if gained + lost else 1.0
    counts = len(truth) >= need
    return {"n": len(truth), "candidate": _accuracy(truth, candidate), "other": _accuracy(truth, other),
            "gained": gained, "lost": lost, "p_worse": float(f"{p:.3g}"), "counts": counts,
            "worse": counts and p < GATE_ALPHA}


def judge(checks: dict[str, Check | None]) -> tuple[dict[str, dict[str, Any]], bool, str]:
    """Gate a candidate: it must not be worse, beyond noise, on any part that counts.

    Args:
        checks: Part name -> (truth, candidate, other) or None when that data is missing. A part named
            ``held_out_corrections`` counts only from :data:`MIN_HELD_OUT` items; the others from one item.

    Returns:
        The breakdown (part -> :func:`compare`), whether to promote, and the verdict in words.
    """
    gate = {name: compare(*c, need=MIN_HELD_OUT if name == "held_out_corrections" else 1)
            for name, c in checks.items() if c is not None and len(c[0])}
    counted = [name for name, part in gate.items() if part["counts"]]
    worse = [f"{name.replace('_', ' ')} {gate[name]['other']} -> {gate[name]['candidate']} "
             f"(p = {gate[name]['p_worse']:.2g})" for name in counted if gate[name]["worse"]]
    if not counted:
        return gate, False, "kept the current model (no held-out data large enough to judge the new one)"
    if worse:
        return gate, False, f"kept the current model (the new one is worse beyond noise: {'; '.join(worse)})"
    return gate, True, f"promoted (not worse beyond noise on {', '.join(n.replace('_', ' ') for n in counted)})"


def trainable_humans(store: LearningStore, modality: str) -> int:
    """Human labels a retrain of ``modality`` would train on (those outside the held-out share)."""
    data = store.labelled(modality, human_weight=1.0, auto_weight=0.0)
    return int(np.sum(~data["held_out"] & (data["w"] == 1.0)))


def _voice_params() -> dict[str, Any]:
    """The shipped model's configuration, with its searched C and gamma fixed (a retrain skips the grid)."""
    from emotion.voice.persistence import load_voice_model

    shipped = load_voice_model()
    params = {k: v for k, v in shipped.get_params().items() if "__" not in k}
    best = getattr(shipped, "best_params_", {})
    params.update(param_grid=None, C=best.get("svc__C", params["C"]), gamma=best.get("svc__gamma", params["gamma"]))
    return params


def retrain_voice(store: LearningStore, registry: Registry | None = None, report: Report | None = None) -> dict:
    """Fit a voice model on RAVDESS + TESS (all but the held-out speakers) plus the store's labels; gate; add a version.

    The gate's reference is the two speakers the shipped model never heard (RAVDESS actor 24 and TESS speaker YAF,
    :func:`emotion.voice.corpora.held_out`), so a candidate is judged across both corpora, not on RAVDESS alone.

    Raises:
        RetrainError: The base features are neither cached nor extractable.
    """
    from emotion.learning.active import load_active_voice_model
    from emotion.voice import corpora
    from emotion.voice.classifier import VoiceEmotionClassifier
    from emotion.voice.persistence import dump_voice_model, load_voice_model
    from emotion.voice.scratch import sweep_work

    report = report or (lambda stage, frac: None)
    registry = registry or Registry("voice")
    sweep_work()  # scratch files of a killed retrain
    report("loading RAVDESS + TESS base features", 0.02)

    def extracting(done: int, total: int) -> None:
        report(f"extracting RAVDESS + TESS base features (once): {done} of {total} clips", 0.02 + 0.13 * done / total)

    params = _voice_params()
    try:
        variant = corpora.variant_of(params.get("trim", False))  # the features the shipped model was trained on
        base = corpora.load_both(variant, tuple(params["feature_sets"]), progress=extracting)
    except FileNotFoundError as exc:
        raise RetrainError(f"{exc}; the voice retrain needs the RAVDESS and TESS folders of the shared data") from None
    X_base = base["X"]
    gate = corpora.held_out(base)
    data = store.labelled("voice", human_weight=HUMAN_REPEATS, auto_weight=AUTO_REPEATS)
    keep = np.array([len(x) == X_base.shape[1] for x in data["X"]], bool)  # rows the base features match
    X_new = data["X"][keep] if keep.any() else np.zeros((0, X_base.shape[1]), np.float32)
    y_new, reps, held = corpora.seven(data["y"][keep]), data["w"][keep], data["held_out"][keep]
    # a negative group per source file, so no file is split across calibration folds
    sources = -1 - np.unique(data["sources"][keep], return_inverse=True)[1].astype(np.int64)
    train_new = ~held
    rep = reps[train_new].astype(int)
    X = np.vstack([X_base[~gate], np.repeat(X_new[train_new], rep, axis=0)])
    y = np.concatenate([base["y"][~gate], np.repeat(y_new[train_new], rep)])
    groups = np.concatenate([base["cal"][~gate], np.repeat(sources[train_new], rep)])
    report(f"fitting on {len(y)} examples ({int(train_new.sum())} from the store)", 0.15)
    t0 = time.perf_counter()
    model = VoiceEmotionClassifier(**params).fit(X, y, groups=groups)
    fit_seconds = round(time.perf_counter() - t0, 1)
    report("scoring on the held-out set", 0.85)
    current, version, _ = load_active_voice_model()
    reference, truth = X_base[gate], base["y"][gate]
    guess = model.predict(reference)
    checks: dict[str, Check | None] = {
        "held_out_speakers": (truth, guess, corpora.seven(current.predict(reference))),
        "held_out_corrections": (y_new[held], model.predict(X_new[held]), corpora.seven(current.predict(X_new[held])))
        if held.any()
        else None,
    }
    if version != BASE:  # no drift: not worse than the shipped model either
        checks["held_out_speakers_vs_shipped"] = (truth, guess, corpora.seven(load_voice_model().predict(reference)))
    info = {
        "base_clips": int((~gate).sum()),
        "store_items": int(train_new.sum()),
        "human": int(np.sum(reps[train_new] == HUMAN_REPEATS)),
        "held_out_items": int(held.sum()),
        "fit_seconds": fit_seconds,
    }
    report("saving", 0.95)
    return _finish(registry, checks, version, info, lambda tmp: dump_voice_model(model, tmp), ".skops")


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
    sidecar records (RAVDESS actor 24 and TESS speaker YAF, 7 classes).
    """
    if modality == "face":
        reference = reference_faces()
        if reference is None:
            return None
        probs, labels = reference
        return round(float((np.array(FACE_LABELS)[probs.argmax(axis=1)] == labels).mean()), 4)
    card = json.loads((settings.models_dir() / "voice_svm.json").read_text())
    value = card.get("held_out_speakers_accuracy", card.get("held_out_accuracy"))
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
    from emotion.face.model import DEFAULT_FACE_MODEL

    model = FaceAdapter().fit(X[train], data["y"][train], data["w"][train])
    fit_seconds = round(time.perf_counter() - t0, 2)
    report("scoring on the held-out set", 0.6)
    reference = reference_faces()
    version, path, _ = registry.active_file()
    try:
        current = FaceAdapter.load(path, DEFAULT_FACE_MODEL) if path is not None else None
    except ModelError:  # fitted on a former default model: judge against the shipped one
        current = None
    shipped = np.array(FACE_LABELS)

    def serving(z: np.ndarray) -> np.ndarray:
        return current.predict(z) if current is not None else shipped[z.argmax(axis=1)]

    checks: dict[str, Check | None] = {"reference_faces": None, "held_out_corrections": None}
    if reference is not None:
        z, truth = log_probs(reference[0]), reference[1]
        checks["reference_faces"] = (truth, model.predict(z), serving(z))
        if current is not None:  # no drift: not worse than the shipped model either
            checks["reference_faces_vs_shipped"] = (truth, model.predict(z), shipped[z.argmax(axis=1)])
    if held.any():
        checks["held_out_corrections"] = (data["y"][held], model.predict(X[held]), serving(X[held]))
    info = {"store_items": int(train.sum()), "human": humans, "held_out_items": int(held.sum()),
            "fit_seconds": fit_seconds}
    return _finish(registry, checks, version, info, model.save, ".json")


def _finish(
    registry: Registry, checks: dict[str, Check | None], current: str, info: dict, write: Callable[[Path], None],
    suffix: str,
) -> dict:
    """Gate the candidate (:func:`judge`), then save it as a version (active only if it passed).

    Args:
        registry: The modality's versions.
        checks: The gate's parts; the first is the reference set, the second the held-out corrections.
        current: The serving version the candidate is compared with.
        info: What the candidate was trained on.
        write: Writes the candidate's file.
        suffix: The file's suffix.

    Returns:
        ``version``, ``promoted``, ``metrics`` (as recorded in the registry: ``candidate`` and ``current``
        accuracies per part, ``current_version``, ``gate`` (the breakdown), ``score`` and ``current_score`` (the
        reference accuracies), ``verdict``), ``data`` and a one-line ``message``.
    """
    gate, promote, verdict = judge(checks)
    main = [name for name in checks if not name.endswith("_vs_shipped")]
    metrics: dict[str, Any] = {
        "candidate": {name: gate[name]["candidate"] if name in gate else None for name in main},
        "current": {name: gate[name]["other"] if name in gate else None for name in main},
        "current_version": current,
        "gate": gate,
        "verdict": verdict,
    }
    metrics.update(score=metrics["candidate"][main[0]], current_score=metrics["current"][main[0]])
    version = registry.add(write, metrics, info, suffix, promote)
    write_text(registry.folder / f"{version}.md", _card(registry.folder.name, version, metrics, info, verdict))
    cand, cur = metrics["score"], metrics["current_score"]
    return {"version": version, "promoted": promote, "metrics": metrics, "data": info,
            "message": f"{registry.folder.name} model {version}: reference accuracy {cand} vs {cur} for the serving "
            f"one; {verdict}"}


def _card(modality: str, version: str, metrics: dict, info: dict, verdict: str) -> str:
    """A short model card for a learned version: what it is, the data it saw, its held-out scores, its limits.

    Args:
        modality: "voice" or "face".
        version: The version's name in its registry.
        metrics: As :func:`_finish` records them (``gate`` holds the breakdown).
        info: What the version was trained on (name -> number), as :func:`_finish` receives it.
        verdict: Whether it was promoted, and why.

    Returns:
        The card in Markdown (see :mod:`emotion.storage.cards`).
    """
    from emotion.storage.cards import render_card

    what = {
        "voice": "RBF SVM on OpenSMILE ComParE features (the shipped configuration, C and gamma fixed), trained on "
        "RAVDESS actors 1-23 and TESS speaker OAF plus the learning store's labels (human labels twice, collected "
        "ones once).",
        "face": "7x7 adapter softmax(W log p + b) over the shipped face model's probabilities, pulled towards the "
        "identity, trained on the learning store's face labels (human weight 1, collected 0.3).",
    }[modality]
    held = "760 clips of two speakers (RAVDESS and TESS)" if modality == "voice" else "700 FER2013 reference faces"
    sections = {
        "Data": ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in info.items()) + ".",
        "Held-out accuracy": f"Never trained on, against the model serving then ({metrics['current_version']}):\n\n"
        + gate_table(metrics["gate"]),
        "Decision": f"{verdict[:1].upper()}{verdict[1:]}. A new version must not be worse than the serving one (nor "
        f"than the shipped one) beyond noise: McNemar's exact one-sided test on the items where exactly one of them "
        f"is right, refused at p < {GATE_ALPHA}. Held-out corrections count from {MIN_HELD_OUT}.",
        "Limits": f"The held-out parts are small ({held} and a fifth of the corrections), so a difference of a few "
        "hundredths is noise; corrections from one speaker or one camera adapt the model to them; collected labels "
        "are the model's own confident guesses and can reinforce its mistakes.",
    }
    return render_card(f"{modality} model {version}", sections, intro=what)


GATE_COLUMNS = ["part", "items", "this version", "compared with", "only this right", "only that right", "p (worse)",
                "counts"]


def gate_rows(gate: dict[str, dict[str, Any]]) -> list[list[Any]]:
    """The gate's breakdown as table rows (see :data:`GATE_COLUMNS`), for the model card and the Review page."""
    return [[name.replace("_", " "), p["n"], p["candidate"], p["other"], p["gained"], p["lost"], p["p_worse"],
             ("yes" if p["counts"] else f"no (under {MIN_HELD_OUT})") + (", worse" if p["worse"] else "")]
            for name, p in gate.items()]


def gate_table(gate: dict[str, dict[str, Any]]) -> str:
    """The gate's breakdown as a Markdown table."""
    from emotion.storage.cards import markdown_table

    return markdown_table(GATE_COLUMNS, gate_rows(gate))
