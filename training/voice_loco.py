"""Leave-one-corpus-out (LOCO) study of the voice model over RAVDESS, TESS, nEMO, ASED and TurEV-DB.

Usage (from the repository root, after ``python -m training.voice_corpora`` prepared the extra corpora)::

    python -m training.voice_loco            # baseline, grid and normalisation candidates; writes the results
    python -m training.voice_loco --quick    # the baseline and the calibrated candidates only

For every corpus, the model is trained on the other four and tested on it. Scores are on the held-out corpus's own
classes: ``acc_own`` and ``f1`` take the SVC's decision restricted to the classes that corpus has; ``acc`` is the
unrestricted label (what a user sees, over all 7 classes). Arousal: balanced accuracy of P(high) >= 0.5 over clips
with an arousal class. Confident: calibrated confidence of the unrestricted label >= the threshold.

The results go to ``models/voice_loco.json`` and ``models/voice_loco.md`` (the model card includes the latter); every
figure there is written by this script.

Normalisation (:func:`normalise`): each recording's raw features are standardised by that recording's mean and
standard deviation, shrunk towards the training population's by the amount of speech (``w = n / (n + n0)``, ``n``
clips or windows). In training a "recording" is a speaker; at test time it is (a) nothing (a single clip: the
population statistics), (b) each speaker's clips laid together (every emotion), or (c) each speaker's clips of one
emotion (a recording that holds one emotion throughout: the case where normalising can remove the emotion).
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.base import clone
from sklearn.metrics import accuracy_score, balanced_accuracy_score, f1_score
from sklearn.pipeline import Pipeline
from sklearn.svm import SVC

from emotion.settings import models_dir
from emotion.storage.cards import markdown_table
from emotion.voice import corpora
from emotion.voice.classifier import AROUSAL, VoiceEmotionClassifier

ORDER = ("ravdess", "tess", "nemo", "ased", "turev")
"""The corpora, each held out in turn."""
BASE: dict[str, Any] = {
    "k": 700,
    "C": 10.0,
    "clip": 3.0,
    "feature_sets": ("compare",),
    "arousal": True,
    "components": 300,
    "label": "svc",
    "trim": True,
}
"""The shipped configuration (``training.train_audio.FINAL``) without its C grid (the grid chose C=10)."""
SHIPPED_ROW = "baseline: shipped pipeline"
"""The row of :func:`main`'s calibrated results that describes the configuration ``training/train_audio.py`` ships."""
NOTE = (
    "Clips: RAVDESS 1,440 and TESS 1,400 (the shared data), and at most 1,500 of each extra corpus (nEMO 1,496 of "
    "4,481, ASED 1,492 of 2,470 distinct, TurEV-DB 1,502 of 1,735), stratified by speaker and label with a fixed seed "
    "(`training/voice_corpora.py`). Labels through the one mapping table (`emotion.voice.corpora.LABEL_MAP`; calm -> "
    "neutral). 'own classes': the SVC's decision restricted to the classes the held-out corpus has; '7 classes': the "
    "label a user sees. Arousal: balanced accuracy of P(high) >= 0.5 (high = angry, happy, fearful, surprised; low = "
    "neutral, calm, sad). Confident: calibrated confidence of the 7-class label >= 0.4 (the `voice_confidence` "
    "default). With RAVDESS held out, the four training corpora are four calibration groups, fewer than the 5 folds, "
    "so that fit calibrates on stratified (speaker-mixed) folds: its confidence is in-corpus, not off-corpus. The grid "
    "rows are bare SVCs (their own vote; arousal from a second SVC on the same features), each held-out corpus "
    "once, so the chosen C is optimistic by the selection. 'per-speaker z': every training speaker's raw features "
    "standardised by that speaker's mean and deviation shrunk towards the training population's by n / (n + 10) "
    "clips; tested on single clips (population statistics), on each test speaker's clips together (every emotion), "
    "and on each test speaker's clips of one emotion (a recording that holds one emotion throughout)."
)
THRESHOLDS = (0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.7)


def load_all(sets: tuple[str, ...] = ("compare",)) -> dict[str, np.ndarray]:
    """Every available corpus in one table.

    Returns:
        ``X``, ``y`` (the 7 classes via the mapping table), ``group`` (speaker), ``corpus`` and ``files``. Extra
        corpora that were never prepared here are left out.
    """
    parts = []
    for name in ORDER:
        if name in ("ravdess", "tess"):
            d: dict[str, np.ndarray] | None = corpora.load_features(None, "trim", corpus=name)
        else:
            d = corpora.load_extra(name)
        if d is None:
            print(f"{name}: not prepared, left out")
            continue
        parts.append((name, d))
    return {
        "X": np.vstack([corpora.columns(d, sets) for _, d in parts]),
        "y": np.concatenate([corpora.mapped(n, d["y"]) for n, d in parts]),
        "group": np.concatenate([d["actor"].astype(np.int64) for _, d in parts]),
        "corpus": np.concatenate([np.array([n] * len(d["y"])) for n, d in parts]),
        "files": np.concatenate([d["files"] for _, d in parts]),
    }


def normalise(
    X: np.ndarray, recording: np.ndarray | None, mu: np.ndarray, sd: np.ndarray, n0: float, scale: bool = True
) -> np.ndarray:
    """Standardise rows by their recording's statistics shrunk towards the population's ``mu``/``sd``.

    Args:
        X: Raw features.
        recording: Each row's recording id; None: every row alone (population statistics only).
        mu: Population mean per feature.
        sd: Population standard deviation per feature.
        n0: Rows at which a recording's own statistics weigh as much as the population's.
        scale: Also divide by the (shrunk) standard deviation; False subtracts the shrunk mean only.

    Returns:
        ``(X - m) / s`` with ``m = w * mean_rec + (1 - w) * mu``, ``s`` likewise from the variances and
        ``w = n / (n + n0)``.
    """
    X = np.asarray(X, dtype=np.float64)
    out = (X - mu) / sd if scale else X - mu
    if recording is None:
        return out.astype(np.float32)
    for r in np.unique(recording):
        m = recording == r
        n = int(m.sum())
        w = n / (n + n0)
        mean = w * X[m].mean(axis=0) + (1 - w) * mu
        if scale:
            var = w * X[m].var(axis=0) + (1 - w) * sd**2
            out[m] = (X[m] - mean) / np.sqrt(np.maximum(var, 1e-12))
        else:
            out[m] = X[m] - mean
    return out.astype(np.float32)


def population(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation per feature (constant features get 1)."""
    mu = X.mean(axis=0, dtype=np.float64)
    sd = X.std(axis=0, dtype=np.float64)
    return mu, np.where(sd > 1e-9, sd, 1.0)


def arousal_bacc(y: np.ndarray, p_high: np.ndarray) -> float:
    """Balanced accuracy of P(high) >= 0.5 over the rows with an arousal class."""
    level = np.array([AROUSAL.get(str(v), "") for v in y])
    m = level != ""
    return float(balanced_accuracy_score(level[m], np.where(p_high[m] >= 0.5, "high", "low")))


def restricted(classes: np.ndarray, scores: np.ndarray, allowed: list[str]) -> np.ndarray:
    """The argmax of ``scores`` (columns in ``classes`` order) over the ``allowed`` classes only."""
    cols = [i for i, c in enumerate(classes) if c in allowed]
    return np.asarray(classes)[np.array(cols)[np.argmax(np.asarray(scores)[:, cols], axis=1)]]


def score(
    y: np.ndarray,
    pred: np.ndarray,
    own: np.ndarray,
    p_high: np.ndarray | None,
    conf: np.ndarray | None = None,
    threshold: float = 0.4,
) -> dict[str, Any]:
    """One held-out corpus's figures (see the module docstring)."""
    labels = sorted(set(y.tolist()))
    out: dict[str, Any] = {
        "n": int(len(y)),
        "classes": len(labels),
        "acc_own": round(float(accuracy_score(y, own)), 3),
        "f1": round(float(f1_score(y, own, labels=labels, average="macro")), 3),
        "acc": round(float(accuracy_score(y, pred)), 3),
    }
    if p_high is not None:
        out["arousal_bacc"] = round(arousal_bacc(y, p_high), 3)
    if conf is not None:
        sure = conf >= threshold
        out["confident_share"] = round(float(sure.mean()), 3)
        out["acc_confident"] = round(float((pred[sure] == y[sure]).mean()), 3) if sure.any() else None
    return out


def mean_row(rows: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The mean of each figure over the held-out corpora."""
    keys = [k for k in ("acc_own", "f1", "acc", "arousal_bacc") if all(k in r for r in rows.values())]
    return {k: round(float(np.mean([r[k] for r in rows.values()])), 3) for k in keys}


# ----------------------------------------------------------------------------------------------------------------
# Fast grid: the shipped pipeline's preprocessing fitted once per held-out corpus, SVCs over C and gamma


def balance(d: dict[str, np.ndarray], rows: np.ndarray, cap: int, seed: int = 0) -> np.ndarray:
    """At most ``cap`` of ``rows`` per corpus, stratified by label (per-corpus balancing); all when ``cap`` is 0."""
    if not cap:
        return rows
    rng = np.random.default_rng(seed)
    keep = []
    for c in np.unique(d["corpus"][rows]):
        mine = rows[d["corpus"][rows] == c]
        if len(mine) <= cap:
            keep.append(mine)
            continue
        for label in np.unique(d["y"][mine]):
            cell = mine[d["y"][mine] == label]
            n = max(1, round(len(cell) * cap / len(mine)))
            keep.append(np.sort(rng.choice(cell, size=min(n, len(cell)), replace=False)))
    return np.sort(np.concatenate(keep))


def _prefix(n_features: int, **kw: Any) -> Pipeline:
    steps = VoiceEmotionClassifier(**{**BASE, **kw})._steps(n_features)
    return Pipeline(steps)


def _norm_split(
    d: dict[str, np.ndarray], tr: np.ndarray, te: np.ndarray, norm: dict[str, Any] | None, test_mode: str
) -> tuple[np.ndarray, np.ndarray]:
    """Training and test rows, normalised as ``norm`` says (None: raw features, the shipped model)."""
    if norm is None:
        return d["X"][tr], d["X"][te]
    mu, sd = population(d["X"][tr])
    Xtr = normalise(d["X"][tr], d["group"][tr], mu, sd, norm["n0"], norm["scale"])
    rec = test_recordings(d, te, test_mode)
    return Xtr, normalise(d["X"][te], rec, mu, sd, norm["n0"], norm["scale"])


def test_recordings(d: dict[str, np.ndarray], te: np.ndarray, mode: str) -> np.ndarray | None:
    """The test rows' recordings: None (single clips), "speaker" (all of a speaker's clips) or "speaker+emotion"."""
    if mode == "clip":
        return None
    if mode == "speaker":
        return d["group"][te]
    return np.char.add(d["group"][te].astype(str), np.char.add("|", d["y"][te].astype(str)))


def grid(
    d: dict[str, np.ndarray],
    Cs: tuple[float, ...],
    gammas: tuple[float, ...],
    norm: dict[str, Any] | None = None,
    modes: tuple[str, ...] = ("clip",),
    cap: int = 0,
    **kw: Any,
) -> list[dict[str, Any]]:
    """LOCO figures of bare SVCs (their own vote) over C and gamma (as a multiple of "scale"), per test mode.

    ``cap``: at most this many training clips per corpus (:func:`balance`); ``kw``: changes to :data:`BASE`'s
    preprocessing (e.g. ``components=0`` for eGeMAPS's 88 features).
    """
    rows: dict[tuple[float, float, str], dict[str, dict[str, Any]]] = {}
    present = [c for c in ORDER if (d["corpus"] == c).any()]
    for held in present:
        t0 = time.perf_counter()
        tr, te = balance(d, np.flatnonzero(d["corpus"] != held), cap), np.flatnonzero(d["corpus"] == held)
        level = np.array([AROUSAL.get(str(v), "") for v in d["y"][tr]])
        for mode in modes:
            Xtr, Xte = _norm_split(d, tr, te, norm, mode)
            pre = _prefix(Xtr.shape[1], **kw).fit(Xtr, d["y"][tr])
            Ztr, Zte = pre.transform(Xtr), pre.transform(Xte)
            scale_gamma = 1.0 / (Ztr.shape[1] * Ztr.var())
            allowed = sorted(set(d["y"][te].tolist()))
            for C in Cs:
                for g in gammas:
                    svc = SVC(C=C, gamma=g * scale_gamma, class_weight="balanced").fit(Ztr, d["y"][tr])
                    dec = svc.decision_function(Zte)
                    pred = svc.classes_[np.argmax(dec, axis=1)]
                    own = restricted(svc.classes_, dec, allowed)
                    ar = SVC(C=C, gamma=g * scale_gamma, class_weight="balanced").fit(
                        Ztr[level != ""], level[level != ""]
                    )
                    p_high = (ar.decision_function(Zte) > 0).astype(float)
                    if ar.classes_[1] != "high":
                        p_high = 1 - p_high
                    rows.setdefault((C, g, mode), {})[held] = score(d["y"][te], pred, own, p_high)
        print(f"  grid: held out {held} in {time.perf_counter() - t0:.0f} s", flush=True)
    out = []
    for (C, g, mode), per in rows.items():
        out.append({"C": C, "gamma_x_scale": g, "test": mode, "cap": cap, "mean": mean_row(per), "per_corpus": per})
    return out


# ----------------------------------------------------------------------------------------------------------------
# Calibrated: the whole estimator (label, calibrated confidence, arousal model), as it would ship


def loco_calibrated(
    d: dict[str, np.ndarray],
    make: Callable[[], VoiceEmotionClassifier],
    inner: str = "shipped",
    norm: dict[str, Any] | None = None,
    modes: tuple[str, ...] = ("clip",),
    cap: int = 0,
) -> dict[str, Any]:
    """LOCO predictions of a calibrated model, kept raw (labels, restricted labels, confidences, P(high)).

    Args:
        d: The table of :func:`load_all`.
        make: Factory of the estimator.
        inner: Groups of the estimator's inner folds (grid and calibration): "shipped"
            (:func:`emotion.voice.corpora.calibration_groups`: RAVDESS actors, TESS as one, other corpora by
            speaker) or "corpus" (each training corpus one group, so calibration scores come from unheard corpora).
        norm: Normalisation (see :func:`normalise`): ``{"n0": ..., "scale": ...}``, or None.
        modes: Test modes for a normalised model (see :func:`test_recordings`).
        cap: At most this many training clips per corpus (:func:`balance`).

    Returns:
        ``{mode: {corpus: {"y", "pred", "own", "conf", "p_high"}}}``.
    """
    out: dict[str, Any] = {m: {} for m in modes}
    for held in [c for c in ORDER if (d["corpus"] == c).any()]:
        t0 = time.perf_counter()
        tr, te = balance(d, np.flatnonzero(d["corpus"] != held), cap), np.flatnonzero(d["corpus"] == held)
        if inner == "corpus":
            names = sorted(set(d["corpus"][tr].tolist()))
            groups = np.array([names.index(c) for c in d["corpus"][tr]])
        else:
            groups = corpora.calibration_groups(d["group"][tr])
        for mode in modes:
            Xtr, Xte = _norm_split(d, tr, te, norm, mode)
            model = clone(make())
            if inner == "corpus":
                model.set_params(cv=len(set(groups.tolist())))
            model.fit(Xtr, d["y"][tr], groups=groups)
            pred, proba = model.label_and_proba(Xte)
            fitted = model.model_.calibrated_classifiers_[0].estimator
            allowed = sorted(set(d["y"][te].tolist()))
            own = restricted(model.classes_, fitted.decision_function(Xte), allowed)
            out[mode][held] = {
                "y": d["y"][te],
                "pred": pred,
                "own": own,
                "conf": model.confidence(pred, proba),
                "p_high": model.predict_arousal(Xte),
            }
        print(f"  calibrated: held out {held} in {time.perf_counter() - t0:.0f} s", flush=True)
    return out


def summary(raw: dict[str, dict[str, np.ndarray]], threshold: float) -> dict[str, Any]:
    """Per held-out corpus figures of :func:`loco_calibrated`'s predictions (one test mode), with their mean."""
    per = {c: score(r["y"], r["pred"], r["own"], r["p_high"], r["conf"], threshold) for c, r in raw.items()}
    return {"per_corpus": per, "mean": mean_row(per)}


def threshold_table(raw: dict[str, dict[str, np.ndarray]]) -> list[dict[str, Any]]:
    """For each candidate threshold, per corpus: share confident, accuracy of confident windows minus all windows."""
    rows = []
    for t in THRESHOLDS:
        row: dict[str, Any] = {"threshold": t}
        for c, r in raw.items():
            sure = r["conf"] >= t
            right = r["pred"] == r["y"]
            row[c] = {
                "share": round(float(sure.mean()), 3),
                "gain": round(float(right[sure].mean() - right.mean()), 3) if sure.any() else None,
            }
        row["beats_all_everywhere"] = all(v["gain"] is not None and v["gain"] > 0 for k, v in row.items()
                                          if isinstance(v, dict))  # fmt: skip
        rows.append(row)
    return rows


def curves(raw: dict[str, dict[str, np.ndarray]]) -> dict[str, list[tuple[float, float]]]:
    """Accuracy-coverage curve per corpus: (share of windows kept, their accuracy), most confident first."""
    out = {}
    for c, r in raw.items():
        order = np.argsort(-r["conf"], kind="stable")
        right = (r["pred"] == r["y"])[order]
        pts = []
        for share in (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0):
            k = max(1, int(round(share * len(right))))
            pts.append((share, round(float(right[:k].mean()), 3)))
        out[c] = pts
    return out


# ----------------------------------------------------------------------------------------------------------------
# Output


def results_paths() -> tuple[Path, Path]:
    """``models/voice_loco.json`` and ``models/voice_loco.md``."""
    return models_dir() / "voice_loco.json", models_dir() / "voice_loco.md"


def markdown(results: dict[str, Any]) -> str:
    """The study's tables in Markdown (from the JSON results only)."""
    lines = [
        "# Voice model: leave-one-corpus-out (LOCO) study",
        "",
        "Written by `python -m training.voice_loco` from its own results (`voice_loco.json`); never edited by hand.",
        "",
        results.get("note", ""),
        "",
    ]
    cols = ["acc_own", "f1", "acc", "arousal_bacc", "confident_share", "acc_confident"]
    for name, res in results.get("calibrated", {}).items():
        lines += [f"## {name}", "", res.get("what", ""), ""]
        rows = [[c, r["n"], r["classes"], *[r.get(k, "") for k in cols]] for c, r in res["per_corpus"].items()]
        m = res["mean"]
        rows.append(["**mean**", "", "", *[m.get(k, "") for k in cols]])
        lines.append(markdown_table(["held out", "clips", "classes", "acc (own classes)", "macro-F1 (own)",
                                     "acc (7 classes)", "arousal bal. acc", "confident share",
                                     "acc of confident"], rows))  # fmt: skip
        lines.append("")
    if results.get("grid"):
        lines += ["## Grid (bare SVC vote, LOCO mean)", ""]
        rows = []
        for r in results["grid"]:
            m = r["mean"]
            each = " / ".join(f"{v['acc_own']:.2f}" for v in r["per_corpus"].values())
            rows.append([r["name"], r.get("cap") or "all", r["C"], r["gamma_x_scale"], r["test"], m["acc_own"],
                         m["f1"], m["acc"], m.get("arousal_bacc", ""), each])  # fmt: skip
        names = " / ".join(results["grid"][0]["per_corpus"]) if results["grid"] else ""
        head = ["features", "clips per corpus", "C", "gamma (x scale)", "test", "acc (own)", "macro-F1", "acc (7)",
                "arousal bal. acc", f"acc (own) per held-out corpus: {names}"]  # fmt: skip
        lines.append(markdown_table(head, rows))
        lines.append("")
    for name, table in results.get("thresholds", {}).items():
        lines += [f"## Confident minus all windows, by threshold: {name}", ""]
        corp = [c for c in table[0] if isinstance(table[0][c], dict)]
        rows = []
        for r in table:
            cells = [f"{r[c]['gain']:+.3f} ({r[c]['share']:.2f})" if r[c]["gain"] is not None else "-" for c in corp]
            rows.append([r["threshold"], *cells, "yes" if r["beats_all_everywhere"] else "no"])
        lines.append(markdown_table(["threshold", *[f"{c}: gain (share)" for c in corp], "beats all everywhere"], rows))
        lines.append("")
    return "\n".join(lines) + "\n"


def write(results: dict[str, Any]) -> None:
    """Write the JSON and Markdown results (merged into what is already there)."""
    js, md = results_paths()
    old = json.loads(js.read_text()) if js.exists() else {}
    for key, value in results.items():
        if isinstance(value, dict) and isinstance(old.get(key), dict):
            old[key].update(value)
        else:
            old[key] = value
    js.write_text(json.dumps(old, indent=1) + "\n")
    md.write_text(markdown(old))


def main(argv: list[str] | None = None) -> None:
    """Run the study steps named on the command line and write their results."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", default="baseline", help="comma-separated: baseline, grid, normgrid, candidate")
    ap.add_argument("--threshold", type=float, default=0.4)
    ap.add_argument("--cap", type=int, default=0, help="the candidate's training clips per corpus (0: all)")
    ap.add_argument("--inner", default="corpus", help="the candidate's inner folds: corpus or shipped")
    ap.add_argument("--C", type=float, default=10.0, help="the candidate's C")
    ap.add_argument("--gamma", type=float, default=1.0, help="the candidate's gamma, as a multiple of 'scale'")
    args = ap.parse_args(argv)
    d = load_all()
    counts = {c: int((d["corpus"] == c).sum()) for c in ORDER}
    print("clips:", counts, flush=True)
    results: dict[str, Any] = {"clips": counts, "note": NOTE}
    steps = args.steps.split(",")
    if "baseline" in steps:
        raw = loco_calibrated(d, lambda: VoiceEmotionClassifier(**BASE, n_jobs=2))["clip"]
        results["calibrated"] = {"baseline: shipped pipeline": {
            "what": "Today's shipped configuration (ComParE, ANOVA 700, PCA 300, SVC C=10, class weights, sigmoid "
                    "calibration over RAVDESS actors and every other corpus as one group), trained on the other four "
                    "corpora; single clips, no normalisation.",
            **summary(raw, args.threshold)}}  # fmt: skip
        results["thresholds"] = {"baseline": threshold_table(raw)}
        results["curves"] = {"baseline": curves(raw)}
    if "shipped" in steps:
        from emotion.voice.persistence import load_voice_model

        model = load_voice_model()
        per = {}
        for c in [c for c in ORDER if c not in ("ravdess", "tess") and (d["corpus"] == c).any()]:
            m = d["corpus"] == c
            pred, proba = model.label_and_proba(d["X"][m])
            fitted = model.model_.calibrated_classifiers_[0].estimator
            own = restricted(model.classes_, fitted.decision_function(d["X"][m]), sorted(set(d["y"][m].tolist())))
            conf = model.confidence(pred, proba)
            per[c] = score(d["y"][m], pred, own, model.predict_arousal(d["X"][m]), conf, args.threshold)
        results["calibrated"] = {**results.get("calibrated", {}), "shipped model file, as is": {
            "what": "models/voice_svm.skops as shipped before this study (trained on RAVDESS + TESS only), on the "
                    "corpora it never heard.", "per_corpus": per, "mean": mean_row(per)}}  # fmt: skip
    if "candidate" in steps:
        make = lambda: VoiceEmotionClassifier(**{**BASE, "C": args.C}, n_jobs=2)  # noqa: E731
        if args.gamma != 1.0:
            raise SystemExit("a calibrated candidate takes gamma 'scale' only (the estimator's gamma is absolute)")
        raw = loco_calibrated(d, make, inner=args.inner, cap=args.cap)["clip"]
        name = f"candidate: C={args.C:g}, {args.cap or 'all'} clips per corpus, inner folds {args.inner}"
        results["calibrated"] = {**results.get("calibrated", {}), name: {
            "what": f"The shipped pipeline with C={args.C:g}, at most {args.cap or 'all'} training clips per corpus; "
                    + ("its inner folds (calibration) are the training corpora (each fold's calibration scores come "
                       "from a corpus the fold never heard)." if args.inner == "corpus" else "inner folds as shipped."),
            **summary(raw, args.threshold)}}  # fmt: skip
        results["thresholds"] = {**results.get("thresholds", {}), name: threshold_table(raw)}
        results["curves"] = {**results.get("curves", {}), name: curves(raw)}
    if "candidate-z" in steps:
        make = lambda: VoiceEmotionClassifier(**BASE, n_jobs=2)  # noqa: E731
        raw = loco_calibrated(d, make, inner="corpus", norm={"n0": 10.0, "scale": True})["clip"]
        name = "candidate: per-speaker z in training, single clips, calibrated on unheard corpora"
        results["calibrated"] = {**results.get("calibrated", {}), name: {
            "what": "The shipped pipeline (C=10) on features standardised per training speaker (shrunk towards the "
                    "training population by n / (n + 10) clips); each test clip standardised by the population "
                    "statistics only (no per-recording normalisation at test time). Inner folds (calibration): the "
                    "training corpora, so every calibration score comes from a corpus its fold never heard.",
            **summary(raw, args.threshold)}}  # fmt: skip
        results["thresholds"] = {**results.get("thresholds", {}), name: threshold_table(raw)}
        results["curves"] = {**results.get("curves", {}), name: curves(raw)}
    if "grid" in steps:
        rows = grid(d, (3.0, 10.0, 30.0), (1.0,))
        rows += grid(d, (10.0,), (1.0,), cap=700)
        results["grid"] = [{"name": "ComParE, no normalisation", **r} for r in rows]
        e = load_all(("egemaps",))
        results["grid"] += [{"name": "eGeMAPS (88), no selection or PCA", **r}
                            for r in grid(e, (1.0, 3.0, 10.0), (1.0,), components=0)]  # fmt: skip
    if "normgrid" in steps:
        rows = []
        for r in grid(d, (10.0,), (1.0,), {"n0": 10.0, "scale": True}, ("clip", "speaker", "speaker+emotion")):
            rows.append({"name": "per-speaker z n0=10", **r})
        e = load_all(("egemaps",))
        modes = ("clip", "speaker", "speaker+emotion")
        for r in grid(e, (1.0,), (1.0,), {"n0": 10.0, "scale": True}, modes, components=0):
            rows.append({"name": "eGeMAPS, per-speaker z n0=10", **r})
        old = json.loads(results_paths()[0].read_text()).get("grid", []) if results_paths()[0].exists() else []
        results["grid"] = [r for r in old if not r["name"].startswith("per-speaker")] + rows
    write(results)
    print(json.dumps({k: v for k, v in results.items() if k != "curves"}, indent=1)[:6000])


if __name__ == "__main__":
    main()
