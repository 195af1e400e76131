"""Deleting what the app keeps: one analysis with everything learned from it, or all stored data.

Faces and voices are personal data. Uploads are never kept (see :mod:`emotion.analysis.uploads`); what stays is the
history, the learning store, the learned model versions, retrain logs and auto-exports, all under the data dir.
SQLite deletes overwrite the rows (``secure_delete``) and the write-ahead log is emptied afterwards.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from emotion.settings import data_dir
from emotion.storage.history import DB_NAME as HISTORY_DB
from emotion.storage.history import History
from emotion.storage.learning_store import DB_NAME as STORE_DB
from emotion.storage.learning_store import LearningStore
from emotion.storage.sqlite import StoreError, remove_aside

LEARNED = ("models", "retrain", "exports", "work", "recordings")
"""Folders under the data dir that hold learned models, retrain progress and logs, auto-exports and live
recordings."""
RECORDINGS = "recordings"
"""The data dir's folder of live-session recordings (see :mod:`emotion.analysis.live_record`)."""


def forget_analysis(entry_id: int, history: History | None = None, store: LearningStore | None = None) -> int:
    """Delete one history entry, every face crop, voice segment and feature vector kept from it, and its recordings.

    A live session's record names its recordings (``summary["recordings"]``); each is deleted by its file name in
    the recordings folder only, never by a path.

    Returns:
        How many learning items were deleted with it.
    """
    history = history or History()
    try:
        names = history.get(entry_id)[0].summary.get("recordings") or []
    except (KeyError, StoreError):
        names = []
    for name in names if isinstance(names, list) else []:
        path = data_dir() / RECORDINGS / Path(str(name)).name
        if path.suffix == ".mp4" and path.is_file():
            path.unlink()
    history.delete(entry_id)
    return (store or LearningStore()).delete_source(f"history:{entry_id}")


def delete_all(history: History | None = None, store: LearningStore | None = None) -> dict[str, int]:
    """Empty the history and the learning store; remove learned models, retrain logs, exports, damaged copies.

    The damaged copies are the stores that could not be read and were moved aside. The shipped models in
    ``models/`` stay; the app then serves them. A part that cannot be deleted (a read-only data folder) does not
    stop the others.

    Returns:
        How many analyses and learning items were deleted.

    Raises:
        StoreError: Something could not be deleted; the message says what (the rest was).
    """
    from emotion.learning import jobs as learning

    problems: list[str] = []
    counts = {"analyses": 0, "items": 0}
    try:
        for modality in learning.MODALITIES:  # a retrain running on the data being deleted must not save its model
            learning.stop(modality)
    except OSError as exc:
        problems.append(f"could not stop a retrain ({exc.strerror or exc})")
    paths = [history.path if history else data_dir() / HISTORY_DB, store.path if store else data_dir() / STORE_DB]
    try:
        counts["analyses"] = (history or History()).clear()
    except StoreError as exc:
        problems.append(str(exc))
    try:
        store = store or LearningStore()
        counts["items"] = store.size()
        store.clear()
    except StoreError as exc:
        problems.append(str(exc))
    for name in LEARNED:
        shutil.rmtree(data_dir() / name, ignore_errors=True)
    try:
        for path in paths:
            remove_aside(path)
    except OSError as exc:
        problems.append(f"could not delete a moved-aside copy ({exc.strerror or exc})")
    left = [name for name in LEARNED if (data_dir() / name).exists()]
    problems += [f"could not delete {data_dir() / name}" for name in left]
    if problems:
        raise StoreError("; ".join(problems))
    return counts
