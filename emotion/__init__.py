"""Emotion analysis of faces and voices in media: all of the studio's logic lives here.

The public API::

    import emotion

    result = emotion.analyze("talk.mp4")                        # one file -> one Result, nothing stored
    for analysis in emotion.analyze_many(["a.mp4", "b.wav"]):   # the batch flow: saved to History, kept, exported
        print(analysis.result.summary["dominant_emotion"])

Every analysis path (this API, the CLI, the app) returns the same :class:`Result` record, which says what produced
it (``produced_by``) and with which settings.

Layers, top to bottom: ``__main__`` -> ``emotion``, ``cli`` -> ``app``, ``service`` -> ``analysis``, ``privacy`` ->
``learning``, ``report`` -> ``storage`` -> ``face``, ``voice`` -> ``media``, ``record`` -> ``labels``, ``settings``,
``errors``, ``files``; imports point down only, never in a circle (``emotion`` is this module; only ``app`` imports
Streamlit; ``tests/unit/test_house.py`` checks all of it).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from emotion.errors import (
    AudioError,
    Cancelled,
    EmotionError,
    MediaError,
    ModelError,
    ModelUnavailable,
    RetrainError,
)
from emotion.labels import FACE_LABELS, VOICE_LABELS, VOICE_TO_FACE
from emotion.record import Result
from emotion.settings import VERSION, Settings

if TYPE_CHECKING:
    from emotion.analysis.batch import Analysis
    from emotion.analysis.pipeline import Models

__version__ = VERSION
__all__ = [
    "FACE_LABELS",
    "VOICE_LABELS",
    "VOICE_TO_FACE",
    "AudioError",
    "Cancelled",
    "EmotionError",
    "MediaError",
    "ModelError",
    "ModelUnavailable",
    "Result",
    "RetrainError",
    "Settings",
    "analyze",
    "analyze_many",
    "load_models",
]


def load_models(settings: Settings | None = None) -> Models:
    """Load the face detector and face model that ``settings`` name (the voice model loads on first use)."""
    from emotion.analysis.pipeline import Models

    return Models.load(settings or Settings())


def analyze(path: str | Path, settings: Settings | None = None, models: Models | None = None) -> Result:
    """Analyse one image, video or audio file and return its record; nothing is stored.

    Never raises for a bad file: the record's ``error`` says what went wrong in one line.
    """
    from emotion.analysis.pipeline import analyze_file

    return analyze_file(path, settings or Settings(), models)


def analyze_many(
    paths: Iterable[str | Path], settings: Settings | None = None, models: Models | None = None
) -> Iterator[Analysis]:
    """Run the batch flow over files and yield each analysis when it is done.

    Each file is analysed, saved to History, kept for learning and exported as ``settings`` say (see
    :func:`emotion.analysis.batch.run`).
    """
    from emotion.analysis import batch

    return batch.run([batch.Source.file(p) for p in paths], settings or Settings(), models)
