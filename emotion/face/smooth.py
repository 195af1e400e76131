"""Temporal smoothing of each tracked face's probabilities, so one odd frame does not flip a label."""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from emotion.face.affect import valence_arousal
from emotion.face.protocols import FaceModel
from emotion.labels import FACE_LABELS
from emotion.record import Face, Frame, rounded


def zero_phase(times: np.ndarray, values: np.ndarray, tau: float) -> np.ndarray:
    """Smooth ``values`` (n, k) sampled at ``times`` (n,) with an exponential filter run forwards, then backwards.

    Each step's weight follows the time between samples (``1 - exp(-dt / tau)``), so uneven sampling is handled and
    samples far apart in time are barely mixed. Running both ways cancels the lag of a one-way filter.
    """
    out = values.astype(np.float64).copy()
    if len(out) < 2 or tau <= 0:
        return out
    keep = np.exp(-np.diff(times) / tau)  # the weight of the running mean at each step
    for i in range(1, len(out)):
        out[i] = keep[i - 1] * out[i - 1] + (1 - keep[i - 1]) * out[i]
    for i in range(len(out) - 2, -1, -1):
        out[i] = keep[i] * out[i + 1] + (1 - keep[i]) * out[i]
    return out


def mark_confidence(frames: list[Frame], model: FaceModel, threshold: float) -> None:
    """Set each face's calibrated ``confidence`` and its ``uncertain`` flag (in place), after smoothing.

    The confidence is the calibrated probability (:meth:`FaceModel.calibrated`) of the face's label, from its
    smoothed scores when it has them, else its raw ones.

    Args:
        frames: The analysis's frames.
        model: The face model that read them.
        threshold: Faces below it are uncertain (0 trusts every face).
    """
    faces = [face for frame in frames for face in frame.faces]
    if not faces:
        return
    probs = np.array([[(f.smoothed or f.scores)[label] for label in FACE_LABELS] for f in faces])
    for face, p in zip(faces, model.calibrated(probs), strict=True):
        face.confidence = round(float(p[FACE_LABELS.index(face.emotion)]), 4)
        face.uncertain = face.confidence < threshold


def smooth_faces(frames: list[Frame], tau: float) -> None:
    """Fill each face's ``smoothed`` scores and set its label, valence and arousal from them (in place).

    Faces are grouped by track id; raw ``scores`` stay as the model gave them. With ``tau`` <= 0 nothing is
    smoothed and only valence and arousal are filled from the raw scores.

    Args:
        frames: The analysis's frames, in time order.
        tau: Time constant in seconds.
    """
    tracks: dict[int, list[tuple[float, Face]]] = defaultdict(list)
    for frame in frames:
        for face in frame.faces:
            tracks[face.id].append((frame.t, face))
    for items in tracks.values():
        faces = [face for _, face in items]
        if tau > 0 and len(items) > 1:
            times = np.array([t for t, _ in items])
            probs = np.array([[face.scores[label] for label in FACE_LABELS] for face in faces])
            smooth = zero_phase(times, probs, tau)
            for face, p in zip(faces, smooth):
                face.smoothed = rounded(FACE_LABELS, p / p.sum())
                face.emotion = FACE_LABELS[int(np.argmax(p))]
        for face in faces:
            face.valence, face.arousal = valence_arousal(face.smoothed or face.scores)
