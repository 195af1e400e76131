"""The learning store: concurrent writers lose nothing, humans override auto labels, no pickle."""

from __future__ import annotations

import multiprocessing as mp

import numpy as np
import pytest

from emotion.labels import FACE_LABELS
from emotion.storage.learning_store import Item, LearningStore


def probs(label: str, p: float) -> dict[str, float]:
    rest = (1 - p) / (len(FACE_LABELS) - 1)
    return {k: (p if k == label else rest) for k in FACE_LABELS}


def item(i: int, label: str = "happy", p: float = 0.5) -> Item:
    return Item(
        source=f"file{i % 3}.mp4",
        modality="face",
        predicted=label,
        probs=probs(label, p),
        features=np.full(7, i, np.float32),
    )


def _writer(path: str, worker: int, n: int) -> None:
    store = LearningStore(path)
    for i in range(n):
        (item_id,) = store.add([item(worker * 1000 + i)])
        store.correct({item_id: "sad"})


@pytest.mark.slow
def test_two_processes_writing_at_once_lose_nothing(tmp_path):
    path = str(tmp_path / "learning.sqlite")
    LearningStore(path)
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(path, w, 60)) for w in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    store = LearningStore(path)
    assert len(store.rows(limit=10_000)) == 120
    assert store.count("face") == 120
    data = store.labelled("face")
    assert len(data["y"]) == 120 and set(data["y"]) == {"sad"}


def test_auto_labels_and_human_override(tmp_path):
    store = LearningStore(tmp_path / "l.sqlite", auto_threshold=0.9)
    confident, unsure = store.add([item(1, "happy", 0.95), item(2, "fear", 0.4)])
    data = store.labelled("face")
    assert list(data["y"]) == ["happy"] and list(data["w"]) == [0.3]  # only the confident one, weighted low
    store.correct({confident: "surprise", unsure: "fear"})
    data = store.labelled("face")
    assert list(data["y"]) == ["surprise", "fear"] and list(data["w"]) == [1.0, 1.0]
    assert np.array_equal(data["X"][0], np.full(7, 1, np.float32))
    rows = store.rows(modality="face", label="surprise")
    assert [r["id"] for r in rows] == [confident] and rows[0]["label_source"] == "human"


def test_held_out_share_and_delete_source(tmp_path):
    store = LearningStore(tmp_path / "l.sqlite", held_out_share=0.2)
    ids = store.add([item(i) for i in range(300)])
    store.correct(dict.fromkeys(ids, "angry"))
    held = store.labelled("face")["held_out"]
    assert 0.1 < held.mean() < 0.3
    again = LearningStore(tmp_path / "l.sqlite", held_out_share=0.2)
    again.correct(dict.fromkeys(ids, "angry"))
    assert np.array_equal(again.labelled("face")["held_out"], held)  # the split never moves
    assert store.delete_source("file0.mp4") == 100
    assert len(store.rows(limit=1000)) == 200


def test_discarded_items_are_gone(tmp_path):
    store = LearningStore(tmp_path / "l.sqlite")
    ids = store.add([item(i) for i in range(5)])
    assert store.delete_ids(ids[:2]) == 2 and store.delete_ids([]) == 0
    assert sorted(r["id"] for r in store.rows()) == ids[2:]
