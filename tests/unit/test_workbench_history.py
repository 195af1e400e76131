"""History's tags, search and filters, markers kept in an entry's extras, and the tags column added to old files."""

from __future__ import annotations

import json
import sqlite3

import pytest

from emotion.record import Result
from emotion.storage.history import History


def rec(name: str, emotion: str | None) -> Result:
    return Result(file=name, kind="video", duration=3.0, summary={"dominant_emotion": emotion}, sha256=name)


def test_tags_search_and_filters(tmp_path):
    history = History(tmp_path / "h.sqlite")
    a = history.add(rec("participant_01.mp4", "happy"), created_at="2026-11-01T10:00:00+00:00")
    b = history.add(rec("participant_02.mp4", "sad"), created_at="2026-11-20T10:00:00+00:00")
    c = history.add(rec("ad_50%_off.mp4", "happy"), created_at="2026-11-29T10:00:00+00:00")
    assert history.set_tags(a, ["control", " group A ", "control", "x,y"]) == ["control", "group A", "x y"]
    history.set_tags(b, ["treatment"])
    assert history.tags() == ["control", "group A", "treatment", "x y"]
    assert [e.id for e in history.list(search="PARTICIPANT")] == [b, a]
    assert [e.id for e in history.list(search="50%")] == [c]  # % is literal, not a wildcard
    d = history.add(rec("axb.mp4", None), created_at="2026-11-29T11:00:00+00:00")
    assert [e.id for e in history.list(search="a_b")] == []  # _ is literal too
    assert [e.id for e in history.list(search="axb")] == [d]
    assert [e.id for e in history.list(emotion="happy")] == [c, a]
    assert [e.id for e in history.list(tag="control")] == [a]
    assert [e.id for e in history.list(tag="group")] == []  # whole tags only
    assert [e.id for e in history.list(since="2026-11-02", until="2026-11-20")] == [b]
    assert history.list(tag="treatment")[0].tags == ["treatment"]
    assert history.emotions() == ["happy", "sad"]
    with pytest.raises(KeyError):
        history.set_tags(999, ["x"])


def test_markers_kept_in_extras(tmp_path):
    history = History(tmp_path / "h.sqlite")
    entry = history.add(rec("a.mp4", "happy"), {"thumbnails": {"1": "AAAA"}})
    history.set_extras(entry, {"markers": [{"start": 1.0, "end": 2.0, "label": "question"}]})
    _, extras = history.get(entry)
    assert extras["thumbnails"] == {"1": "AAAA"} and extras["markers"][0]["label"] == "question"


def test_an_old_history_gains_the_tags_column(tmp_path):
    path = tmp_path / "old.sqlite"
    with sqlite3.connect(path) as conn:  # the first release's table: no sha256, run or tags
        conn.execute("CREATE TABLE analyses (id INTEGER PRIMARY KEY AUTOINCREMENT, created_at TEXT NOT NULL, file TEXT"
                     " NOT NULL, kind TEXT NOT NULL, duration REAL NOT NULL DEFAULT 0, dominant_emotion TEXT, error"
                     " TEXT, record TEXT NOT NULL, extras TEXT NOT NULL DEFAULT '{}')")
        conn.execute("INSERT INTO analyses (created_at, file, kind, record) VALUES ('2026-01-01', 'old.mp4', 'video',"
                     " ?)", (json.dumps(rec("old.mp4", "sad").to_dict()),))
    conn.close()
    history = History(path)
    assert history.list()[0].tags == []
    history.set_tags(1, ["pilot"])
    assert history.list(tag="pilot")[0].file == "old.mp4"
