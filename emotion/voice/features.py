"""Acoustic features: OpenSMILE functionals of a trimmed, loudness-normalised signal.

What the voice model reads (see :func:`extract_features`); the training corpora and every analysed window go through
the same function, so a model and its inputs always agree.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import numpy as np

from emotion.voice import vad
from emotion.voice.levels import SR, normalise_loudness

FEATURE_SETS = {"compare": "ComParE_2016", "egemaps": "eGeMAPSv02"}
"""The OpenSMILE feature sets a model may read, by their short names."""


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
        signal = vad.trim(np.asarray(signal, dtype=np.float32), sr)
    x = normalise_loudness(signal, sr) if normalise else np.clip(signal, -1.0, 32767 / 32768).astype(np.float32)
    parts = []
    for name in feature_sets:
        parts.append(_smile(name).process_signal(x, sr).to_numpy(dtype=np.float32).ravel())
    return np.nan_to_num(np.concatenate(parts), nan=0.0, posinf=0.0, neginf=0.0)
