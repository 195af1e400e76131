"""The speech-emotion classifier: a scikit-learn-style estimator over OpenSMILE features, with arousal and valence.

The estimator holds only the options of the shipped pipeline (scaler -> clip -> ANOVA selection -> PCA -> RBF SVC,
calibrated); the pipelines of the studies (SMOTE, other selectors, unit rows) extend it in ``training/``. Saved and
loaded by :mod:`emotion.voice.persistence`, which allows exactly the classes defined here.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.calibration import CalibratedClassifierCV
from sklearn.decomposition import PCA
from sklearn.feature_selection import VarianceThreshold, f_classif
from sklearn.model_selection import GridSearchCV, GroupKFold, StratifiedKFold
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from emotion.voice.scratch import work_folder

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
    names no function (skops would call it while loading; see :data:`emotion.voice.persistence.TRUSTED_TYPES`).
    """

    def __init__(self, k: int = 1000) -> None:
        self.k = k

    def fit(self, X: np.ndarray, y: np.ndarray) -> TopF:
        """Rank the features by their F statistic over the classes of ``y``."""
        with warnings.catch_warnings():  # constant columns give NaN; they rank last
            warnings.simplefilter("ignore", RuntimeWarning)
            F = np.nan_to_num(f_classif(X, y)[0], nan=-1.0)
        self.columns_ = np.sort(np.argsort(-F, kind="stable")[: min(self.k, X.shape[1])])
        return self

    def transform(self, X: np.ndarray) -> np.ndarray:
        """Return the kept columns."""
        return np.asarray(X)[:, self.columns_]


class VoiceEmotionClassifier(ClassifierMixin, BaseEstimator):
    """Scaler -> clip -> ANOVA selection -> (PCA) -> RBF SVC, with cross-validated probabilities.

    Args:
        k: Features kept by the ANOVA selection (:class:`TopF`).
        C: SVC regularisation (overridden by the grid search when ``param_grid`` is given).
        gamma: SVC kernel width ("scale" or a float).
        clip: Limit for standardised features (0 disables).
        param_grid: Grid over the pipeline's step parameters (e.g. ``{"svc__C": [3, 10, 30]}``); None skips it.
        cv: Folds for the grid search and the calibration (grouped when ``fit`` gets ``groups``).
        feature_sets: The OpenSMILE sets the model reads (passed to
            :func:`emotion.voice.features.extract_features`).
        random_state: Seed for the PCA and the fold shuffles.
        n_jobs: Parallel jobs of the grid search and the calibration.
        arousal: Also fit an arousal model: the same pipeline (same C and gamma), calibrated the same way, on the
            high/low arousal classes of :data:`AROUSAL` (see :meth:`predict_arousal`).
        components: Principal components kept after the selection (0: none). Keeps the saved model small (its
            support vectors have this many values) at little cost in accuracy.
        calibration: ``CalibratedClassifierCV`` method: "sigmoid" (shipped: one sigmoid per class) or
            "temperature" (keeps the SVC's label, but its confidence did not separate right from wrong; see the card).
        label: Where :meth:`predict` takes the label from: "svc" (shipped: the fitted SVC's own vote, uncalibrated)
            or "calibrated" (the argmax of :meth:`predict_proba`, which the sigmoids can move; how models saved
            before the option existed read, see the card).
        trim: The features this model reads come from signals whose quiet lead-in and tail were cut
            (``extract_features`` with ``trim=True``). Nothing in the fit changes; the analysis reads it to
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
        k: int = 500,
        C: float = 10.0,
        gamma: str | float = "scale",
        clip: float = 5.0,
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
        self.k = k
        self.C = C
        self.gamma = gamma
        self.clip = clip
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

    def _steps(self, n_features: int) -> list[tuple[str, Any]]:
        """The steps before the SVC: drop constant columns, scale, clip, select, and the optional PCA."""
        steps: list[tuple[str, Any]] = [
            ("const", VarianceThreshold()),
            ("scale", StandardScaler()),
            ("clip", Clip(self.clip)),
            ("select", TopF(k=min(self.k, n_features))),
        ]
        if self.components:  # a small rotation of the selected features: fewer values per support vector
            steps.append(("pca", PCA(n_components=self.components, random_state=self.random_state)))
        return steps

    def _svc(self) -> SVC:
        """The final step: an RBF SVC with balanced class weights."""
        return SVC(kernel="rbf", C=self.C, gamma=self.gamma, class_weight="balanced")

    def _pipeline(self, n_features: int, memory: str | None = None) -> Any:
        from sklearn.pipeline import Pipeline

        return Pipeline([*self._steps(n_features), ("svc", self._svc())], memory=memory)

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
