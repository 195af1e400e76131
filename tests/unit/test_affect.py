"""Valence/arousal mapping and temporal smoothing of tracked faces."""

from __future__ import annotations

import numpy as np

from emotion.face.affect import CIRCUMPLEX, valence_arousal
from emotion.face.smooth import smooth_faces, zero_phase
from emotion.labels import FACE_LABELS
from emotion.record import Face, Frame, rounded


def one_hot(label: str, p: float = 1.0) -> dict[str, float]:
    rest = (1 - p) / (len(FACE_LABELS) - 1)
    return {k: (p if k == label else rest) for k in FACE_LABELS}


def test_valence_and_arousal_follow_the_circumplex():
    happy, sad, fear = (valence_arousal(one_hot(k)) for k in ("happy", "sad", "fear"))
    assert happy[0] > 0.5 > sad[0] and sad[0] < 0
    assert fear[1] > sad[1] and happy[1] > sad[1]
    assert valence_arousal(one_hot("neutral")) == CIRCUMPLEX["neutral"]
    mixed = valence_arousal({"fear": 0.5, "surprise": 0.5})
    assert abs(mixed[0] - (-0.2)) < 1e-6 and mixed[1] > 0.8


def test_one_odd_frame_does_not_flip_the_label():
    frames = []
    for i in range(30):
        label = "surprise" if i == 15 else "happy"
        scores = rounded(FACE_LABELS, [one_hot(label, 0.8)[k] for k in FACE_LABELS])
        frames.append(Frame(i, i / 30, faces=[Face(0, [0, 0, 50, 50], label, scores)]))
    smooth_faces(frames, tau=0.5)
    odd = frames[15].faces[0]
    assert odd.emotion == "happy" and odd.scores["surprise"] == 0.8  # raw scores stay
    assert odd.smoothed is not None and odd.smoothed["happy"] > odd.smoothed["surprise"]
    assert all(fr.faces[0].valence is not None and fr.faces[0].valence > 0.5 for fr in frames)


def test_a_lasting_change_still_shows_and_tracks_are_kept_apart():
    frames = []
    for i in range(60):
        label = "sad" if i < 30 else "happy"
        faces = [
            Face(0, [0, 0, 50, 50], label, one_hot(label, 0.9)),
            Face(1, [99, 0, 50, 50], "angry", one_hot("angry")),
        ]
        frames.append(Frame(i, i / 10, faces=faces))
    smooth_faces(frames, tau=0.5)
    labels = [fr.faces[0].emotion for fr in frames]
    assert labels[:25] == ["sad"] * 25 and labels[-25:] == ["happy"] * 25
    assert all(fr.faces[1].emotion == "angry" for fr in frames)


def test_far_apart_samples_are_barely_mixed_and_zero_turns_it_off():
    x = np.array([[1.0, 0.0], [0.0, 1.0]])
    far = zero_phase(np.array([0.0, 60.0]), x, tau=0.5)
    assert np.allclose(far, x, atol=1e-6)
    assert np.array_equal(zero_phase(np.array([0.0, 0.1]), x, tau=0.0), x)
