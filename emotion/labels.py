"""Label sets shared by every model, view and export."""

FACE_LABELS: tuple[str, ...] = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
"""The 7 facial classes, in the order of FER2013 and DeepFace."""

VOICE_LABELS: tuple[str, ...] = ("neutral", "calm", "happy", "sad", "angry", "fearful", "disgust", "surprised")
"""The 8 RAVDESS speech classes, in the order of their RAVDESS codes 01..08."""

VOICE_TO_FACE: dict[str, str] = {
    "neutral": "neutral",
    "calm": "neutral",
    "happy": "happy",
    "sad": "sad",
    "angry": "angry",
    "fearful": "fear",
    "disgust": "disgust",
    "surprised": "surprise",
}
"""Each voice label's nearest face label (calm -> neutral), for comparing and fusing the two."""


def voice_order(label: str) -> int:
    """Sort key that puts voice labels in :data:`VOICE_LABELS` order (unknown labels last)."""
    return VOICE_LABELS.index(label) if label in VOICE_LABELS else len(VOICE_LABELS)
