"""Scratch folders of a voice model fit: cached transforms of the training features, swept when a fit was killed."""

from __future__ import annotations

import fcntl
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from emotion import settings

WORK_PREFIX = "voice_fit_"
IN_USE = ".in-use"


def work_root() -> Path:
    """Where fits keep their scratch files (cached transforms of the training features, store data included).

    Under the data dir, never the system temp folder, so deleting the data dir deletes them too.
    """
    return settings.data_dir() / "work"


@contextmanager
def work_folder() -> Iterator[Path]:
    """A private scratch folder (mode 700) for one fit, removed however the fit ends.

    The fit holds a lock on a file inside it; the system releases the lock when the process dies, which is how
    :func:`sweep_work` tells a killed fit's folder from a running one's.
    """
    root = work_root()
    root.mkdir(parents=True, exist_ok=True)
    path = Path(tempfile.mkdtemp(prefix=WORK_PREFIX, dir=root))
    try:
        with open(path / IN_USE, "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _stale(path: Path) -> bool:
    """Whether no living fit uses the folder (its lock is free, or it never got one and is over a minute old)."""
    try:
        with open(path / IN_USE) as lock:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
    except BlockingIOError:
        return False
    except OSError:  # no lock file: a folder being created right now, or one killed as it began
        try:
            return time.time() - path.stat().st_mtime > 60
        except OSError:
            return False


def sweep_work() -> int:
    """Remove the scratch folders of fits that were killed (a stopped fit removes its own). Returns how many."""
    stale = [path for path in work_root().glob(f"{WORK_PREFIX}*") if _stale(path)]
    for path in stale:
        shutil.rmtree(path, ignore_errors=True)
    return len(stale)
