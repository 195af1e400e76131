"""Background retrains: one process per modality, a lock, and a progress file the pages read.

:func:`start` runs :func:`retrain` in a separate process (``python -m emotion retrain``) so it never blocks a
page; :func:`status` reads its progress file. A lock held by that process means a killed retrain is simply
over: the registry is written last, so the old model keeps serving and nothing in the store is touched.

Two ``flock`` files per modality, both released by the OS when a process dies (so a crash leaves nothing stale):
``<modality>.lock``, held by the retrain for its whole run, and ``<modality>.gate``, held only for an instant. A
retrain takes its lock, and :func:`running` tests that lock, only while holding the gate: a probe therefore never
holds the lock at the moment a starting retrain asks for it, and a retrain that finds its lock taken knows another
retrain has it.
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from emotion.errors import RetrainError
from emotion.files import write_text
from emotion.learning.retrain import MIN_FACE_LABELS, MODALITIES, retrain_face, retrain_voice, trainable_humans
from emotion.settings import data_dir
from emotion.storage.learning_store import LearningStore


def _jobs() -> Path:
    path = data_dir() / "retrain"
    path.mkdir(parents=True, exist_ok=True)
    return path


@contextmanager
def _gate(modality: str) -> Iterator[None]:
    """Hold the modality's gate: the instant in which its retrain lock may be taken or tested.

    Every holder keeps it for one ``flock`` call on the retrain lock, so waiting for it is short.
    """
    with open(_jobs() / f"{modality}.gate", "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


@contextmanager
def _lock(modality: str) -> Iterator[None]:
    """Hold the modality's retrain lock; released by the OS even if the process is killed.

    Raises:
        RetrainError: Another retrain holds it.
    """
    with open(_jobs() / f"{modality}.lock", "a") as f:
        with _gate(modality):  # no probe holds the lock now: a taken lock is another retrain's
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise RetrainError(f"a {modality} retrain is already running") from None
        yield


def _running_quietly(modality: str) -> bool:
    """:func:`running`, but False when the data dir cannot be written (nothing can be running there then)."""
    try:
        return running(modality)
    except OSError:
        return False


def running(modality: str) -> bool:
    """Whether a retrain of ``modality`` holds its lock now.

    The lock is tested, and let go, inside the gate (see the module's notes), so asking never makes a retrain that
    is starting at the same moment find its lock taken.
    """
    with _gate(modality), open(_jobs() / f"{modality}.lock", "a") as f:  # the file closes before the gate opens
        try:
            fcntl.flock(f, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(f, fcntl.LOCK_UN)
        return False


def _write_status(modality: str, **fields: Any) -> None:
    text = json.dumps({"modality": modality, "updated": time.time(), **fields})
    write_text(_jobs() / f"{modality}.json", text)


def _just_started(info: dict) -> bool:
    """A job is given 15 s to start and take its lock before a missing lock means it died."""
    return time.time() - float(info.get("updated", 0)) < 15


def status(modality: str) -> dict:
    """The last retrain's progress.

    Returns:
        ``state`` (idle, running, done, failed, interrupted), ``stage``, ``fraction``, ``message`` and, when done,
        ``result``.
    """
    try:
        info = json.loads((data_dir() / "retrain" / f"{modality}.json").read_text())
    except (OSError, ValueError):  # none yet, unreadable, or damaged
        info = {"state": "idle"}
    if not isinstance(info, dict):
        info = {"state": "idle"}
    if info.get("state") == "running" and not _just_started(info) and not _running_quietly(modality):
        info.update(state="interrupted", message="the retrain stopped before it finished; the old model is serving")
    return info


class Stopped(BaseException):
    """SIGTERM reached a retrain.

    Not an ``Exception``, so no ``except Exception`` on the way (a fold's fit in scikit-learn, a model loader)
    mistakes it for a failure and carries on.
    """


@contextmanager
def _stop_raises() -> Iterator[None]:
    """Turn SIGTERM (:func:`stop`) into :class:`Stopped`, so ``finally`` blocks remove the retrain's work files.

    Only in the main thread, where Python runs signal handlers; elsewhere nothing changes.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def cancel(signum: int, frame: Any) -> None:
        raise Stopped

    previous = signal.signal(signal.SIGTERM, cancel)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def retrain(modality: str, store: LearningStore | None = None) -> dict:
    """Retrain one modality in this process, holding its lock and writing its progress file.

    Raises:
        RetrainError: Another retrain of it is running, it has nothing to learn from, or it was stopped (SIGTERM).
    """
    store = store or LearningStore()
    fit = {"voice": retrain_voice, "face": retrain_face}[modality]
    with _lock(modality):
        started = time.time()

        def report(stage: str, fraction: float) -> None:
            _write_status(modality, state="running", stage=stage, fraction=fraction, started=started, pid=os.getpid())

        report("starting", 0.0)
        try:
            with _stop_raises():
                result = fit(store, report=report)
        except Stopped:
            message = "the retrain was stopped; the old model is serving"
            _write_status(modality, state="interrupted", message=message, started=started, finished=time.time())
            raise RetrainError(message) from None
        except Exception as exc:
            _write_status(modality, state="failed", message=str(exc), started=started, finished=time.time())
            raise
        result["seconds"] = round(time.time() - started, 1)
        _write_status(modality, state="done", fraction=1.0, message=result["message"], result=result,
                      started=started, finished=time.time())
        return result


def start(modality: str) -> bool:
    """Start a retrain of ``modality`` in a separate process. Returns False if one is already running."""
    info = status(modality)
    if running(modality) or (info.get("state") == "running" and _just_started(info)):
        return False
    _write_status(modality, state="running", stage="starting", fraction=0.0, started=time.time())
    log = open(_jobs() / f"{modality}.log", "w")  # noqa: SIM115 - the child owns it
    subprocess.Popen(
        [sys.executable, "-m", "emotion", "retrain", "--modality", modality],
        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
    )
    log.close()
    return True


def stop(modality: str) -> bool:
    """Stop a running retrain of ``modality`` (its model is not saved). Returns whether one was running."""
    pid = status(modality).get("pid")
    if not running(modality) or not pid:
        return False
    try:
        os.kill(int(pid), signal.SIGTERM)
    except ProcessLookupError:
        return False
    for _ in range(100):
        if not running(modality):
            break
        time.sleep(0.1)
    return True


def new_labels(modality: str, store: LearningStore) -> int:
    """Human labels given since the modality's last retrain started (collected predictions do not count)."""
    return store.count(modality, since=float(status(modality).get("started", 0.0)), human_only=True)


def ready(modality: str, store: LearningStore) -> bool:
    """Whether a retrain of ``modality`` has enough human labels to run (the face adapter needs a few)."""
    return modality != "face" or trainable_humans(store, "face") >= MIN_FACE_LABELS


def maybe_start(store: LearningStore, every: int) -> list[str]:
    """Start a background retrain of each modality with at least ``every`` new human labels (0 disables).

    The model's own confident guesses never start one, and a modality that could not run yet is not started.

    Returns:
        The modalities started.
    """
    if every <= 0:
        return []
    return [m for m in MODALITIES if new_labels(m, store) >= every and ready(m, store) and start(m)]
