"""The studio's one family of errors, and :func:`one_line` for showing any exception in one line.

Every message of these errors is a full sentence fit to show a user as it is.
"""

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


def one_line(exc: BaseException, limit: int | None = None) -> str:
    """An exception as one line for a note, a log, a status or an HTTP answer.

    Args:
        exc: Any exception.
        limit: Most characters kept (None: all of the line).

    Returns:
        The first line of the message that is not blank, stripped and cut to ``limit``; the exception's type name
        when the message is empty (an exception raised with no arguments, or an empty or blank string).
    """
    line = next((text.strip() for text in str(exc).splitlines() if text.strip()), type(exc).__name__)
    return line[:limit]
