"""Helpers shared by the app tests (not a test module)."""

from __future__ import annotations

import re
from functools import cache

from tests.conftest import DATA, MEDIA, ROOT, need

__all__ = ["DATA", "MEDIA", "RAVDESS_CLIP", "ROOT", "shown", "voice_error"]

RAVDESS_CLIP = DATA / "ravdess" / "Actor_01" / "03-01-05-01-01-01-01.flac"


@cache
def voice_error() -> str | None:
    """Return None when the voice path analyses a real RAVDESS clip here, else the record's error.

    The voice model ships with the project, so the app tests require it: they assert this is None (a broken voice
    path fails them, it is never skipped).
    """
    from emotion.analysis.pipeline import Models, analyze_file
    from emotion.settings import Settings

    clip = need(RAVDESS_CLIP)
    settings = Settings()
    result = analyze_file(clip, settings, Models.load(settings))
    return result.error


def shown(markdown: str) -> str:
    """What a Markdown label shows once rendered: names are escaped so that they show as typed."""
    return re.sub(r"\\(.)", r"\1", markdown)
