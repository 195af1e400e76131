"""Helpers shared by the app tests (not a test module)."""

from __future__ import annotations

import re
from functools import cache

from tests.conftest import DATA, MEDIA, ROOT

__all__ = ["DATA", "MEDIA", "RAVDESS_CLIP", "ROOT", "shown", "voice_error"]

RAVDESS_CLIP = DATA / "ravdess" / "Actor_01" / "03-01-05-01-01-01-01.flac"


@cache
def voice_error() -> str | None:
    """Return None when the voice path analyses a real RAVDESS clip here, else the record's error.

    The voice model is shipped by another part of the project; until it is, the app tests analyse
    videos with the voice turned off and say so.
    """
    from emotion.analysis.pipeline import Models, analyze_file
    from emotion.settings import Settings

    if not RAVDESS_CLIP.exists():
        return f"shared test data not found: {RAVDESS_CLIP}"
    settings = Settings()
    result = analyze_file(RAVDESS_CLIP, settings, Models.load(settings))
    return result.error


def shown(markdown: str) -> str:
    """What a Markdown label shows once rendered: names are escaped so that they show as typed."""
    return re.sub(r"\\(.)", r"\1", markdown)
