"""Shared fixtures: real media and data from ../shared/data beside the project."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
MEDIA = DATA / "media"


def need(path: Path) -> Path:
    """Return ``path``, or skip the test with a clear reason when the shared data is absent."""
    if not path.exists():
        pytest.skip(f"shared test data not found: {path}")
    return path


@pytest.fixture(scope="session")
def media() -> Path:
    """The folder of real face images and videos."""
    return need(MEDIA)


@pytest.fixture(scope="session")
def models():
    """The default models, loaded once for the whole test session."""
    from emotion.pipeline import Models
    from emotion.settings import Settings

    return Models.load(Settings())
