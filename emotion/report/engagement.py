"""Engagement score (1 to 5) of an analysed file, for a chosen context.

The score is a documented heuristic, not a trained model. It combines how positive or
attentive the expressions look for the context (affect) with how often a usable face was
seen at all (presence)::

    A_face  = sum over face labels l of w_c(l) * m_face(l)
    A_voice = sum over voice labels v of w_c(map(v)) * m_voice(v)
    A       = 0.75 * A_face + 0.25 * A_voice    (whichever exists when only one does)
    P       = frames_ok / frames                 (sampled frames with at least one usable face)
    score   = 1 + 4 * (0.7 * A + 0.3 * P)        (images and videos)
    score   = 1 + 4 * A                          (audio only: presence cannot be measured)

``m_face`` is the mean probability of each facial class over every accepted face, ``m_voice``
the mean probability of each voice class over the speech segments, ``map`` sends the 8 voice
labels to the 7 face labels (calm -> neutral, fearful -> fear, surprised -> surprise) and
``w_c`` is the context's weight table :data:`WEIGHTS` (each weight in 0..1). The score is
None when there is neither an accepted face nor speech.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from emotion.labels import FACE_LABELS, VOICE_TO_FACE
from emotion.record import Result

CONTEXTS: dict[str, str] = {
    "general": "General",
    "classroom": "Classroom",
    "product_demo": "Product demo",
    "seminar": "Seminar",
}
"""Context key to display name."""

WEIGHTS: dict[str, dict[str, float]] = {
    # In a classroom, calm attention (neutral) is fine and interest (happy, surprise) is best.
    "classroom": {
        "happy": 1.0,
        "surprise": 0.9,
        "neutral": 0.6,
        "fear": 0.3,
        "sad": 0.2,
        "angry": 0.2,
        "disgust": 0.1,
    },
    # A product demo aims for delight: a neutral face is a lukewarm reaction, disgust a failure.
    "product_demo": {
        "happy": 1.0,
        "surprise": 1.0,
        "neutral": 0.4,
        "fear": 0.2,
        "sad": 0.1,
        "angry": 0.1,
        "disgust": 0.0,
    },
    # A seminar audience listens: neutral focus weighs almost as much as visible interest.
    "seminar": {
        "happy": 0.9,
        "surprise": 0.8,
        "neutral": 0.7,
        "fear": 0.3,
        "sad": 0.3,
        "angry": 0.3,
        "disgust": 0.2,
    },
    "general": {
        "happy": 1.0,
        "surprise": 0.8,
        "neutral": 0.5,
        "fear": 0.3,
        "sad": 0.2,
        "angry": 0.3,
        "disgust": 0.1,
    },
}
"""Context to weight per face label (0..1): how much each expression counts as engaged there."""

FACE_WEIGHT, VOICE_WEIGHT = 0.75, 0.25
AFFECT_WEIGHT, PRESENCE_WEIGHT = 0.7, 0.3


@dataclass
class Engagement:
    """An engagement score and the parts it was made from.

    Attributes:
        score: 1.0 (disengaged) to 5.0 (fully engaged), one decimal; None without faces or speech.
        context: The context key the weights came from.
        affect: A in 0..1 (None when there was nothing to read).
        presence: P in 0..1 (None for audio-only files).
        parts: ``face_affect`` and ``voice_affect`` where they exist.
    """

    score: float | None
    context: str
    affect: float | None = None
    presence: float | None = None
    parts: dict[str, float] = field(default_factory=dict)

    def explain(self) -> str:
        """Return a one-line explanation of the score."""
        if self.score is None:
            return "no accepted face and no speech: engagement cannot be scored"
        text = f"affect {self.affect:.2f}"
        if self.presence is not None:
            text += f", face presence {self.presence:.0%}"
        return text + f" ({CONTEXTS.get(self.context, self.context)} weights)"


def voice_mean_scores(result: Result) -> dict[str, float]:
    """Return the mean probability of each voice label over the speech segments (empty without speech)."""
    speech = [s for s in (result.audio.segments if result.audio else []) if s.speech and s.emotion]
    if not speech:
        return {}
    labels = {label for s in speech for label in s.scores}
    return {label: sum(s.scores.get(label, 0.0) for s in speech) / len(speech) for label in labels}


def face_mean_scores(result: Result) -> dict[str, float]:
    """Return the mean probability of each face label over the confident faces (empty without any), as the summary."""
    faces = [f for fr in result.frames for f in fr.faces if not f.uncertain]
    if not faces:
        return {}
    return {label: sum(f.scores.get(label, 0.0) for f in faces) / len(faces) for label in FACE_LABELS}


def engagement_score(result: Result, context: str = "general") -> Engagement:
    """Score how engaged the people in a result look, from 1 to 5, for a context.

    See the module docstring for the formula.

    Args:
        result: An analysed file (or a time slice of one).
        context: A key of :data:`CONTEXTS`.

    Raises:
        ValueError: If the context is unknown.
    """
    if context not in WEIGHTS:
        raise ValueError(f"unknown engagement context '{context}' (choose from {', '.join(CONTEXTS)})")
    weights = WEIGHTS[context]
    face = face_mean_scores(result)
    voice = voice_mean_scores(result)
    parts: dict[str, float] = {}
    if face:
        parts["face_affect"] = sum(weights[label] * p for label, p in face.items())
    if voice:
        parts["voice_affect"] = sum(weights.get(VOICE_TO_FACE.get(v, "neutral"), 0.0) * p for v, p in voice.items())
    if not parts:
        return Engagement(None, context)
    if len(parts) == 2:
        affect = FACE_WEIGHT * parts["face_affect"] + VOICE_WEIGHT * parts["voice_affect"]
    else:
        affect = next(iter(parts.values()))
    presence = None
    if result.frames:
        presence = sum(fr.quality.ok for fr in result.frames) / len(result.frames)
        raw = AFFECT_WEIGHT * affect + PRESENCE_WEIGHT * presence
    else:
        raw = affect
    score = round(1.0 + 4.0 * min(1.0, max(0.0, raw)), 1)
    return Engagement(score, context, round(affect, 4), None if presence is None else round(presence, 4), parts)
