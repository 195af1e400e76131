"""The studio's one family of errors: every message is a full sentence fit to show a user as it is."""

from __future__ import annotations


class EmotionError(Exception):
    """Anything the studio reports to a user instead of a traceback."""


class MediaError(EmotionError):
    """A file cannot be read as media (unsupported, unreadable, empty or over a limit)."""


class AudioError(MediaError):
    """The audio of a file cannot be read or analysed."""


class NoAudioTrackError(AudioError):
    """The file has no audio stream at all."""


class ModelUnavailable(EmotionError):
    """A model or its weights cannot be loaded; the message says what to do."""


class ModelError(ModelUnavailable):
    """A model file is damaged, fails its checksum, or is not the type expected."""


class RetrainError(EmotionError):
    """A retrain cannot run (no data, already running, base features missing); the message says why."""


class Cancelled(EmotionError):
    """The caller asked the analysis to stop."""
