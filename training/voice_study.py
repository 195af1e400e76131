"""The voice classifier with the options the studies compared and the shipped model left out.

SMOTE oversampling, the L1, PCA and no-selection alternatives to the ANOVA selection, and unit-length rows were each
scored in the model card's studies (``training/train_audio.py``); the shipped
:class:`~emotion.voice.classifier.VoiceEmotionClassifier` keeps none of them. A :class:`StudyClassifier` is for
measuring only: its class (and SMOTE's) is outside the voice model's allow-list, so it cannot be saved as a model.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.decomposition import PCA
from sklearn.feature_selection import SelectFromModel
from sklearn.preprocessing import Normalizer
from sklearn.svm import LinearSVC

from emotion.voice.classifier import VoiceEmotionClassifier


class StudyClassifier(VoiceEmotionClassifier):
    """:class:`~emotion.voice.classifier.VoiceEmotionClassifier` with the studies' options.

    Args:
        selector: "anova" (the shipped selection: the ``k`` best ANOVA F statistics), "l1" (L1 linear SVM, top
            ``k``), "pca" (``k`` principal components) or "none".
        smote: Oversample minority classes with SMOTE inside the pipeline (training folds only).
        unit_norm: Scale each row of selected features to unit length, so the RBF kernel compares directions
            (cosine-like).
        **kw: The shipped classifier's parameters (see there).
    """

    def __init__(
        self,
        selector: str = "anova",
        smote: bool = False,
        unit_norm: bool = False,
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
        super().__init__(
            k, C, gamma, clip, param_grid, cv, feature_sets, random_state, n_jobs, arousal, components, calibration,
            label, trim,
        )  # fmt: skip
        self.selector = selector
        self.smote = smote
        self.unit_norm = unit_norm

    def _selection(self, n_features: int) -> Any:
        """The selection step that ``selector`` names, for any but the shipped "anova"."""
        k = min(self.k, n_features)
        if self.selector == "l1":
            svm = LinearSVC(penalty="l1", C=0.05, dual=False, max_iter=5000)
            return SelectFromModel(svm, threshold=-np.inf, max_features=k)
        if self.selector == "pca":
            return PCA(n_components=k, random_state=self.random_state)
        if self.selector == "none":
            return "passthrough"
        raise ValueError(f"unknown selector {self.selector!r}")

    def _steps(self, n_features: int) -> list[tuple[str, Any]]:
        steps = super()._steps(n_features)
        if self.selector == "anova":
            return steps
        return [(name, self._selection(n_features) if name == "select" else step) for name, step in steps]

    def _pipeline(self, n_features: int, memory: str | None = None) -> Any:
        if self.smote:  # imblearn's Pipeline resamples training folds only
            from imblearn.over_sampling import SMOTE
            from imblearn.pipeline import Pipeline
        else:
            from sklearn.pipeline import Pipeline
        steps = self._steps(n_features)
        if self.smote:
            steps.append(("smote", SMOTE(random_state=self.random_state)))
        if self.unit_norm:  # after SMOTE, so the SVC only ever sees unit-length rows
            steps.append(("unit", Normalizer()))
        steps.append(("svc", self._svc()))
        return Pipeline(steps, memory=memory)
