"""Train and evaluate the voice emotion model on RAVDESS + TESS and, when prepared, the extra corpora.

Usage (from the repository root, run as a module)::

    .venv/bin/python -m training.train_audio               # features (cached), evaluation, ship model and card
    .venv/bin/python -m training.train_audio --study       # also score the variants of the model card's table
    .venv/bin/python -m training.train_audio --vad         # also measure speech detection on built clips
    .venv/bin/python -m training.train_audio --checks      # also run the shipped model on espeak-ng speech and media
    .venv/bin/python -m training.train_audio --no-ship     # evaluate only

The corpora default to :func:`emotion.settings.ravdess_dir` and :func:`emotion.voice.corpora.tess_dir`. Features
are cached in the cache folder (:func:`emotion.settings.cache_dir`) by :mod:`emotion.voice.corpora`: a retrain never
extracts them again. Study, VAD and check results go to ``<cache dir>/voice_svm/``, where the model card reads them.

With ``--extras``, the extra corpora (nEMO, ASED, TurEV-DB; :data:`emotion.voice.corpora.EXTRA`) are read where
``python -m training.voice_corpora`` prepared them in the cache folder; without them, or on a fresh install, the model
trains on RAVDESS and TESS alone. With them, the evaluation is the leave-one-corpus-out study
(``python -m training.voice_loco``, whose results file ``models/voice_loco.md`` the card includes) and the two-corpus
evaluation below is skipped.

Labels: 7 classes, every corpus mapped through :data:`emotion.voice.corpora.LABEL_MAP` (calm is merged into neutral;
TESS's "pleasant surprise" is surprised). The shipped model is trained on every corpus it finds except RAVDESS actor
:data:`HELD_OUT_ACTOR` and TESS speaker :data:`HELD_OUT_TESS`, whose clips the tests classify.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.metrics import accuracy_score, balanced_accuracy_score, confusion_matrix, f1_score
from sklearn.model_selection import GroupKFold

from emotion.labels import VOICE_LABELS
from emotion.settings import Settings, cache_dir, shared_data
from emotion.storage.cards import markdown_table, write_card
from emotion.voice import corpora
from emotion.voice.classifier import AROUSAL, VoiceEmotionClassifier
from emotion.voice.corpora import HELD_OUT_ACTOR, HELD_OUT_TESS
from emotion.voice.corpora import read as _read
from emotion.voice.persistence import default_model_path, load_voice_model, save_voice_model
from training.common import plot_confusion
from training.voice_study import StudyClassifier

FINAL: dict[str, Any] = {
    "k": 700,
    "C": 10.0,
    "clip": 3.0,
    "feature_sets": ("compare",),
    "arousal": True,
    "components": 300,
    "param_grid": {"svc__C": [1.0, 3.0, 10.0]},
    "label": "svc",
    "trim": True,
}
"""The shipped configuration, chosen on the cross-corpus and speaker-grouped figures of the studies (see the model
card): ANOVA selection, no SMOTE (class weights only; the studies' options are :mod:`training.voice_study`'s), C by
a grid over folds grouped by speaker, the label from the SVC's own vote and the confidence from the calibrated
probability of that label."""
AUGMENT = False
"""Whether the shipped model also trains on the degraded copies (variant "aug"); see the study."""
LABELS = tuple(lab for lab in VOICE_LABELS if lab != "calm")
"""The 7 classes both corpora share."""
CV_FOLDS = 6
VOICE_CONFIDENCE_CANDIDATES = (0.3, 0.35, 0.4, 0.45, 0.5, 0.6)


def results_dir() -> Path:
    """Where the study, VAD and check results are kept for the model card: ``<cache dir>/voice_svm``."""
    folder = cache_dir() / "voice_svm"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


# ----------------------------------------------------------------------------------------------------------------
# Data


EXTRAS: tuple[str, ...] = corpora.EXTRA
"""Extra corpora ``--extras`` trains on when they are prepared (see :mod:`training.voice_corpora`)."""


def both(
    variant: str | None = None, sets: tuple[str, ...] = FINAL["feature_sets"], extras: tuple[str, ...] = ()
) -> dict[str, np.ndarray]:
    """Return both corpora's features in one table, plus the prepared ``extras`` (see ``corpora.load_both``)."""
    return corpora.load_both(variant or corpora.variant_of(FINAL["trim"]), sets, extras=extras)


held_out = corpora.held_out


def arousal_of(y: np.ndarray) -> np.ndarray:
    """High/low arousal of each label ("" for disgust, which has none; see :data:`emotion.voice.classifier.AROUSAL`)."""
    return np.array([AROUSAL.get(str(v), "") for v in y])


def with_aug(d: dict[str, np.ndarray], aug: dict[str, np.ndarray] | None, rows: np.ndarray) -> tuple:
    """Training rows ``rows`` of ``d`` with their calibration groups, plus the degraded copies when ``aug`` is given."""
    X, y, g = d["X"][rows], d["y"][rows], d["cal"][rows]
    if aug is None:
        return X, y, g
    return np.vstack([X, aug["X"][rows]]), np.concatenate([y, aug["y"][rows]]), np.concatenate([g, aug["cal"][rows]])


# ----------------------------------------------------------------------------------------------------------------
# Evaluation


def scores(
    y: np.ndarray,
    pred: np.ndarray,
    conf: np.ndarray | None = None,
    p_high: np.ndarray | None = None,
    threshold: float = 0.0,
) -> dict[str, Any]:
    """Return accuracy, macro-F1 and the number of classes predicted.

    With ``conf``, also the accuracy and share of the rows at or above ``threshold``; with ``p_high``, the balanced
    accuracy of high vs low arousal (rows with an arousal class only).
    """
    out: dict[str, Any] = {
        "n": int(len(y)),
        "acc": round(float(accuracy_score(y, pred)), 3),
        "f1": round(float(f1_score(y, pred, average="macro", labels=sorted(set(y)))), 3),
        "classes_predicted": int(len(set(pred))),
    }
    if conf is not None:
        sure = conf >= threshold
        out["confident_share"] = round(float(sure.mean()), 3)
        out["acc_confident"] = round(float(accuracy_score(y[sure], pred[sure])), 3) if sure.any() else None
    if p_high is not None:
        level = arousal_of(y)
        m = level != ""
        out["arousal_bacc"] = round(
            float(balanced_accuracy_score(level[m], np.where(p_high[m] >= 0.5, "high", "low"))), 3
        )
    return out


def labelled(model: VoiceEmotionClassifier, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each row's label as users see it and its confidence (the calibrated probability of that label)."""
    pred, proba = model.label_and_proba(X)
    return pred, model.confidence(pred, proba)


def fit(make: Callable[[], Any], X: np.ndarray, y: np.ndarray, g: np.ndarray) -> Any:
    """Fit a model, with speaker groups when it takes them."""
    model = make()
    if isinstance(model, VoiceEmotionClassifier):
        return model.fit(X, y, groups=g)
    return model.fit(X, y)


def cross_corpus(
    make: Callable[[], Any], d: dict[str, np.ndarray], aug: dict[str, np.ndarray] | None = None, threshold: float = 0.0
) -> dict[str, Any]:
    """Train on one corpus, test on the other, both ways.

    Returns:
        ``ravdess->tess`` and ``tess->ravdess`` (see :func:`scores`), ``mean`` (their mean accuracy, the figure
        models are chosen on) and, for calibrated models, the raw predictions under ``_pred``.
    """
    out: dict[str, Any] = {"_pred": {}}
    for src, dst in (("ravdess", "tess"), ("tess", "ravdess")):
        model = fit(make, *with_aug(d, aug, d["corpus"] == src))
        test = d["corpus"] == dst
        X, y = d["X"][test], d["y"][test]
        if hasattr(model, "predict_proba") and isinstance(model, VoiceEmotionClassifier):
            pred, conf = labelled(model, X)
            p_high = model.predict_arousal(X)
            out["_pred"][f"{src}->{dst}"] = (y, pred, conf, p_high)
            out[f"{src}->{dst}"] = scores(y, pred, conf, p_high, threshold)
        else:
            out[f"{src}->{dst}"] = scores(y, model.predict(X))
    out["mean"] = round((out["ravdess->tess"]["acc"] + out["tess->ravdess"]["acc"]) / 2, 3)
    return out


def grouped(
    make: Callable[[], Any], d: dict[str, np.ndarray], aug: dict[str, np.ndarray] | None = None, threshold: float = 0.0
) -> dict[str, Any]:
    """6-fold cross-validation over both corpora grouped by speaker (no speaker in both training and test).

    Returns:
        ``all``, ``ravdess`` (speaker-independent RAVDESS, 7 classes) and ``tess`` (see :func:`scores`), the
        confusion matrix ``cm`` over both, and ``seconds``.
    """
    t0 = time.perf_counter()
    pred = np.empty_like(d["y"])
    conf, p_high = np.zeros(len(d["y"])), np.zeros(len(d["y"]))
    for tr, te in GroupKFold(n_splits=CV_FOLDS).split(d["X"], d["y"], d["group"]):
        rows = np.zeros(len(d["y"]), bool)
        rows[tr] = True
        model = fit(make, *with_aug(d, aug, rows))
        pred[te], conf[te] = labelled(model, d["X"][te])
        p_high[te] = model.predict_arousal(d["X"][te])
    out: dict[str, Any] = {"all": scores(d["y"], pred, conf, p_high, threshold)}
    for c in ("ravdess", "tess"):
        m = d["corpus"] == c
        out[c] = scores(d["y"][m], pred[m], conf[m], p_high[m], threshold)
    out["cm"] = confusion_matrix(d["y"], pred, labels=list(LABELS)).tolist()
    out["_pred"] = (d["y"], pred, conf, p_high)
    out["seconds"] = round(time.perf_counter() - t0, 1)
    return out


def pick_threshold(pairs: list[tuple[np.ndarray, ...]]) -> list[dict[str, Any]]:
    """Accuracy and coverage of the confident windows at each candidate threshold, over cross-corpus predictions."""
    y = np.concatenate([p[0] for p in pairs])
    pred = np.concatenate([p[1] for p in pairs])
    conf = np.concatenate([p[2] for p in pairs])
    rows = []
    for t in VOICE_CONFIDENCE_CANDIDATES:
        sure = conf >= t
        rows.append(
            {
                "threshold": t,
                "confident_share": round(float(sure.mean()), 3),
                "acc_confident": round(float((y[sure] == pred[sure]).mean()), 3) if sure.any() else None,
                "acc_uncertain": round(float((y[~sure] == pred[~sure]).mean()), 3) if (~sure).any() else None,
            }
        )
    return rows


def evaluate(d: dict[str, np.ndarray], aug: dict[str, np.ndarray] | None = None) -> Path:
    """Run the cross-corpus and grouped evaluations of the shipped configuration; keep their raw predictions.

    Returns:
        ``<results dir>/evaluation.npz``: per protocol the true labels, predictions, confidences and P(high arousal),
        so that the card can be rebuilt for any confidence threshold without refitting.
    """
    final = lambda: VoiceEmotionClassifier(**{**FINAL, "n_jobs": 2})  # noqa: E731
    arrays: dict[str, np.ndarray] = {}
    cross = cross_corpus(final, d, aug)
    for name, values in [*cross["_pred"].items(), ("grouped", grouped(final, d, aug)["_pred"])]:
        for field, v in zip(("y", "pred", "conf", "p_high"), values):
            arrays[f"{name}|{field}"] = np.asarray(v)
    path = results_dir() / "evaluation.npz"
    np.savez(path, **arrays)
    return path


def summarise(d: dict[str, np.ndarray], threshold: float) -> tuple[dict[str, Any], list[dict[str, Any]], Any]:
    """Scores (see :func:`scores`) and the threshold table from the kept evaluation, at ``threshold``.

    Returns:
        The scores by protocol, the threshold table and the grouped confusion matrix (empty, empty and None when
        no evaluation was kept).
    """
    path = results_dir() / "evaluation.npz"
    if not path.exists():
        return {}, [], None
    e = dict(np.load(path, allow_pickle=False))

    def get(name: str) -> tuple[np.ndarray, ...]:
        return tuple(e[f"{name}|{f}"] for f in ("y", "pred", "conf", "p_high"))

    ev: dict[str, Any] = {}
    cross = [get("ravdess->tess"), get("tess->ravdess")]
    for name, values in zip(("ravdess->tess", "tess->ravdess"), cross):
        ev[f"cross:{name}"] = scores(*values, threshold)
    ev["cross:mean"] = round((ev["cross:ravdess->tess"]["acc"] + ev["cross:tess->ravdess"]["acc"]) / 2, 3)
    g = get("grouped")
    ev["grouped:all"] = scores(*g, threshold)
    for c in ("ravdess", "tess"):
        m = d["corpus"] == c
        ev[f"grouped:{c}"] = scores(*(v[m] for v in g), threshold)
    table = pick_threshold(cross)
    for row, other in zip(table, pick_threshold([g])):
        row.update({f"grouped_{k}": v for k, v in other.items() if k != "threshold"})
    return ev, table, confusion_matrix(g[0], g[1], labels=list(LABELS))


def bare(**kw: Any) -> Callable[[], Any]:
    """A factory of the uncalibrated pipeline (fast, for the study)."""
    model = StudyClassifier(**{"smote": True, **kw})  # the studies' default: SMOTE unless told otherwise
    return lambda: model._pipeline(10**6)


def speaker_z(d: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Features standardised within each speaker: an oracle that needs a speaker's balanced set of emotions."""
    X = d["X"].copy()
    for g in np.unique(d["group"]):
        m = d["group"] == g
        X[m] = (X[m] - X[m].mean(axis=0)) / (X[m].std(axis=0) + 1e-6)
    return {**d, "X": X}


def study() -> list[dict[str, Any]]:
    """Score the variants of the model card's table on the cross-corpus figure (bare pipelines, no calibration)."""
    rows = []
    sets_c, sets_ce, sets_e = ("compare",), ("compare", "egemaps"), ("egemaps",)
    data = {s: both("norm", s) for s in (sets_c, sets_ce, sets_e)}
    aug = {s: both("aug", s) for s in (sets_c, sets_ce)}
    runs = [
        (
            "ComParE, L1-SVM k=500, unit rows (the RAVDESS-only model's configuration)",
            sets_c,
            None,
            bare(selector="l1", k=500, clip=5, unit_norm=True),
        ),
        ("ComParE, ANOVA k=100", sets_c, None, bare(selector="anova", k=100, clip=5)),
        ("ComParE, ANOVA k=300", sets_c, None, bare(selector="anova", k=300, clip=5)),
        ("ComParE, ANOVA k=1000", sets_c, None, bare(selector="anova", k=1000, clip=5)),
        ("ComParE, ANOVA k=2000", sets_c, None, bare(selector="anova", k=2000, clip=5)),
        ("ComParE, ANOVA k=1000, unit rows", sets_c, None, bare(selector="anova", k=1000, clip=5, unit_norm=True)),
        ("ComParE, ANOVA k=1000, C=3", sets_c, None, bare(selector="anova", k=1000, clip=5, C=3.0)),
        ("ComParE, ANOVA k=1000, z clipped to 3", sets_c, None, bare(selector="anova", k=1000, clip=3)),
        (
            "ComParE, ANOVA k=1000, clip 3, PCA 300 (shipped: 1/3 the model size)",
            sets_c,
            None,
            bare(selector="anova", k=1000, clip=3, components=300),
        ),
        ("ComParE, ANOVA k=500, clip 3", sets_c, None, bare(selector="anova", k=500, clip=3)),
        ("eGeMAPS (88)", sets_e, None, bare(selector="none", clip=3)),
        ("ComParE+eGeMAPS, ANOVA k=1000, clip 3", sets_ce, None, bare(selector="anova", k=1000, clip=3)),
        ("ComParE, ANOVA k=1000, clip 3, + degraded copies", sets_c, "aug", bare(selector="anova", k=1000, clip=3)),
        (
            "ComParE+eGeMAPS, ANOVA k=1000, clip 3, + degraded copies",
            sets_ce,
            "aug",
            bare(selector="anova", k=1000, clip=3),
        ),
        (
            "per-speaker z-score (oracle), ComParE, ANOVA k=1000, clip 3",
            sets_c,
            "z",
            bare(selector="anova", k=1000, clip=3),
        ),
        ("per-speaker z-score (oracle), eGeMAPS", sets_e, "z", bare(selector="none", clip=3)),
    ]
    for name, sets, extra, make in runs:
        d = speaker_z(data[sets]) if extra == "z" else data[sets]
        r = cross_corpus(make, d, aug[sets] if extra == "aug" else None)
        row = {
            "variant": name,
            "r2t": r["ravdess->tess"]["acc"],
            "r2t_f1": r["ravdess->tess"]["f1"],
            "t2r": r["tess->ravdess"]["acc"],
            "t2r_f1": r["tess->ravdess"]["f1"],
            "mean": r["mean"],
            "r2t_classes": r["ravdess->tess"]["classes_predicted"],
        }
        rows.append(row)
        print(json.dumps(row), flush=True)
    (results_dir() / "study.json").write_text(json.dumps(rows, indent=1))
    return rows


def study_speakers() -> list[dict[str, Any]]:
    """Score this round's variants on speaker-grouped and cross-corpus accuracy (see the card's second table).

    Bare rows score the uncalibrated pipeline (the SVC's own vote); calibrated rows the whole model, whose label is
    the argmax of its calibrated probabilities (emotion model only, no arousal model, to save time).
    """
    d = both("norm", ("compare",))
    base: dict[str, Any] = dict(
        selector="anova", k=1000, clip=3.0, components=300, feature_sets=("compare",), smote=True
    )
    plain = {**base, "smote": False}
    runs: list[tuple[str, dict[str, Any], bool]] = [
        ("previous shipped pipeline (SMOTE, PCA 300), bare", base, False),
        ("previous shipped pipeline, sigmoid-calibrated", base, True),
        ("previous shipped pipeline, temperature-calibrated", {**base, "calibration": "temperature"}, True),
        ("no SMOTE (class weights only), bare", plain, False),
        ("no SMOTE, sigmoid-calibrated", plain, True),
        ("no SMOTE, temperature-calibrated", {**plain, "calibration": "temperature"}, True),
        ("no SMOTE, PCA 150, bare", {**plain, "components": 150}, False),
        ("no SMOTE, PCA 100, bare", {**plain, "components": 100}, False),
        ("no SMOTE, no PCA, bare", {**plain, "components": 0}, False),
        ("no SMOTE, no PCA, temperature-calibrated", {**plain, "components": 0, "calibration": "temperature"}, True),
        ("no SMOTE, C=3, bare", {**plain, "C": 3.0}, False),
        ("no SMOTE, C=30, bare", {**plain, "C": 30.0}, False),
        ("no SMOTE, gamma 0.0017, bare", {**plain, "gamma": 0.0017}, False),
        ("no SMOTE, ANOVA k=2000, bare", {**plain, "k": 2000}, False),
        ("no SMOTE, z clipped to 2, bare", {**plain, "clip": 2.0}, False),
    ]
    rows = []
    for name, kw, calibrated in runs:
        make = (lambda kw=kw: StudyClassifier(**{"label": "calibrated", **kw})) if calibrated else bare(**kw)
        pred = np.empty_like(d["y"])
        for tr, te in GroupKFold(n_splits=CV_FOLDS).split(d["X"], d["y"], d["group"]):
            rows_tr = np.zeros(len(d["y"]), bool)
            rows_tr[tr] = True
            pred[te] = fit(make, *with_aug(d, None, rows_tr)).predict(d["X"][te])
        r = cross_corpus(make, d)
        rav = d["corpus"] == "ravdess"
        rows.append(
            {
                "variant": name,
                "g_all": round(float(accuracy_score(d["y"], pred)), 3),
                "g_rav": round(float(accuracy_score(d["y"][rav], pred[rav])), 3),
                "g_tess": round(float(accuracy_score(d["y"][~rav], pred[~rav])), 3),
                "r2t": r["ravdess->tess"]["acc"],
                "t2r": r["tess->ravdess"]["acc"],
                "mean": r["mean"],
            }
        )
        print(rows[-1])
    (results_dir() / "study_speakers.json").write_text(json.dumps(rows, indent=1))
    return rows


K_SCAN = (400, 500, 600, 700, 850, 1500)
"""ANOVA selection sizes scored on trimmed clips (k=1000 is the row "trimmed clips")."""


def study_trim() -> list[dict[str, Any]]:
    """Score whole clips against clips cut to their loud part (:func:`emotion.voice.vad.trim`), in training and test.

    RAVDESS clips hold about 1.6 s of silence around 2.1 s of speech; TESS clips and continuous speech hardly any.
    Each row trains the bare shipped pipeline (no SMOTE, C=3, PCA 300; the SVC's own vote) on one or both versions
    of the training clips and tests on one version of the test clips, speaker-grouped and across corpora.
    """
    whole, cut = both("norm", ("compare",)), both("trim", ("compare",))
    assert list(whole["files"]) == list(cut["files"])
    y, group, corpus = whole["y"], whole["group"], whole["corpus"]
    runs = [
        ("whole clips (the model before)", (whole,), whole, 1000),
        ("trained on whole clips, tested on trimmed ones", (whole,), cut, 1000),
        ("trimmed clips", (cut,), cut, 1000),
        ("trained on both versions, tested on trimmed", (whole, cut), cut, 1000),
        ("trained on both versions, tested on whole", (whole, cut), whole, 1000),
        *[(f"trimmed clips, ANOVA k={k}{' (shipped)' if k == FINAL['k'] else ''}", (cut,), cut, k) for k in K_SCAN],
    ]

    def run(k: int, train: tuple, rows: np.ndarray, test: dict[str, np.ndarray], te: np.ndarray) -> np.ndarray:
        model = bare(selector="anova", k=k, clip=3.0, components=300, smote=False, C=3.0)()
        X = np.vstack([t["X"][rows] for t in train])
        return model.fit(X, np.concatenate([y[rows]] * len(train))).predict(test["X"][te])

    out = []
    for name, train, test, k in runs:
        pred = np.empty_like(y)
        for tr, te in GroupKFold(n_splits=CV_FOLDS).split(y, y, group):
            pred[te] = run(k, train, np.isin(np.arange(len(y)), tr), test, te)
        rav = corpus == "ravdess"
        row = {
            "variant": name,
            "g_all": round(float(accuracy_score(y, pred)), 3),
            "g_rav": round(float(accuracy_score(y[rav], pred[rav])), 3),
            "g_tess": round(float(accuracy_score(y[~rav], pred[~rav])), 3),
        }
        for src, dst in (("ravdess", "tess"), ("tess", "ravdess")):
            te = corpus == dst
            row[f"{src[0]}2{dst[0]}"] = round(float(accuracy_score(y[te], run(k, train, corpus == src, test, te))), 3)
        row["mean"] = round((row["r2t"] + row["t2r"]) / 2, 3)
        out.append(row)
        print(row, flush=True)
    (results_dir() / "study_trim.json").write_text(json.dumps(out, indent=1))
    return out


ESPEAK_LINES = (
    "Kids are talking by the door.",
    "Dogs are sitting by the door.",
    "I cannot believe you did this to me, get out of here now!",
    "Oh, that is wonderful news, thank you so much.",
    "I am so tired, nothing seems to matter any more.",
    "Please, somebody help me, I think there is someone in the house.",
)
ESPEAK_VOICES = (("en-us", 50, 175), ("en-gb", 70, 140), ("en+f3", 60, 200), ("en+m3", 30, 120))


def speech_checks() -> dict[str, Any]:
    """Run the shipped model on espeak-ng speech and the project's media; return prediction spreads.

    Returns:
        What each check predicted, by its name.
    """
    from emotion.voice.process import AudioError, process_file, process_signal

    out: dict[str, Any] = {}
    if shutil.which("espeak-ng"):
        preds = []
        with tempfile.TemporaryDirectory() as tmp:
            for i, (voice, pitch, speed) in enumerate(ESPEAK_VOICES):
                for j, line in enumerate(ESPEAK_LINES):
                    wav = Path(tmp) / f"{i}_{j}.wav"
                    cmd = ["espeak-ng", "-v", voice, "-p", str(pitch), "-s", str(speed), "-w", str(wav), line]
                    subprocess.run(cmd, check=True)
                    r = process_file(wav, Settings(segment_seconds=10.0))
                    preds.append(r.summary["dominant_emotion"])
        out["espeak-ng (24 utterances)"] = {lab: preds.count(lab) for lab in sorted(set(map(str, preds)))}
    media = shared_data() / "media"
    for name in ("WolfgangLanger_Pexels.mp4", "single_face.mp4", "no_face.mp4"):
        try:
            r = process_file(media / name, Settings())
            out[name] = {"summary": r.summary, "note": r.note}
        except AudioError as exc:
            out[name] = str(exc)
    # Gain sweep of one long signal through the public API: the predictions must not depend on the level.
    from emotion.settings import ravdess_dir

    clips = sorted((ravdess_dir() / f"Actor_{HELD_OUT_ACTOR:02d}").glob("*.flac"))[::6]
    if clips:
        sig = np.concatenate([_read(str(c))[0] for c in clips])
        out["held-out actor, 10 clips joined, gain sweep"] = {
            f"{g:+d} dB": process_signal(sig * 10 ** (g / 20), 16000, Settings()).summary["emotion_shares"]
            for g in (-30, 0, 10)
        }
    (results_dir() / "checks.json").write_text(json.dumps(out, indent=1, default=str))
    return out


# ----------------------------------------------------------------------------------------------------------------
# Card


def _table(rows: list[dict[str, Any]], cols: list[tuple[str, str]]) -> str:
    """A Markdown table of ``rows`` with the columns ``cols`` (key, title); a missing key leaves its cell empty."""
    return markdown_table([title for _, title in cols], [[r.get(key, "") for key, _ in cols] for r in rows])


def _corpora_table(meta: dict[str, Any]) -> str:
    """The corpora the model was trained on (from its sidecar), with language and licence; empty for two corpora."""
    counts = meta.get("corpora") or {}
    if set(counts) <= {"ravdess", "tess"}:
        return ""
    rows = [[c, corpora.LANGUAGE[c], n, corpora.LICENCES[c]] for c, n in counts.items()]
    return "\n\n" + CARD_EXTRA + "\n\n" + markdown_table(["corpus", "language", "training clips", "licence"], rows)


def _mapping_table() -> str:
    """The one label mapping table (:data:`emotion.voice.corpora.LABEL_MAP`) as Markdown."""
    rows = [[c, ", ".join(f"{k} -> {v}" for k, v in t.items())] for c, t in corpora.LABEL_MAP.items()]
    return markdown_table(["corpus", "its labels -> the model's classes"], rows)


def _loco_text() -> str:
    """The LOCO study's results file (``models/voice_loco.md``, written by ``training.voice_loco``), for the card."""
    from training.voice_loco import results_paths

    path = results_paths()[1]
    if not path.exists():
        return ""
    body = path.read_text().split("\n", 1)[1]  # without its title
    return body.replace("\n## ", "\n### ").strip()


def _loco_mean() -> dict[str, Any] | None:
    """The chosen configuration's LOCO mean from the study's results file (None before the study ran)."""
    from training.voice_loco import SHIPPED_ROW, results_paths

    path = results_paths()[0]
    if not path.exists():
        return None
    found = json.loads(path.read_text()).get("calibrated", {}).get(SHIPPED_ROW)
    return found["mean"] if found else None


def _load(name: str) -> Any:
    path = results_dir() / name
    return json.loads(path.read_text()) if path.exists() else None


SPEAKER_COLUMNS = [
    ("variant", "variant"),
    ("g_rav", "RAVDESS speaker-independent acc"),
    ("g_all", "grouped acc, both corpora"),
    ("g_tess", "grouped acc, TESS"),
    ("r2t", "RAVDESS->TESS acc"),
    ("t2r", "TESS->RAVDESS acc"),
    ("mean", "cross-corpus mean"),
]
"""Columns of the studies scored both speaker-grouped and across corpora."""


def write_voice_card(path: Path) -> Path:
    """Write the model card next to the model from its sidecar and the cached study, VAD figures and checks.

    Args:
        path: The shipped model file; its sidecar JSON lies beside it.

    Returns:
        The card's path (``voice_svm.md`` beside the model).
    """
    meta = json.loads(path.with_suffix(".json").read_text())
    ev = meta.get("evaluation") or {}
    sc = [
        ("n", "clips"),
        ("acc", "accuracy"),
        ("f1", "macro-F1"),
        ("arousal_bacc", "arousal high/low bal. acc."),
        ("confident_share", "confident share"),
        ("acc_confident", "accuracy of confident"),
    ]
    rows = []
    for key, title in (
        ("cross:ravdess->tess", "train RAVDESS, test TESS (cross-corpus)"),
        ("cross:tess->ravdess", "train TESS, test RAVDESS (cross-corpus)"),
        ("grouped:all", "both corpora, 6-fold grouped by speaker"),
        ("grouped:ravdess", "  of which RAVDESS (speaker-independent)"),
        ("grouped:tess", "  of which TESS (other TESS speaker in training)"),
        ("held:ravdess", f"shipped model, held-out RAVDESS actor {HELD_OUT_ACTOR}"),
        ("held:tess", f"shipped model, held-out TESS speaker {HELD_OUT_TESS}"),
    ):
        if key in ev:
            rows.append({"protocol": title, **ev[key]})
    sections = {
        "Data and licence": CARD_DATA.format(actor=HELD_OUT_ACTOR, tess=HELD_OUT_TESS) + _corpora_table(meta),
        "Labels across corpora": CARD_LABELS + "\n\n" + _mapping_table(),
        "Model": CARD_MODEL.format(
            size=path.stat().st_size / 1e6,
            fit=meta["fit_seconds"],
            k=FINAL["k"],
            C=(meta.get("best_params") or {}).get("svc__C", FINAL["C"]),
            grid=", ".join(f"{c:g}" for c in FINAL["param_grid"]["svc__C"]),
            reload=(
                RELOAD.format(**{"n": "2,840", **meta["reload_check"]}) if meta.get("reload_check") else "not measured"
            ),
            pca=FINAL["components"],
            clip=FINAL["clip"],
            sha=meta["sha256"][:16],
            sk=meta["sklearn"],
            smile=meta["opensmile"],
            aug="and their degraded copies " if AUGMENT else "",
            trained="every corpus in the table above" if _corpora_table(meta) else "both corpora",
        ),
        "Evaluation (the cross-corpus rows are the claim)": CARD_EVAL.format(threshold=meta["voice_confidence"])
        + "\n\n"
        + _table(rows, [("protocol", "protocol")] + sc)
        + "\n\n![confusion matrix](voice_svm_confusion.png)",
        "Against the model it replaced": CARD_CHANGE,
    }
    th = meta.get("threshold_table")
    if th:
        sections["Confidence threshold"] = (
            CARD_THRESHOLD.format(threshold=meta["voice_confidence"])
            + "\n\n"
            + _table(
                th,
                [
                    ("threshold", "threshold"),
                    ("confident_share", "cross-corpus: confident share"),
                    ("acc_confident", "accuracy, confident"),
                    ("acc_uncertain", "accuracy, uncertain"),
                    ("grouped_confident_share", "grouped by speaker: confident share"),
                    ("grouped_acc_confident", "accuracy, confident"),
                    ("grouped_acc_uncertain", "accuracy, uncertain"),
                ],
            )
        )
    loco = _loco_text()
    if loco:
        sections["Leave-one-corpus-out (LOCO) study (the claim across languages, rooms and speakers)"] = loco
    for name, title, text, cols in STUDY_SECTIONS:
        found = _load(name)
        if found:
            sections[title] = text + "\n\n" + _table(found, cols)
    checks = _load("checks.json")
    if checks:
        sections["Checks on audio that is not RAVDESS or TESS (shipped model, public API)"] = (
            f"```json\n{json.dumps(checks, indent=1)[:5000]}\n```"
        )
    sections.update(
        {
            "Which output to trust": CARD_TRUST,
            "Limits (read before trusting a voice result)": CARD_LIMITS,
            "How to regenerate": CARD_RETRAIN,
        }
    )
    intro = (
        "7 classes: neutral (with RAVDESS's calm), happy, sad, angry, fearful, disgust, surprised (chance 14%); "
        "an arousal score (calm 0 .. activated 1) and a valence score (-1 .. +1) per window."
    )
    return write_card(path.with_name("voice_svm.md"), "Voice emotion model: `voice_svm.skops`", sections, intro=intro)


CARD_DATA = """\
- **RAVDESS** speech audio (Audio_Speech_Actors_01-24): 1,440 clips, 24 professional actors (12 female, 12 male),
  two fixed sentences. Licence **CC BY-NC-SA 4.0**. Cite: Livingstone SR, Russo FA (2018) The Ryerson
  Audio-Visual Database of Emotional Speech and Song (RAVDESS). PLoS ONE 13(5): e0196391.
- **TESS**, Toronto Emotional Speech Set: 1,400 clips here (the first 100 target words of each speaker and emotion),
  two actresses (OAF aged 64, YAF aged 26) saying "Say the word ___". Licence **CC BY-NC-ND 4.0**. Cite: Dupuis K,
  Pichora-Fuller MK (2010) Toronto emotional speech set (TESS), University of Toronto, Psychology Department.
- Both as 16 kHz mono FLAC. The model is a derivative of both: non-commercial use only.
- The shipped model never heard **RAVDESS actor {actor}** nor **TESS speaker {tess}** (both chosen before any result
  was seen), so the tests check it on a voice it never met, from cached features."""

RELOAD = (
    "over all {n} clips {labels_changed} labels changed and probabilities moved by at most {max_proba_change:.2g} "
    "({max_arousal_change:.2g} for arousal)"
)
CARD_EXTRA = """\
Beside RAVDESS and TESS, the model trains on three public corpora in other languages, read from their GitHub
snapshots by `training/voice_corpora.py` (never committed; at most 1,500 clips each, stratified by speaker and
label, resampled to 16 kHz): **nEMO** (Polish, 9 speakers; amu-cai/nEMO), **ASED** v1 (Amharic, 65 speakers;
Ethio2021/ASED_V1; 4 duplicate files dropped) and **TurEV-DB** (Turkish single words, 6 speakers; Xeonen/TurEV-DB,
its `Sound Source/` only). All are research / non-commercial data: the model is for research use only. Cite them as
below. They are optional: a fresh install with only the shared data retrains on RAVDESS and TESS."""

CARD_LABELS = """\
RAVDESS has 8 emotions (with calm), TESS 7 (with "pleasant surprise", no calm). The model predicts the 7 shared
classes: TESS's pleasant surprise is *surprised*, and RAVDESS's *calm* is merged into *neutral* (a calm/neutral
split learnt from one corpus has nothing to transfer to on the other; the two are also the pair RAVDESS-only models
confused most). Arousal labels come from the emotion labels: **high** = angry, happy, fearful, surprised; **low** =
neutral, calm, sad; disgust is left out of the arousal model (it sits mid-axis and both corpora voice it both ways).
Valence is not learnt separately: it is the mean, under the window's calibrated class probabilities, of happy +1,
surprised +0.5, neutral 0, sad/angry/fearful/disgust -1."""

CARD_MODEL = """\
1. Each window (training: each clip) is **cut to its loud part** (the quiet lead-in and tail removed, 0.15 s kept
   around the first and last loud frame; `emotion.voice.vad.trim`), then **loudness-normalised** to -23 dBFS RMS
   over its active frames. Without the cut, the share of silence moved many features (see "Silence around the
   speech" below).
2. OpenSMILE 2.6 **ComParE_2016 functionals** (6,373 values).
3. Constant features dropped, `StandardScaler`, z-scores clipped to [-{clip:g}, {clip:g}].
4. **ANOVA F-test selection** of the {k} best features, then **PCA** to {pca} components (both fitted on
   training folds only; the PCA keeps the saved model under the repository's 5 MB limit).
5. **SVC** rbf, gamma "scale", `class_weight="balanced"` (no SMOTE: class weights alone), C={C:g} chosen by a grid
   over {grid} on the same speaker-grouped folds as the calibration.
6. **Label**: the SVC's own vote. **Confidence**: the calibrated probability of that label, from
   `CalibratedClassifierCV(method="sigmoid", ensemble=False)` on out-of-fold decision values from 5 folds **grouped
   by RAVDESS actor, with TESS and each extra corpus as one group** (every calibration score comes from a voice the
   fold never heard, and all but RAVDESS's from a model that never heard that corpus at all). The sigmoids are not
   allowed to move the label (taking their argmax cost about 0.02 speaker-independent accuracy, see the study
   below); where they disagree with the vote, the label's probability is below another class's and the window is
   more often flagged uncertain.
7. **Arousal**: the same pipeline and calibration, fitted on the high/low arousal classes, gives P(high) per window.

Trained on {trained} {aug}minus the two held-out speakers. Saved with **skops** (no pickle;
the sidecar `voice_svm.json` holds its sha256, checked on every load; only the types in `TRUSTED_TYPES` are
accepted). The support vectors are stored as float32 (they are float32 PCA outputs, so nothing is lost) and cast
back to float64 on load, and the fitted pipeline scales only the {k} selected features
(`emotion.voice.classifier.compact`, the same numbers): saved and reloaded, {reload}. Size {size:.1f} MB. Final fit
{fit:.0f} s on 2 cores from cached features, grid included. sha256 {sha}... ; scikit-learn {sk}, opensmile {smile}."""

CARD_EVAL = """\
Every figure is on speakers the model never heard. **Cross-corpus** (train on one corpus, test on the other) is the
figure that predicts what uploads meet: another room, microphone and speaking style. The grouped rows train on both
corpora with each fold's speakers held out; their TESS row still shares TESS's studio and word list with the
training data, so it is optimistic. Confident = calibrated confidence >= {threshold:g} (the default of the
`voice_confidence` setting). Arousal: balanced accuracy of P(high) >= 0.5 over clips whose emotion has an arousal
class (disgust excluded)."""

CARD_THRESHOLD = """\
Share and accuracy of the windows at or above each threshold, and accuracy of those below it: over the two
cross-corpus directions, and over the 6-fold speaker-grouped evaluation of both corpora. A window's confidence is
the calibrated probability of the label it shows (the SVC's vote). The default, **{threshold:g}**, keeps a label on
four windows in five for a new speaker of a known kind of recording, with the confident windows clearly more
accurate than the uncertain ones (grouped: 0.59 against 0.44), and it separates them on a corpus the model never
heard as well (0.36 against 0.13, on 92% confident). Before windows were cut to their speech, the confidence pointed
the wrong way across corpora (uncertain windows right more often, 0.51 against 0.28). Higher thresholds buy a little
accuracy for many fewer labelled windows. Across corpora even the confident windows are right only a third of the
time: read a file's uncertain share and its arousal before its category. A window under the threshold keeps its
label and confidence in the record with `uncertain=True`; the summary's dominant label, the distribution chart and
the face/voice disagreement band use only confident windows. Calibration: sigmoids on out-of-fold decision values
from folds grouped by RAVDESS actor, with all of TESS as one group, so part of the calibration data is scored by a
model that never heard TESS."""

CARD_STUDY = """\
Each idea was scored on the two cross-corpus directions (train on one corpus, test on the other; 7 classes, chance
0.14); the shipped configuration is the best **mean** of the two among those usable at inference. Per-speaker
z-scoring is an oracle: it needs each speaker's balanced set of emotions, and an upload holds one speaker in mostly
one emotion (normalising an upload by its own windows fell to chance in the RAVDESS-only study). The degraded copies
(speed 0.9-1.1, reverberation RT60 0.2-0.7 s, telephone band, white/pink noise at 5-20 dB SNR; `emotion.voice.augment`)
are added to the training corpus only, never to the test one: they cost category accuracy across corpora but raised
arousal from RAVDESS to TESS (balanced accuracy 0.76 -> 0.84), so they are a lead for a separate arousal model, not
shipped. eGeMAPS costs more CPU per window than ComParE (0.09 s against 0.07 s for 3 s), which matters for the
real-time factor. Also tried by hand (same protocol, mean of the two directions): ANOVA k=1200 0.276 and k=1500
0.269; a linear SVM (k=1000, C=0.01) 0.263; PCA 200 of all ComParE features 0.222; dropping the level functionals
(means, quartiles, percentiles) of every descriptor 0.239, of the spectral and MFCC descriptors only 0.276; dropping
the spectral and MFCC descriptors altogether 0.210 (but arousal 0.85). PCA 300 after the selection costs 0.02 and
cuts the saved model from 14 MB to 6.8 MB (its support vectors hold 300 values instead of 1,000): shipped."""

CARD_STUDY_SPEAKERS = """\
The model shipped before this study (SMOTE, sigmoid calibration, label = calibrated argmax) scored 0.578
speaker-independent on RAVDESS, under the 0.60 the project requires. Same protocols as the evaluation table: 6
folds over both corpora grouped by speaker (the RAVDESS column is its RAVDESS part), and train-on-one-corpus,
test-on-the-other. "Bare" rows are the SVC's own vote (what users now see); "calibrated" rows take the argmax of the
calibrated probabilities (what users saw before). Findings: the
sigmoid calibration costs about 0.02-0.03 of accuracy (its one-vs-rest sigmoids, fitted partly on TESS scores from
a model that never heard TESS, move the argmax); temperature scaling keeps the SVC's label but makes the
confidence useless (6% of RAVDESS windows clear 0.4, 95% of TESS windows), so it is not shipped. Dropping SMOTE for
class weights alone keeps RAVDESS and raises RAVDESS->TESS (bare 0.371 -> 0.419) at a cost on grouped TESS, with
fewer support vectors and a faster fit. Fewer PCA components
(150, 100) cost accuracy; no PCA helps a little but triples the model file. A logistic regression on the same
features scored lower than the SVM on every protocol (C=0.001/0.01/0.1: RAVDESS speaker-independent
0.560/0.578/0.571, cross-corpus mean 0.207/0.250/0.251), so a blend was not pursued. ComParE+eGeMAPS, bare, no
SMOTE: RAVDESS 0.617, cross-corpus mean 0.299, but eGeMAPS adds about 0.09 s of CPU per window, which breaks the
real-time factor budget. Per-speaker
normalisation at train time with per-file normalisation at inference is the oracle row of the first table: it needs
a speaker's balanced set of emotions, which an upload does not hold. C and gamma are not set from these rows: the
full-model rows choose them by their own grid over grouped inner folds (TESS as one group), never from these
figures. The full model (no SMOTE, grid, PCA 300) reached 0.594 speaker-independent on RAVDESS with the
calibrated argmax as its label; with PCA 250 it is 4.7 MB and loses on every figure. **Chosen** then (last
row): the same model (grid over C 3/10/30 on folds grouped by speaker, chose C=3), labelled by the SVC's own vote,
with the calibrated probability of that label as its confidence: 0.606 speaker-independent, cross-corpus mean 0.300.
It is saved under 5 MB without changing a prediction: float32 support vectors, and the scaling kept for the 1,000
selected features only (`emotion.voice.classifier.compact`). The shipped model is that configuration on trimmed clips
(see "Silence around the speech")."""

CARD_CHANGE = """\
The model this one replaced was the same pipeline on whole clips (silence included) with k=1000 (no SMOTE, C=3 by
the grid, label = the SVC's vote, 4.8 MB). Against it, same protocols and data: **better** TESS->RAVDESS 0.182 ->
0.284, cross-corpus mean 0.300 -> 0.340, grouped both corpora 0.515 -> 0.562, grouped TESS 0.422 -> 0.532, held-out
TESS speaker YAF 0.449 -> 0.600 (confident 0.532 -> 0.656 on 77% instead of 72%), arousal RAVDESS->TESS 0.846 ->
0.857, YAF arousal 0.863 -> 0.893, and the confidence now works across corpora: at 0.4 the confident cross-corpus
windows are right 0.36 of the time and the uncertain ones 0.13, where before the uncertain ones were right more
often (0.51 against 0.28). **Worse**: RAVDESS->TESS 0.419 -> 0.396, RAVDESS speaker-independent 0.606 -> **0.591,
under the project's 0.60 floor**, held-out actor 24 0.717 -> 0.683, arousal grouped 0.884 -> 0.869, RAVDESS arousal
0.870 -> 0.833, actor 24 arousal 0.944 -> 0.875. The grid chose C=10 (over 1, 3, 10). The same model with k=1000
read RAVDESS at 0.599 and across corpora 0.375 / 0.269 (mean 0.322), arousal RAVDESS->TESS 0.797. Tried by hand on
cut clips, bare pipelines with C=3 and k=1000: PCA 400 (RAVDESS 0.605, grouped TESS 0.516, across corpora 0.376 /
0.273) saves 5.1 MB even with its PCA axes in float16; the full model with 375 components (4.8 MB that way) read
RAVDESS 0.597, across corpora 0.371 / 0.271, arousal RAVDESS->TESS 0.772, and its float16 axes moved one clip's
calibrated probability by 0.16: not shipped. Also by hand at k=1000: C=10 (0.597; 0.378 / 0.272), z clipped to 5
(0.594; 0.375 / 0.255)."""

CARD_TRIM = """\
RAVDESS clips hold about 1.6 s of near-silence around 2.1 s of speech (3.7 s on average); TESS clips are cut tight
(2.05 s, 2.04 s after trimming), and so is continuous speech such as an interview. OpenSMILE's functionals average
over the whole signal, so the share of silence moves many of them. The model before this one was trained on whole
clips: tested on the same RAVDESS clips cut to their speech, its speaker-independent accuracy fell from 0.607 to
0.298 (second row), so on tightly cut or continuous speech it read another emotion; and TESS -> RAVDESS, where the
model learns from tight clips and is tested on padded ones, sat near chance. Cutting every training clip and every
analysed window the same way (`emotion.voice.vad.trim`, 0.15 s kept around the loud frames) makes the features
depend on the speech, not on the silence around it. Bare pipelines (no SMOTE, C=3, PCA 300; the SVC's own vote),
same folds as the evaluation. At k=1000 the cut trades RAVDESS -> TESS (0.411 -> 0.375) for TESS -> RAVDESS
(0.182 -> 0.272) and grouped TESS (0.431 -> 0.499). The second row's higher cross-corpus mean comes with RAVDESS
read at 0.298: not usable. Training on both versions of each clip scored a little higher than the cut alone, but it
doubles the training set, and with it the support vectors: built as a full model (the cut clips plus whole RAVDESS
clips) it saved 6.8 MB, over the repository's 5 MB limit. On cut clips fewer ANOVA features carry better across
corpora (k=400-600: cross-corpus mean 0.35-0.36) but cost RAVDESS speaker-independent accuracy (0.58); **k=700** is
the best cross-corpus mean (0.342) among the sizes that kept RAVDESS at 0.60 in this table, so it is shipped (the
full, calibrated model then read RAVDESS at 0.591: see the evaluation). This choice is made on the same cross-corpus
figures the card reports, as the issue asks, so those figures are somewhat optimistic for the chosen k. The study
tables further down were measured on whole clips, before this change."""

CARD_VAD = """\
A window counts as speech when energy finds at least 0.25 s of loud frames **and** its loud frames look like speech:
syllable-rate loudness modulation, a changing spectrum, mostly voiced frames (window-corrected autocorrelation), not
noise-flat, and not the breathy, metronome-regular bursts of a laugh (`emotion.voice.vad`). Measured on 3 s clips
built from speech (RAVDESS actors 23-24, TESS YAF; also with white noise at 10 dB SNR), synthetic music (melodies,
sung-like vibrato, chords, drums), the music in `no_face.mp4`, noises (white, pink, brown, mains hum; steady sounds
start after a pause, so energy alone cannot reject them) and synthetic laughter. The synthetic clips are drawn with
another seed than the one the thresholds were set on; the speech clips are the same in both, so the speech figures
are not independent of the tuning. Synthetic music and laughter are not real recordings: treat the rejection rates
as an upper bound. Drums pass: a kick drum is as weakly voiced (about half its loud frames) as harsh, creaky
emotional speech (a RAVDESS disgust clip: 0.44), and the voicing threshold was set to keep such speech."""

CARD_TRUST = """\
**Trust arousal more than the category.** Arousal (how activated the voice is) carries across corpora far better
than the emotion category (see the arousal column); valence from the voice is weak (it follows the category).
Read a category only where it is confident, and read a file's voice summary together with its uncertain share."""

CARD_LIMITS = """\
- Cross-corpus accuracy on 7 classes stays far below in-corpus accuracy (see the table); acted speech only (two
  studios, North American English); spontaneous speech, other languages, children and elderly voices other than one
  TESS speaker are out of domain.
- TESS is two speakers saying single words: the TESS -> RAVDESS direction trains on two voices only.
- Windows are classified independently (3 s, each cut to its speech); RAVDESS clips are ~3.7 s (2.1 s of speech),
  TESS clips ~2 s. Pauses inside a window are kept: a window of halting speech still reads differently from fluent
  speech of the same emotion.
- Speech detection is a hand-set rule: synthetic melodies, chords, noises and laughter are rejected, but drums,
  the music in `no_face.mp4`, real singing or real laughter can pass; very quiet or very noisy speech can be missed.
- Self-supervised speech models reach far higher accuracy; their weights are not available here."""

CARD_RETRAIN = """\
From the repository root: `.venv/bin/python -m training.train_audio` (features are cached in the cache folder,
`emotion.settings.cache_dir()`; TESS and RAVDESS extraction takes a few minutes each the first time). `--study`
re-scores the variants, `--vad` the speech detection, `--checks` the espeak-ng and media checks."""


STUDY_SECTIONS = [
    ("study_trim.json", "Silence around the speech", CARD_TRIM, SPEAKER_COLUMNS),
    (
        "study.json",
        "What was tried (cross-corpus, bare pipelines: no calibration)",
        CARD_STUDY,
        [
            ("variant", "variant"),
            ("r2t", "RAVDESS->TESS acc"),
            ("r2t_f1", "macro-F1"),
            ("t2r", "TESS->RAVDESS acc"),
            ("t2r_f1", "macro-F1"),
            ("mean", "mean acc"),
            ("r2t_classes", "classes predicted on TESS"),
        ],
    ),
    (
        "study_speakers.json",
        "What was tried for speaker-independent accuracy (grouped by speaker and cross-corpus)",
        CARD_STUDY_SPEAKERS,
        SPEAKER_COLUMNS,
    ),
    (
        "vad.json",
        "Speech detection (voice activity)",
        CARD_VAD,
        [
            ("kind", "clips (3 s each)"),
            ("n", "clips"),
            ("energy", "speech by energy alone"),
            ("shipped", "speech by energy + spectral cues"),
        ],
    ),
]
"""The card sections read from cached study results: (file in the results dir, title, text, table columns)."""


def vad_figures(seed: int = 1) -> list[dict[str, Any]]:
    """Measure speech detection on built 3 s clips (see the card); the thresholds were set on seed 0."""
    from emotion.voice.process import speech_frames, speech_windows
    from training.vad_clips import build

    out: dict[str, list[tuple[bool, bool]]] = {}
    for kind, x in build(seed):
        span = [(0.0, len(x) / 16000)]
        active = speech_frames(x)
        energy = bool(active.sum() * 0.01 >= max(0.25, 0.15 * span[0][1]))
        out.setdefault(kind, []).append((energy, speech_windows(x, span, active)[0]))
    rows = [
        {
            "kind": k,
            "n": len(v),
            "energy": round(float(np.mean([a for a, _ in v])), 2),
            "shipped": round(float(np.mean([b for _, b in v])), 2),
        }
        for k, v in out.items()
    ]
    (results_dir() / "vad.json").write_text(json.dumps(rows, indent=1))
    for r in rows:
        print(r)
    return rows


def main() -> None:
    """Parse arguments, evaluate, and ship the model and its card."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--study", action="store_true", help="score the variants of the model card")
    ap.add_argument("--study-speakers", action="store_true", help="score this round's speaker-independent variants")
    ap.add_argument("--study-trim", action="store_true", help="score whole against silence-trimmed clips")
    ap.add_argument("--vad", action="store_true", help="measure speech detection on built clips")
    ap.add_argument("--checks", action="store_true", help="run the shipped model on espeak-ng speech and the media")
    ap.add_argument("--no-ship", action="store_true", help="evaluate only; leave models/ alone")
    ap.add_argument("--no-eval", action="store_true", help="skip the evaluation (ship a retrained model only)")
    ap.add_argument("--card", action="store_true", help="only rewrite the card from the sidecar and cached results")
    ap.add_argument("--out", default=str(default_model_path()), help="model file to write")
    ap.add_argument("--extras", action="store_true", help="also train on the prepared extra corpora (LOCO study)")
    a = ap.parse_args()
    if a.study:
        study()
    if a.study_speakers:
        study_speakers()
    if a.study_trim:
        study_trim()
    if a.vad:
        vad_figures()
    if a.card:
        print(f"wrote {write_voice_card(Path(a.out))}")
        return
    threshold = Settings().voice_confidence
    d = both(extras=EXTRAS if a.extras else ())
    multi = sorted(set(d["corpus"].tolist()) - {"ravdess", "tess"})
    aug = both("aug") if AUGMENT else None
    print(f"features: {d['X'].shape} (cached in {cache_dir()}); extra corpora: {multi or 'none'}")
    if multi:  # the evaluation is the LOCO study's (training.voice_loco); the two-corpus one would not describe it
        ev, table, cm = {}, [], None
    else:
        if not a.no_eval:
            evaluate(d, aug)
        ev, table, cm = summarise(d, threshold)
    print(json.dumps(ev, indent=1), json.dumps(table, indent=1))
    if cm is not None and not a.no_ship:
        plot_confusion(
            cm,
            list(LABELS),
            Path(a.out).with_name("voice_svm_confusion.png"),
            f"RAVDESS+TESS, {CV_FOLDS}-fold grouped by speaker: acc {ev['grouped:all']['acc']:.3f}",
        )
    if a.no_ship:
        return
    held = held_out(d)
    t1 = time.perf_counter()
    model = VoiceEmotionClassifier(**{**FINAL, "n_jobs": 2}).fit(*with_aug(d, aug, ~held))
    fit_s = time.perf_counter() - t1
    for c in ("ravdess", "tess"):
        m = held & (d["corpus"] == c)
        ev[f"held:{c}"] = scores(
            d["y"][m],
            *labelled(model, d["X"][m]),
            model.predict_arousal(d["X"][m]),
            threshold,
        )
    counts = {c: int(((d["corpus"] == c) & ~held).sum()) for c in dict.fromkeys(d["corpus"].tolist())}
    meta = {
        "data": "; ".join(f"{c} ({corpora.LICENCES[c]})" for c in counts),
        "corpora": counts,
        "held_out_actors": [HELD_OUT_ACTOR],
        "held_out_tess": [HELD_OUT_TESS],
        "held_out_accuracy": ev["held:ravdess"]["acc"],
        "held_out_tess_accuracy": ev["held:tess"]["acc"],
        "cross_corpus_mean": ev.get("cross:mean"),
        "loco_mean": _loco_mean(),
        "voice_confidence": threshold,
        "config": {**FINAL, "augment": AUGMENT},
        "evaluation": ev,
        "threshold_table": table,
        "fit_seconds": round(fit_s, 1),
        "best_params": getattr(model, "best_params_", {}),
        "sklearn": __import__("sklearn").__version__,
        "opensmile": __import__("opensmile").__version__,
    }
    out = save_voice_model(model, a.out, meta)
    again = load_voice_model(out)  # float32 support vectors in the file, cast back on load: same predictions?
    meta["reload_check"] = {
        "n": f"{len(d['X']):,}",
        "labels_changed": int(np.sum(again.predict(d["X"]) != model.predict(d["X"]))),
        "max_proba_change": float(np.abs(again.predict_proba(d["X"]) - model.predict_proba(d["X"])).max()),
        "max_arousal_change": float(np.abs(again.predict_arousal(d["X"]) - model.predict_arousal(d["X"])).max()),
    }
    print("reload check:", meta["reload_check"])
    out = save_voice_model(model, a.out, meta)
    print(
        f"held out: {ev['held:ravdess']} / {ev['held:tess']}; fit {fit_s:.0f} s; wrote {out} "
        f"({out.stat().st_size / 1e6:.1f} MB)"
    )
    if a.checks:
        print(json.dumps(speech_checks(), indent=1, default=str))
    print(f"wrote {write_voice_card(out)}")


if __name__ == "__main__":
    main()
