"""Valence and arousal of a face, from its emotion probabilities.

No labelled valence/arousal faces are available offline (AffectNet's are not redistributable), so this is a
documented mapping, not a trained regressor: each of the 7 classes sits at a point of Russell's circumplex of affect
(Russell 1980; positions rounded from the placements in Russell 1980 and Scherer 2005), and a face's valence and
arousal are the probability-weighted mean of those points. So "happy 0.9" reads clearly pleasant and fairly
activated, and a face split between fear and surprise reads activated with a valence near zero.

Scales: valence -1 (unpleasant) to +1 (pleasant); arousal 0 (calm) to 1 (activated), the same scales as the voice's.
Limits: a neutral face is placed at valence 0, arousal 0.2 (calm), and the mapping can say no more than the class
probabilities do (it cannot tell a calm, content face from a neutral one).
"""

from __future__ import annotations

import numpy as np

from emotion.labels import FACE_LABELS

CIRCUMPLEX: dict[str, tuple[float, float]] = {
    "angry": (-0.6, 0.8),
    "disgust": (-0.7, 0.5),
    "fear": (-0.6, 0.85),
    "happy": (0.85, 0.6),
    "sad": (-0.7, 0.2),
    "surprise": (0.2, 0.85),
    "neutral": (0.0, 0.2),
}
"""Label -> (valence, arousal)."""

_POINTS = np.array([CIRCUMPLEX[label] for label in FACE_LABELS])


def valence_arousal(scores: dict[str, float]) -> tuple[float, float]:
    """Return (valence, arousal), rounded to 3 places, for one face's label -> probability mapping."""
    p = np.array([scores.get(label, 0.0) for label in FACE_LABELS], dtype=np.float64)
    p = p / max(p.sum(), 1e-12)
    valence, arousal = p @ _POINTS
    return round(float(valence), 3), round(float(arousal), 3)
