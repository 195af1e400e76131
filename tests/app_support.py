"""Helpers shared by the app tests (not a test module)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
MEDIA = DATA / "media"
RAVDESS_CLIP = DATA / "ravdess" / "Actor_01" / "03-01-05-01-01-01-01.flac"


@cache
def voice_error() -> str | None:
    """Return None when the voice path analyses a real RAVDESS clip here, else the record's error.

    The voice model is shipped by another part of the project; until it is, the app tests analyse
    videos with the voice turned off and say so.
    """
    from emotion.pipeline import Models, analyze_file
    from emotion.settings import Settings

    if not RAVDESS_CLIP.exists():
        return f"shared test data not found: {RAVDESS_CLIP}"
    settings = Settings()
    result = analyze_file(RAVDESS_CLIP, settings, Models.load(settings))
    return result.error
