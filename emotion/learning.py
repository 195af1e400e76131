"""Learning from analysts: collect what was analysed, retrain in the background, promote only what is better.

- :class:`Collector` gathers the faces (crop + the base model's probabilities) and voice segments (WAV + the
  OpenSMILE features the model read) of one analysis, for the :class:`~emotion.store.LearningStore`.
- :func:`retrain` fits a new voice model (RAVDESS base + corrections + collected predictions) or face adapter
  (corrections + collected predictions), scores it and the serving model on a fixed held-out set, and adds it
  as a version (:mod:`emotion.versions`) that becomes active only if it is not worse.
- :func:`start` runs :func:`retrain` in a separate process (``python -m emotion retrain``) so it never blocks a
  page; :func:`status` reads its progress file. A lock held by that process means a killed retrain is simply
  over: the registry is written last, so the old model keeps serving and nothing in the store is touched.
"""

from __future__ import annotations

import fcntl
import io
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from emotion.labels import FACE_LABELS
from emotion.record import Segment
from emotion.store import Item, LearningStore, data_dir
from emotion.versions import Registry, atomic_write

ROOT = Path(__file__).resolve().parents[1]
MODALITIES = ("voice", "face")
HUMAN_REPEATS, AUTO_REPEATS = 2, 1
"""Voice training weights, as repeats (SMOTE cannot carry sample weights): a correction counts twice, a collected
prediction once, like one RAVDESS clip."""
FACE_HUMAN_WEIGHT, FACE_AUTO_WEIGHT = 1.0, 0.3
MIN_FACE_LABELS = 5
"""Human face labels needed (outside the held-out share) before a face adapter is fitted."""
CROP_SIDE = 112

Report = Callable[[str, float], None]


class RetrainError(RuntimeError):
    """A retrain cannot run (no data, already running, base features missing); the message says why."""


# ----------------------------------------------------------------------------------------------------------------
# Collection during analysis


class Collector:
    """Gathers the faces and voice segments of one analysis as store items (thread-safe).

    Args:
        file: The analysed file's display name.
        base_face: The shipped face model, whose probabilities are the adapter's features; when the serving
            model is adapted, the crops are scored by it again.
        limit: Most items kept per modality from one file (the first ones), so a long video cannot flood the store.
    """

    def __init__(self, file: str, base_face: Any = None, limit: int = 500) -> None:
        self.file, self.base_face, self.limit = file, base_face, limit
        self.items: list[Item] = []
        self.skipped = {"face": 0, "voice": 0}
        self._lock = threading.Lock()

    def _room(self, modality: str) -> bool:
        """Whether another item of ``modality`` may be kept (at most ``limit`` per file and modality)."""
        with self._lock:
            if sum(it.modality == modality for it in self.items) < self.limit:
                return True
            self.skipped[modality] += 1
            return False

    def face(self, image: np.ndarray, box: list[int], crop: np.ndarray, probs: np.ndarray, t: float, face_id: int):
        """Keep one face: a small JPEG of it and the base model's probabilities of its crop."""
        if not self._room("face"):
            return
        x, y, w, h = box
        pad = int(0.2 * max(w, h))
        region = image[max(0, y - pad) : y + h + pad, max(0, x - pad) : x + w + pad]
        scale = CROP_SIDE / max(region.shape[:2])
        if scale < 1:
            region = cv2.resize(region, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        ok, jpeg = cv2.imencode(".jpg", region, [cv2.IMWRITE_JPEG_QUALITY, 85])
        base = self.base_face.predict_proba([crop])[0] if self.base_face is not None else probs
        scores = {label: float(p) for label, p in zip(FACE_LABELS, probs)}
        item = Item("", "face", max(scores, key=scores.get), scores, np.asarray(base, np.float32),
                    jpeg.tobytes() if ok else None, t, t, face_id, self.file)
        with self._lock:
            self.items.append(item)

    def voice(self, samples: np.ndarray, segment: Segment, features: np.ndarray) -> None:
        """Keep one voice segment: a 16 kHz WAV of it and its features."""
        import soundfile as sf

        if not self._room("voice"):
            return
        buf = io.BytesIO()
        sf.write(buf, np.clip(samples, -1, 1), 16000, format="WAV", subtype="PCM_16")
        item = Item("", "voice", segment.emotion or "", dict(segment.scores), features, buf.getvalue(),
                    segment.start, segment.end, None, self.file)
        with self._lock:
            self.items.append(item)

    def save(self, store: LearningStore, source: str) -> int:
        """Add the gathered items to the store under ``source`` (e.g. ``history:12``). Returns how many."""
        with self._lock:
            items, self.items = self.items, []
        for item in items:
            item.source = source
        return len(store.add(items)) if items else 0


def keep(collector: Collector, history_id: int | None, settings: Any) -> tuple[int, list[str]]:
    """Store what one analysis gathered, under its history entry, and start any retrain that is due.

    Args:
        collector: The analysis's collector.
        history_id: Its history entry (deleting that entry deletes these items); None if it was not saved.
        settings: ``collect_threshold`` and ``retrain_after`` are used.

    Returns:
        How many items were stored, and the modalities whose retrain started.
    """
    import uuid

    store = LearningStore(auto_threshold=settings.collect_threshold)
    source = f"history:{history_id}" if history_id is not None else f"upload:{uuid.uuid4().hex}"
    return collector.save(store, source), maybe_start(store, settings.retrain_after)


# ----------------------------------------------------------------------------------------------------------------
# Retraining


def _accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float | None:
    return round(float(np.mean(np.asarray(y_true) == np.asarray(y_pred))), 4) if len(y_true) else None


def gate_score(parts: dict[str, float | None]) -> float | None:
    """The number a candidate must not lower: the mean of the held-out accuracies that exist."""
    values = [v for v in parts.values() if v is not None]
    return round(float(np.mean(values)), 4) if values else None


def _voice_params() -> dict[str, Any]:
    """The shipped model's configuration, with its searched C and gamma fixed (a retrain skips the grid)."""
    from emotion.voice_model import load_voice_model

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
    from emotion import ravdess
    from emotion.voice_model import VoiceEmotionClassifier, dump_voice_model, load_active_voice_model

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
    current, _ = load_active_voice_model()

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
    from emotion.face_model import get_face_model

    path = Path(os.environ.get("EMOTION_FER2013") or ROOT.parent / "shared" / "data" / "fer2013" / "train.npz")
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


def _face_label(name: str) -> str:
    return {"surprised": "surprise", "fearful": "fear"}.get(name, name)


def retrain_face(store: LearningStore, registry: Registry | None = None, report: Report | None = None) -> dict:
    """Fit a face adapter on the store's face labels; gate it against the serving adapter; add a version.

    Raises:
        RetrainError: Fewer than :data:`MIN_FACE_LABELS` human face labels outside the held-out share.
    """
    from emotion.adapter import FaceAdapter, log_probs

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
    atomic_write(registry.folder / f"{version}.md", lambda tmp: tmp.write_text(card))
    return {"version": version, "promoted": promote, "metrics": metrics, "data": info,
            "message": f"{registry.folder.name} model {version}: score {cand} vs {cur} for the current one; {verdict}"}


def _card(modality: str, version: str, metrics: dict, info: dict, verdict: str) -> str:
    """A short model card for a learned version: what it is, the data it saw, its held-out scores, its limits."""
    what = {
        "voice": "RBF SVM on OpenSMILE ComParE features (the shipped configuration, C and gamma fixed), trained on "
        "RAVDESS actors 1-23 plus the learning store's labels (human labels twice, collected ones once).",
        "face": "7x7 adapter softmax(W log p + b) over the shipped face model's probabilities, pulled towards the "
        "identity, trained on the learning store's face labels (human weight 1, collected 0.3).",
    }[modality]
    rows = "\n".join(
        f"| {part} | {metrics['candidate'][part]} | {metrics['current'][part]} |" for part in metrics["candidate"]
    )
    data = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in info.items())
    held = "60 clips of one RAVDESS actor" if modality == "voice" else "700 FER2013 reference faces"
    return (
        f"# {modality} model {version}\n\n{what}\n\n**Data:** {data}.\n\n"
        f"**Held-out accuracy** (never trained on), against the model serving then ({metrics['current_version']}):\n\n"
        f"| part | this version | serving |\n|---|---|---|\n{rows}\n| **score (mean)** | {metrics['score']} | "
        f"{metrics['current_score']} |\n\n**Decision:** {verdict}.\n\n"
        f"**Limits:** the held-out parts are small ({held} and a fifth of the corrections), so a difference of a few "
        "hundredths is noise; corrections from one speaker or one camera adapt the model to them; "
        "collected labels are the model's own confident guesses and can reinforce its mistakes.\n"
    )


# ----------------------------------------------------------------------------------------------------------------
# Background jobs


def _jobs() -> Path:
    path = data_dir() / "retrain"
    path.mkdir(parents=True, exist_ok=True)
    return path


@contextmanager
def _lock(modality: str) -> Iterator[None]:
    """Hold the modality's retrain lock; released by the OS even if the process is killed."""
    with open(_jobs() / f"{modality}.lock", "w") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RetrainError(f"a {modality} retrain is already running") from None
        yield


def running(modality: str) -> bool:
    """Whether a retrain of ``modality`` holds its lock now."""
    try:
        with _lock(modality):
            return False
    except RetrainError:
        return True


def _write_status(modality: str, **fields: Any) -> None:
    text = json.dumps({"modality": modality, "updated": time.time(), **fields})
    atomic_write(_jobs() / f"{modality}.json", lambda tmp: tmp.write_text(text))


def _just_started(info: dict) -> bool:
    """A job is given 15 s to start and take its lock before a missing lock means it died."""
    return time.time() - float(info.get("updated", 0)) < 15


def status(modality: str) -> dict:
    """The last retrain's progress.

    Returns:
        ``state`` (idle, running, done, failed, interrupted), ``stage``, ``fraction``, ``message`` and, when done,
        ``result``.
    """
    try:
        info = json.loads((_jobs() / f"{modality}.json").read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        info = {"state": "idle"}
    if info.get("state") == "running" and not _just_started(info) and not running(modality):
        info.update(state="interrupted", message="the retrain stopped before it finished; the old model is serving")
    return info


def retrain(modality: str, store: LearningStore | None = None) -> dict:
    """Retrain one modality in this process, holding its lock and writing its progress file.

    Raises:
        RetrainError: Another retrain of it is running, or it has nothing to learn from.
    """
    store = store or LearningStore()
    fit = {"voice": retrain_voice, "face": retrain_face}[modality]
    with _lock(modality):
        started = time.time()

        def report(stage: str, fraction: float) -> None:
            _write_status(modality, state="running", stage=stage, fraction=fraction, started=started, pid=os.getpid())

        report("starting", 0.0)
        try:
            result = fit(store, report=report)
        except Exception as exc:
            _write_status(modality, state="failed", message=str(exc), started=started, finished=time.time())
            raise
        result["seconds"] = round(time.time() - started, 1)
        _write_status(modality, state="done", fraction=1.0, message=result["message"], result=result,
                      started=started, finished=time.time())
        return result


def start(modality: str) -> bool:
    """Start a retrain of ``modality`` in a separate process. Returns False if one is already running."""
    info = status(modality)
    if running(modality) or (info.get("state") == "running" and _just_started(info)):
        return False
    _write_status(modality, state="running", stage="starting", fraction=0.0, started=time.time())
    log = open(_jobs() / f"{modality}.log", "w")  # noqa: SIM115 - the child owns it
    subprocess.Popen(
        [sys.executable, "-m", "emotion", "retrain", "--modality", modality],
        cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
    )
    log.close()
    return True


def stop(modality: str) -> bool:
    """Stop a running retrain of ``modality`` (its model is not saved). Returns whether one was running."""
    import signal

    pid = status(modality).get("pid")
    if not running(modality) or not pid:
        return False
    try:
        os.kill(int(pid), signal.SIGTERM)
    except ProcessLookupError:
        return False
    for _ in range(100):
        if not running(modality):
            break
        time.sleep(0.1)
    return True


def new_labels(modality: str, store: LearningStore) -> int:
    """Labels (human and collected) gathered since the modality's last retrain started."""
    return store.count(modality, since=float(status(modality).get("started", 0.0)), human_only=False)


def maybe_start(store: LearningStore, every: int) -> list[str]:
    """Start a background retrain of each modality with at least ``every`` new labels (0 disables).

    Returns:
        The modalities started.
    """
    if every <= 0:
        return []
    return [m for m in MODALITIES if new_labels(m, store) >= every and start(m)]
