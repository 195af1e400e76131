"""Voice emotion model: acoustic features, the classifier, and safe load/save.

The model reads OpenSMILE functionals of a loudness-normalised signal (see :func:`extract_features`) and
predicts one of :data:`emotion.labels.VOICE_LABELS`. The shipped model lives in ``models/voice_svm.skops``
with a JSON sidecar (``voice_svm.json``) holding its sha256, feature set and training metadata.
"""

from __future__ import annotations

import fcntl
import json
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.calibration import CalibratedClassifierCV
from sklearn.decomposition import PCA
from sklearn.feature_selection import SelectFromModel, VarianceThreshold, f_classif
from sklearn.model_selection import GridSearchCV, GroupKFold, StratifiedKFold
from sklearn.preprocessing import Normalizer, StandardScaler
from sklearn.svm import SVC, LinearSVC

from emotion import files, settings
from emotion.errors import ModelError

SR = 16000
DEFAULT_MODEL_NAME = "voice_svm"
FEATURE_SETS = {"compare": "ComParE_2016", "egemaps": "eGeMAPSv02"}
TARGET_DBFS = -23.0
"""Level (dBFS RMS over active frames) every signal is scaled to before feature extraction."""
AROUSAL: dict[str, str] = {
    "angry": "high",
    "happy": "high",
    "fearful": "high",
    "surprised": "high",
    "neutral": "low",
    "calm": "low",
    "sad": "low",
}
"""Arousal (activation) class of each emotion label, for the arousal model (Russell's circumplex). Disgust is left
out: it sits near the middle of the arousal axis and acted corpora voice it both ways."""
VALENCE: dict[str, float] = {
    "happy": 1.0,
    "surprised": 0.5,
    "calm": 0.5,
    "neutral": 0.0,
    "sad": -1.0,
    "angry": -1.0,
    "fearful": -1.0,
    "disgust": -1.0,
}
"""Valence of each emotion label; a window's valence is the mean under its calibrated class probabilities. Surprise
is mildly pleasant (TESS's "pleasant surprise"; RAVDESS's surprised is mixed)."""

# ----------------------------------------------------------------------------------------------------------------
# Signal helpers and features


def frame_db(signal: np.ndarray, sr: int = SR, frame: float = 0.025, hop: float = 0.010) -> np.ndarray:
    """Return the RMS level of each frame in dBFS.

    Args:
        signal: Mono float signal in [-1, 1].
        sr: Sampling rate in Hz.
        frame: Frame length in seconds.
        hop: Frame hop in seconds.

    Returns:
        One dB value per frame (-120 for digital silence); empty for signals shorter than a frame.
    """
    n, h = int(frame * sr), int(hop * sr)
    if len(signal) < n:
        return np.zeros(0, dtype=np.float32)
    count = (len(signal) - n) // h + 1
    power = np.empty(count, np.float32)
    block = 100_000  # frames (about 17 min at 10 ms) per step, so a long signal is never squared whole
    for f0 in range(0, count, block):
        f1 = min(count, f0 + block)
        part = signal[f0 * h : (f1 - 1) * h + n].astype(np.float32) ** 2
        power[f0:f1] = np.lib.stride_tricks.sliding_window_view(part, n)[::h].mean(axis=1)
    return (10.0 * np.log10(power + 1e-12)).astype(np.float32)


def normalise_loudness(signal: np.ndarray, sr: int = SR, target_dbfs: float = TARGET_DBFS) -> np.ndarray:
    """Scale a signal so its active frames have a fixed RMS level.

    Active frames are those within 30 dB of the loudest frame, so pauses do not lower the estimate.
    This removes the recording gain, which otherwise dominates the energy features.

    Args:
        signal: Mono float signal.
        sr: Sampling rate in Hz.
        target_dbfs: Level of the active frames after scaling.

    Returns:
        The scaled float32 signal (unchanged if it is silent), clipped to [-1, 1) because OpenSMILE converts it to
        16-bit integers, where larger values would wrap around.
    """
    db = frame_db(signal, sr)
    if db.size == 0 or db.max() < -100:
        return signal.astype(np.float32)
    active = db[db > db.max() - 30.0]
    level = 10.0 * np.log10(np.mean(10.0 ** (active / 10.0)))
    return np.clip(signal * 10.0 ** ((target_dbfs - level) / 20.0), -1.0, 32767 / 32768).astype(np.float32)


@cache
def _smile(feature_set: str) -> Any:
    import opensmile

    return opensmile.Smile(
        feature_set=getattr(opensmile.FeatureSet, FEATURE_SETS[feature_set]),
        feature_level=opensmile.FeatureLevel.Functionals,
    )


def feature_names(feature_sets: tuple[str, ...] = ("compare",)) -> list[str]:
    """Return the feature names of the given sets, in extraction order."""
    return [f"{s}:{n}" for s in feature_sets for n in _smile(s).feature_names]


def extract_features(
    signal: np.ndarray,
    sr: int = SR,
    feature_sets: tuple[str, ...] = ("compare",),
    normalise: bool = True,
    trim: bool = False,
) -> np.ndarray:
    """Return OpenSMILE functionals of one signal.

    Args:
        signal: Mono float signal.
        sr: Sampling rate in Hz (16000 expected).
        feature_sets: Any of "compare" (ComParE_2016, 6373 values) and "egemaps" (eGeMAPSv02, 88 values).
        normalise: Loudness-normalise the signal first (what the shipped model expects).
        trim: Cut the quiet lead-in and tail first (:func:`emotion.voice.vad.trim`; what models with
            ``trim=True``, the shipped one included, were trained on).

    Returns:
        A float32 vector, the sets concatenated in the given order.
    """
    if trim:
        from emotion.voice import vad  # vad imports this module

        signal = vad.trim(np.asarray(signal, dtype=np.float32), sr)
    x = normalise_loudness(signal, sr) if normalise else np.clip(signal, -1.0, 32767 / 32768).astype(np.float32)
    parts = []
    for name in feature_sets:
        parts.append(_smile(name).process_signal(x, sr).to_numpy(dtype=np.float32).ravel())
    return np.nan_to_num(np.concatenate(parts), nan=0.0, posinf=0.0, neginf=0.0)


# ----------------------------------------------------------------------------------------------------------------
# Classifier


class Clip(BaseEstimator):
    """Clip standardised features to [-limit, limit] so one odd value cannot dominate an RBF kernel."""

    def __init__(self, limit: float = 5.0) -> None:
        self.limit = limit

    def fit(self, X: np.ndarray, y: Any = None) -> Clip:
        """Nothing to learn."""
        return self

    def transform(self, X: np.ndarray) -> np.ndarray:
        """Return the clipped features."""
        return np.clip(X, -self.limit, self.limit) if self.limit else X


class TopF(BaseEstimator):
    """Keep the ``k`` features with the largest ANOVA F statistic (``f_classif``) on the training data.

    The same choice as ``SelectKBest(f_classif, k=k)``, as a class that holds only column indices, so a saved model
    names no function (skops would call it while loading; see :data:`TRUSTED_TYPES`).
    """

    def __init__(self, k: int = 1000) -> None:
        self.k = k

    def fit(self, X: np.ndarray, y: np.ndarray) -> TopF:
        """Rank the features by their F statistic over the classes of ``y``."""
        import warnings

        with warnings.catch_warnings():  # constant columns give NaN; they rank last
            warnings.simplefilter("ignore", RuntimeWarning)
            F = np.nan_to_num(f_classif(X, y)[0], nan=-1.0)
        self.columns_ = np.sort(np.argsort(-F, kind="stable")[: min(self.k, X.shape[1])])
        return self

    def transform(self, X: np.ndarray) -> np.ndarray:
        """Return the kept columns."""
        return np.asarray(X)[:, self.columns_]


class VoiceEmotionClassifier(ClassifierMixin, BaseEstimator):
    """Scaler -> clip -> selection -> (PCA) -> (SMOTE) -> (unit norm) -> RBF SVC, with cross-validated probabilities.

    Args:
        selector: "anova" (:class:`TopF`: the ``k`` best ANOVA F statistics), "l1" (L1 linear SVM, top ``k``),
            "pca" or "none".
        k: Features (or components) kept by the selector.
        C: SVC regularisation (overridden by the grid search when ``param_grid`` is given).
        gamma: SVC kernel width ("scale" or a float).
        clip: Limit for standardised features (0 disables).
        unit_norm: Scale each row of selected features to unit length, so the RBF kernel compares directions
            (cosine-like). An input far from all training data is then judged by the direction of its
            deviation instead of collapsing onto the class with the largest SVM bias.
        smote: Oversample minority classes with SMOTE inside the pipeline (training folds only). Off in the
            shipped model (class weights only), and a model with SMOTE cannot be saved: its types are not in
            :data:`TRUSTED_TYPES`.
        param_grid: Grid over the pipeline's step parameters (e.g. ``{"svc__C": [3, 10, 30]}``); None skips it.
        cv: Folds for the grid search and the calibration (grouped when ``fit`` gets ``groups``).
        feature_sets: The OpenSMILE sets the model reads (passed to :func:`extract_features`).
        random_state: Seed for SMOTE and the fold shuffles.
        n_jobs: Parallel jobs of the grid search.
        components: Principal components kept after the selection (0: none). Keeps the saved model small (its
            support vectors have this many values) at little cost in accuracy.
        calibration: ``CalibratedClassifierCV`` method: "sigmoid" (shipped: one sigmoid per class) or
            "temperature" (keeps the SVC's label, but its confidence did not separate right from wrong; see the card).
        label: Where :meth:`predict` takes the label from: "svc" (shipped: the fitted SVC's own vote, uncalibrated)
            or "calibrated" (the argmax of :meth:`predict_proba`, which the sigmoids can move; see the card).
        arousal: Also fit an arousal model: the same pipeline (same C and gamma), calibrated the same way, on the
            high/low arousal classes of :data:`AROUSAL` (see :meth:`predict_arousal`).
        trim: The features this model reads come from signals whose quiet lead-in and tail were cut
            (:func:`extract_features` with ``trim=True``). Nothing in the fit changes; the analysis reads it to
            extract each window's features the same way as the training clips.

    Probabilities come from ``CalibratedClassifierCV(..., method="sigmoid", ensemble=False)``: sigmoids fitted on
    out-of-fold decision values, then one SVC fitted on all data (not the deprecated ``SVC(probability=True)``).
    The label is that SVC's own vote (``label="svc"``); its confidence is the calibrated probability of that label
    (:meth:`label_and_proba`), which may be below another class's when the sigmoids disagree with the vote.
    """

    calibration: str = "sigmoid"
    """Class default, so that a model saved before the option existed still reports it (``get_params``)."""
    label: str = "calibrated"
    """Class default: a model saved before the option existed labelled by its calibrated argmax."""
    trim: bool = False
    """Class default: a model saved before the option existed was trained on whole clips."""

    def __init__(
        self,
        selector: str = "anova",
        k: int = 500,
        C: float = 10.0,
        gamma: str | float = "scale",
        clip: float = 5.0,
        unit_norm: bool = False,
        smote: bool = False,
        param_grid: dict[str, list[Any]] | None = None,
        cv: int = 5,
        feature_sets: tuple[str, ...] = ("compare", "egemaps"),
        random_state: int = 0,
        n_jobs: int = 1,
        arousal: bool = False,
        components: int = 0,
        calibration: str = "sigmoid",
        label: str = "svc",
        trim: bool = False,
    ) -> None:
        self.selector = selector
        self.k = k
        self.C = C
        self.gamma = gamma
        self.clip = clip
        self.unit_norm = unit_norm
        self.smote = smote
        self.param_grid = param_grid
        self.cv = cv
        self.feature_sets = feature_sets
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.arousal = arousal
        self.components = components
        self.calibration = calibration
        self.label = label
        self.trim = trim

    def _pipeline(self, n_features: int, memory: str | None = None) -> Any:
        if self.smote:  # imblearn's Pipeline resamples training folds only
            from imblearn.over_sampling import SMOTE
            from imblearn.pipeline import Pipeline
        else:  # scikit-learn's own: one type fewer in the saved file's allow-list
            from sklearn.pipeline import Pipeline

        k = min(self.k, n_features)
        select: Any = {
            "anova": lambda: TopF(k=k),
            "l1": lambda: SelectFromModel(
                LinearSVC(penalty="l1", C=0.05, dual=False, max_iter=5000), threshold=-np.inf, max_features=k
            ),
            "pca": lambda: PCA(n_components=k, random_state=self.random_state),
            "none": lambda: "passthrough",
        }[self.selector]()
        steps = [("const", VarianceThreshold()), ("scale", StandardScaler()), ("clip", Clip(self.clip))]
        steps.append(("select", select))
        if self.components:  # a small rotation of the selected features: fewer values per support vector
            steps.append(("pca", PCA(n_components=self.components, random_state=self.random_state)))
        if self.smote:
            steps.append(("smote", SMOTE(random_state=self.random_state)))
        if self.unit_norm:  # after SMOTE, so the SVC only ever sees unit-length rows
            steps.append(("unit", Normalizer()))
        steps.append(("svc", SVC(kernel="rbf", C=self.C, gamma=self.gamma, class_weight="balanced")))
        return Pipeline(steps, memory=memory)

    def _splits(self, X: np.ndarray, y: np.ndarray, groups: np.ndarray | None) -> list[Any]:
        if groups is not None and len(np.unique(groups)) >= self.cv:
            return list(GroupKFold(n_splits=self.cv).split(X, y, groups))
        return list(StratifiedKFold(self.cv, shuffle=True, random_state=self.random_state).split(X, y))

    def fit(self, X: np.ndarray, y: np.ndarray, groups: np.ndarray | None = None) -> VoiceEmotionClassifier:
        """Fit the pipeline (after an optional grid search) and its probability calibration.

        Args:
            X: Features, one row per clip.
            y: Emotion labels.
            groups: Speaker ids; when given, every inner split keeps speakers apart.
        """
        X, y = np.asarray(X, dtype=np.float32), np.asarray(y)
        splits = self._splits(X, y, groups)
        self.best_params_: dict[str, Any] = {}
        with work_folder() as cache:  # feature selection is fitted once per fold
            pipe = self._pipeline(X.shape[1], memory=str(cache))
            if self.param_grid:
                search = GridSearchCV(pipe, self.param_grid, cv=splits, n_jobs=self.n_jobs, refit=False)
                search.fit(X, y)
                self.best_params_ = dict(search.best_params_)
                pipe.set_params(**self.best_params_)
            self.model_ = CalibratedClassifierCV(
                pipe, method=self.calibration, cv=splits, ensemble=False, n_jobs=self.n_jobs
            ).fit(X, y)
            fitted = [self.model_]
            if self.arousal:
                level = np.array([AROUSAL.get(str(v), "") for v in y])
                keep = level != ""
                sub = [(tr[keep[tr]], te[keep[te]]) for tr, te in splits]  # same speakers apart, same folds
                index = np.cumsum(keep) - 1  # positions among the kept rows
                sub = [(index[tr], index[te]) for tr, te in sub]
                self.arousal_model_ = CalibratedClassifierCV(
                    clone(pipe), method=self.calibration, cv=sub, ensemble=False, n_jobs=self.n_jobs
                ).fit(X[keep], level[keep])
                fitted.append(self.arousal_model_)
        for model in fitted:
            for p in [model.estimator] + [c.estimator for c in model.calibrated_classifiers_]:
                p.set_params(memory=None)
            for part in model.calibrated_classifiers_:
                part.estimator = compact(part.estimator)
        self.classes_ = self.model_.classes_
        return self

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """Return calibrated class probabilities (columns in ``classes_`` order)."""
        return self.model_.predict_proba(np.asarray(X, dtype=np.float32))

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Return each row's label: the SVC's own vote (``label="svc"``) or the calibrated argmax."""
        return self.label_and_proba(X)[0]

    def label_and_proba(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Return each row's label (see :meth:`predict`) and its calibrated class probabilities.

        The confidence of a row is the calibrated probability of its label, ``proba[i, classes_ == label[i]]``,
        not the largest probability of the row.
        """
        X = np.asarray(X, dtype=np.float32)
        proba = self.model_.predict_proba(X)
        if self.label != "svc":
            return self.classes_[np.argmax(proba, axis=1)], proba
        fitted = self.model_.calibrated_classifiers_[0].estimator  # ensemble=False: the pipeline fitted on all data
        return np.asarray(fitted.predict(X)), proba

    def confidence(self, labels: np.ndarray, proba: np.ndarray) -> np.ndarray:
        """Return the calibrated probability of each row's label (rows of :meth:`label_and_proba`)."""
        column = {str(c): k for k, c in enumerate(self.classes_)}
        return np.asarray(proba)[np.arange(len(labels)), [column[str(v)] for v in labels]]

    def predict_arousal(self, X: np.ndarray) -> np.ndarray | None:
        """Return each row's calibrated probability of high arousal (0 calm .. 1 activated).

        None for a model without an arousal model (trained before it existed).
        """
        model = getattr(self, "arousal_model_", None)
        if model is None:
            return None
        high = list(model.classes_).index("high")
        return model.predict_proba(np.asarray(X, dtype=np.float32))[:, high]

    def valence(self, proba: np.ndarray) -> np.ndarray:
        """Return each row's valence (-1 unpleasant .. +1 pleasant).

        :data:`VALENCE` averaged under the row's class probabilities (rows of :meth:`predict_proba`).
        """
        weights = np.array([VALENCE.get(str(c), 0.0) for c in self.classes_])
        return np.asarray(proba) @ weights


def compact(pipe: Any) -> Any:
    """Return a fitted pipeline that computes the same values from only the columns its ANOVA selection keeps.

    Dropping constant columns, scaling and clipping act on each column alone, so selecting the kept columns first
    and then scaling and clipping them gives the very same numbers. The saved model then holds 1,000 scaling
    values instead of 6,373 (and no variance table), a third of a megabyte less. Pipelines of another shape (no
    :class:`TopF`, SMOTE) are returned as they are.

    Args:
        pipe: A fitted ``const -> scale -> clip -> select -> ...`` pipeline.
    """
    names = [name for name, _ in pipe.steps]
    if names[:4] != ["const", "scale", "clip", "select"] or not isinstance(pipe.steps[3][1], TopF):
        return pipe
    const, scale, clip, select = (step for _, step in pipe.steps[:4])
    cols = select.columns_
    keep = TopF(k=len(cols))
    keep.columns_ = const.get_support(indices=True)[cols]  # positions among the raw features
    scaler = StandardScaler()
    for name in ("mean_", "var_", "scale_"):
        setattr(scaler, name, getattr(scale, name)[cols])
    seen = scale.n_samples_seen_
    scaler.n_samples_seen_ = seen[cols] if np.ndim(seen) else seen
    scaler.n_features_in_ = len(cols)
    return type(pipe)([("select", keep), ("scale", scaler), ("clip", clip), *pipe.steps[4:]])


# ----------------------------------------------------------------------------------------------------------------
# Work files of a fit

WORK_PREFIX = "voice_fit_"
IN_USE = ".in-use"


def work_root() -> Path:
    """Where fits keep their scratch files (cached transforms of the training features, store data included).

    Under the data dir, never the system temp folder, so deleting the data dir deletes them too.
    """
    return settings.data_dir() / "work"


@contextmanager
def work_folder() -> Iterator[Path]:
    """A private scratch folder (mode 700) for one fit, removed however the fit ends.

    The fit holds a lock on a file inside it; the system releases the lock when the process dies, which is how
    :func:`sweep_work` tells a killed fit's folder from a running one's.
    """
    root = work_root()
    root.mkdir(parents=True, exist_ok=True)
    path = Path(tempfile.mkdtemp(prefix=WORK_PREFIX, dir=root))
    try:
        with open(path / IN_USE, "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _stale(path: Path) -> bool:
    """Whether no living fit uses the folder (its lock is free, or it never got one and is over a minute old)."""
    try:
        with open(path / IN_USE) as lock:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
    except BlockingIOError:
        return False
    except OSError:  # no lock file: a folder being created right now, or one killed as it began
        try:
            return time.time() - path.stat().st_mtime > 60
        except OSError:
            return False


def sweep_work() -> int:
    """Remove the scratch folders of fits that were killed (a stopped fit removes its own). Returns how many."""
    stale = [path for path in work_root().glob(f"{WORK_PREFIX}*") if _stale(path)]
    for path in stale:
        shutil.rmtree(path, ignore_errors=True)
    return len(stale)


# ----------------------------------------------------------------------------------------------------------------
# Safe persistence

_cache: dict[tuple[str, int], VoiceEmotionClassifier] = {}


def default_model_path() -> Path:
    """The shipped voice model file."""
    return settings.models_dir() / f"{DEFAULT_MODEL_NAME}.skops"


TRUSTED_TYPES = frozenset(
    {
        "emotion.voice.model.Clip",
        "emotion.voice.model.TopF",
        "emotion.voice.model.VoiceEmotionClassifier",
        "sklearn.calibration._CalibratedClassifier",
        "sklearn.calibration._SigmoidCalibration",
    }
)
"""The only types, beyond skops' own defaults, that a voice model file may name: exactly the classes the shipped
pipeline uses (``skops.io.get_untrusted_types`` of ``models/voice_svm.skops``, recorded in its sidecar). SMOTE
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
    import copy
    import zipfile

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


def load_active_voice_model() -> tuple[VoiceEmotionClassifier, str, str | None]:
    """Load the active voice model version (see :mod:`emotion.storage.versions`), or the shipped one.

    A missing or damaged version falls back to the last good one, then to the shipped model.

    Returns:
        The model, the version that serves ("base" for the shipped one), and a message when a fallback was
        taken (None otherwise).
    """
    from emotion.storage.versions import BASE, Registry

    registry = Registry("voice")
    version, path, message = registry.active_file()
    if path is not None:
        entry = next(v for v in registry.versions() if v["version"] == version)
        try:
            return load_voice_model(path, sha256=entry["sha256"]), version, message
        except ModelError as exc:
            message = f"voice model {version} could not be loaded ({exc}); using the shipped model"
    return load_voice_model(), BASE, message
