"""The learned versions that serve: which voice model the registry names active, loaded with a fallback.

The voice path itself knows nothing of versions (it loads a given file, :mod:`emotion.voice.persistence`); the
analysis, the live page and the retrain ask here which one to use and pass it down.
"""

from __future__ import annotations

from emotion.errors import ModelError
from emotion.storage.versions import BASE, Registry
from emotion.voice.classifier import VoiceEmotionClassifier
from emotion.voice.persistence import load_voice_model


def load_active_voice_model() -> tuple[VoiceEmotionClassifier, str, str | None]:
    """Load the active voice model version (see :mod:`emotion.storage.versions`), or the shipped one.

    A missing or damaged version falls back to the last good one, then to the shipped model.

    Returns:
        The model, the version that serves ("base" for the shipped one), and a message when a fallback was
        taken (None otherwise).
    """
    registry = Registry("voice")
    version, path, message = registry.active_file()
    if path is not None:
        entry = next(v for v in registry.versions() if v["version"] == version)
        try:
            return load_voice_model(path, sha256=entry["sha256"]), version, message
        except ModelError as exc:
            message = f"voice model {version} could not be loaded ({exc}); using the shipped model"
    return load_voice_model(), BASE, message
