"""The class paths that voice model files saved before ``emotion.voice`` was split name.

skops stores each object by its class's module path and imports that path when it loads the file, so the shipped
``models/voice_svm.skops`` and every learned version saved until then refer to ``emotion.voice.model.Clip``,
``TopF`` and ``VoiceEmotionClassifier``. They live in :mod:`emotion.voice.classifier` now; these names keep such
files loading (both paths are in :data:`emotion.voice.persistence.TRUSTED_TYPES`). New code imports
:mod:`emotion.voice.classifier`, :mod:`~emotion.voice.features` and :mod:`~emotion.voice.persistence` instead.
"""

from __future__ import annotations

from emotion.voice.classifier import Clip, TopF, VoiceEmotionClassifier

__all__ = ["Clip", "TopF", "VoiceEmotionClassifier"]
