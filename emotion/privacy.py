"""Deleting what the app keeps: one analysis with everything learned from it, or all stored data.

Faces and voices are personal data. Uploads are never kept (see :mod:`emotion.analysis.uploads`); what stays is the
history, the learning store, the learned model versions, retrain logs and auto-exports, all under the data dir.
SQLite deletes overwrite the rows (``secure_delete``) and the write-ahead log is emptied afterwards.
"""

from __future__ import annotations

import shutil

from emotion.settings import data_dir
from emotion.storage.history import History
from emotion.storage.learning_store import LearningStore

LEARNED = ("models", "retrain", "exports")
"""Folders under the data dir that hold learned models, retrain progress and logs, and auto-exports."""


def forget_analysis(entry_id: int, history: History | None = None, store: LearningStore | None = None) -> int:
    """Delete one history entry and every face crop, voice segment and feature vector kept from it.

    Returns:
        How many learning items were deleted with it.
    """
    (history or History()).delete(entry_id)
    return (store or LearningStore()).delete_source(f"history:{entry_id}")


def delete_all(history: History | None = None, store: LearningStore | None = None) -> dict[str, int]:
    """Empty the history and the learning store, and remove learned models, retrain logs and exports.

    The shipped models in ``models/`` stay; the app then serves them.

    Returns:
        How many analyses and learning items were deleted.
    """
    from emotion.learning import jobs as learning

    for modality in learning.MODALITIES:  # a retrain running on the data being deleted must not save its model
        learning.stop(modality)
    store = store or LearningStore()
    counts = {"analyses": (history or History()).clear(), "items": store.size()}
    store.clear()
    for name in LEARNED:
        shutil.rmtree(data_dir() / name, ignore_errors=True)
    return counts
