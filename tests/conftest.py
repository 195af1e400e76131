"""Shared fixtures: real media and data from the shared data folder, and a private data dir for every test.

Tiers (pytest markers, see pyproject.toml): ``slow`` (over a few seconds: model training, long media, the app),
``browser`` (a real Chromium), ``needs_data`` (reads the shared corpora; skipped with a reason when absent).
A developer's ``pytest -m "not slow"`` runs in under a minute; CI runs everything.

Two guards hold for every test (issue 23):
- **A time limit.** pytest-timeout fails a test that runs over its limit (``timeout`` in pyproject.toml, 10 min, or
  its own ``@pytest.mark.timeout``) and prints the stacks of all threads. A test stuck in C code, where that signal
  cannot land, is caught by a watchdog one minute later that prints every thread's stack and ends the run, so a
  hang costs minutes, never the whole CI budget.
- **The quick tier stays quick.** A test not marked ``slow`` whose call runs over :data:`QUICK_LIMIT_S` fails and
  says to mark it, so ``pytest -m "not slow"`` stays a quick loop (fixtures loaded once per session do not count).
- **No fork after threads.** A fork (``os.fork``, a ``fork`` multiprocessing context) while the process has more
  than one thread fails the test that did it: the child inherits locks held by threads that do not exist in it.
  ``subprocess`` (fork + exec at once) and ``spawn`` / ``forkserver`` pools are fine.
"""

from __future__ import annotations

import faulthandler
import os
import sys
import traceback
from pathlib import Path

import pytest

from emotion import settings

ROOT = settings.PROJECT_ROOT
DATA = settings.shared_data()
MEDIA = DATA / "media"
# Rebuildable caches (the RAVDESS features) are shared by every test and kept between runs, while each test gets
# its own data dir: fixed here, before any test moves the data dir, and inherited by the CLI and app subprocesses.
os.environ.setdefault("EMOTION_CACHE_DIR", str(settings.cache_dir()))


QUICK_LIMIT_S = 10.0
"""Longest call a test outside the ``slow`` tier may take (generous: most take well under a second)."""
WATCHDOG_GRACE_S = 60
"""How long after a test's time limit the watchdog ends a run whose test the limit's signal could not stop."""
_FORKS: list[str] = []


def _threads() -> int:
    """Threads of this process, native ones included (onnxruntime, FFmpeg and BLAS pools are not in ``threading``)."""
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        import threading

        return threading.active_count()


def _note_fork() -> None:
    if _threads() > 1:
        _FORKS.append(f"forked with {_threads()} threads:\n" + "".join(traceback.format_stack(limit=16)))


os.register_at_fork(before=_note_fork)


@pytest.fixture(autouse=True)
def no_fork_after_threads():
    """Fail a test that forked this process while it had threads (see the module docstring)."""
    _FORKS.clear()
    yield
    if _FORKS:
        found = _FORKS[0]
        _FORKS.clear()
        pytest.fail(f"a process with threads was forked; use a spawn context or subprocess: {found}")


def _limit(item: pytest.Item) -> float:
    mark = item.get_closest_marker("timeout")
    if mark and (mark.args or "timeout" in mark.kwargs):
        return float(mark.args[0] if mark.args else mark.kwargs["timeout"])
    return float(item.config.getini("timeout") or 0)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    """Arm the C-level watchdog for the test's setup, call and teardown."""
    limit = _limit(item)
    if limit > 0:
        faulthandler.dump_traceback_later(limit + WATCHDOG_GRACE_S, exit=True, file=sys.__stderr__)
    try:
        yield
    finally:
        if limit > 0:
            faulthandler.cancel_dump_traceback_later()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Fail a quick-tier test whose call ran over :data:`QUICK_LIMIT_S`."""
    outcome = yield
    report = outcome.get_result()
    if call.when == "call" and report.passed and "slow" not in item.keywords and call.duration > QUICK_LIMIT_S:
        report.outcome = "failed"
        report.longrepr = (
            f"{item.nodeid} took {call.duration:.1f} s, over the quick tier's {QUICK_LIMIT_S:.0f} s: "
            "mark it @pytest.mark.slow or make it quicker"
        )


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
