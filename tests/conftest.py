"""Shared fixtures: real media and data from the shared data folder, and a private data dir for every test.

Tiers (pytest markers, see pyproject.toml): ``slow`` (over a few seconds: model training, long media, the app),
``browser`` (a real Chromium), ``needs_data`` (reads the shared corpora; skipped with a reason when absent).
A developer's ``pytest -m "not slow"`` runs in under a minute; CI runs everything.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from emotion import settings

ROOT = settings.PROJECT_ROOT
DATA = settings.shared_data()
MEDIA = DATA / "media"
# Rebuildable caches (the RAVDESS features) are shared by every test and kept between runs, while each test gets
# its own data dir: fixed here, before any test moves the data dir, and inherited by the CLI and app subprocesses.
os.environ.setdefault("EMOTION_CACHE_DIR", str(settings.cache_dir()))


@pytest.fixture(autouse=True)
def private_data_dir(tmp_path_factory, monkeypatch) -> Path:
    """Every test writes History, the learning store and models to its own folder, never to the checkout's."""
    folder = tmp_path_factory.mktemp("data")
    monkeypatch.setenv("EMOTION_DATA_DIR", str(folder))
    return folder


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
    from emotion.analysis.pipeline import Models
    from emotion.settings import Settings

    return Models.load(Settings())
