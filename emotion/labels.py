"""Label sets shared by every model, view and export."""

FACE_LABELS: tuple[str, ...] = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
"""The 7 facial classes, in the order of FER2013 and DeepFace."""

VOICE_LABELS: tuple[str, ...] = ("neutral", "calm", "happy", "sad", "angry", "fearful", "disgust", "surprised")
"""The 8 RAVDESS speech classes, in the order of their RAVDESS codes 01..08."""
