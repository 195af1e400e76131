"""Safe persistence and privacy: a killed writer corrupts nothing, and uploads leave no trace."""

from __future__ import annotations

import io
import multiprocessing as mp
import os
import signal
import sqlite3
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from emotion.analysis import batch
from emotion.analysis.batch import Source
from emotion.labels import FACE_LABELS
from emotion.record import Face, Frame, Quality, Result
from emotion.settings import Settings
from emotion.storage.history import History
from emotion.storage.learning_store import Item, LearningStore

pytestmark = [pytest.mark.needs_data]


def big_result(i: int) -> Result:
    scores = {label: 1 / len(FACE_LABELS) for label in FACE_LABELS}
    frames = [Frame(k, k / 10, Quality(True, []), [Face(0, [1, 2, 3, 4], "happy", scores)]) for k in range(300)]
    return Result(file=f"clip{i}.mp4", kind="video", frames=frames, summary={"dominant_emotion": "happy"})


def _history_writer(path: str) -> None:
    history = History(path)
    for i in range(10**6):
        history.add(big_result(i), {"thumbnails": {"0": "x" * 20000}})


def _store_writer(path: str) -> None:
    store = LearningStore(path)
    rng = np.random.default_rng(0)
    for i in range(10**6):
        ids = store.add([Item(f"s{i}", "voice", "calm", {"calm": 0.5}, rng.normal(size=6373), b"w" * 90000)] * 5)
        store.correct({ids[0]: "sad"})


@pytest.mark.parametrize("writer", [_history_writer, _store_writer])
@pytest.mark.slow
def test_a_writer_killed_mid_write_leaves_a_sound_database(tmp_path, writer):
    path = str(tmp_path / "db.sqlite")
    (History if writer is _history_writer else LearningStore)(path)
    proc = mp.get_context("spawn").Process(target=writer, args=(path,))
    proc.start()
    time.sleep(6.0)  # many transactions in, one surely half-done
    os.kill(proc.pid, signal.SIGKILL)
    proc.join(10)
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    db.close()
    if writer is _history_writer:
        history = History(path)
        entries = history.list(limit=10**6)
        assert len(entries) >= 3
        for e in entries:  # every committed analysis is whole
            result, extras = history.get(e.id)
            assert len(result.frames) == 300 and len(extras["thumbnails"]["0"]) == 20000
    else:
        store = LearningStore(path)
        rows = store.rows(limit=10**6)
        assert len(rows) >= 10 and len(rows) % 5 == 0  # whole transactions only
        data = store.labelled("voice")
        assert data["X"].shape[1] == 6373 and set(data["y"]) == {"sad"}


def uploads_left() -> set[str]:
    return {p.name for p in Path(tempfile.gettempdir()).glob("emotion-upload-*")}


def test_uploads_are_deleted_after_success_failure_and_cancel(media, models):
    before = uploads_left()
    image = (media / "single_face.jpg").read_bytes()
    settings = Settings(save=False)
    ok, bad = batch.run(
        [Source.upload(io.BytesIO(image), "me.jpg"), Source.upload(io.BytesIO(b"\x00" * 100), "broken.mp4")],
        settings,
        models,
    )
    assert not ok.result.error and ok.result.summary["faces"] >= 1
    assert bad.result.error
    cancel = threading.Event()
    cancel.set()
    video = Source.upload(io.BytesIO((media / "single_face.mp4").read_bytes()), "v.mp4")
    assert list(batch.run([video], settings, models, cancel=cancel)) == []  # cancelled: nothing comes back
    assert uploads_left() == before
