"""The learning store: every analysed face and voice segment, its prediction, and any correction.

SQLite in WAL mode under the data dir (``learning.sqlite``). Every write is one transaction with a
busy timeout, so several app sessions and the retrain process can write at once without losing a row.
Human corrections always win over labels collected automatically from high-confidence predictions. Every failure
is a one-line :class:`~emotion.storage.sqlite.StoreError` (a full disk says so; a damaged file is moved aside and
a new one started: see :mod:`emotion.storage.sqlite`).
"""

from __future__ import annotations

import io
import json
import sqlite3
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, overload

import numpy as np

from emotion.settings import data_dir
from emotion.storage.sqlite import guarded, notice, prepare, scrub

DB_NAME = "learning.sqlite"
HUMAN, AUTO = "human", "auto"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS items (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created REAL NOT NULL,
    source TEXT NOT NULL,
    file TEXT NOT NULL DEFAULT '',
    modality TEXT NOT NULL CHECK (modality IN ('face', 'voice')),
    start REAL NOT NULL DEFAULT 0,
    end REAL NOT NULL DEFAULT 0,
    face_id INTEGER,
    predicted TEXT NOT NULL,
    confidence REAL NOT NULL,
    probs TEXT NOT NULL,
    features BLOB,
    media BLOB,
    label TEXT,
    label_source TEXT CHECK (label_source IN ('human', 'auto') OR label_source IS NULL),
    labelled_at REAL,
    held_out INTEGER NOT NULL DEFAULT 0,
    content TEXT
);
CREATE INDEX IF NOT EXISTS items_modality ON items (modality, label_source);
CREATE INDEX IF NOT EXISTS items_source ON items (source);
"""
_COLUMNS = {"file": "TEXT NOT NULL DEFAULT ''", "content": "TEXT"}
"""Columns added after the first release, added to older stores on open."""


@dataclass
class Item:
    """One face or voice segment to keep.

    Attributes:
        source: What it belongs to (``history:<id>``), so deleting that deletes it; never a path.
        modality: "face" or "voice".
        predicted: The model's label.
        probs: Label -> probability.
        features: The vector the learner trains on (OpenSMILE features, or face-model outputs).
        media: Small bytes to review it by: a JPEG face crop or a WAV segment.
        start: Seconds into the source.
        end: Seconds into the source.
        face_id: The face's track id, for faces.
        file: The analysed file's display name.
        content: The analysed file's sha256, so a re-analysis of the same file is not kept twice.
    """

    source: str
    modality: str
    predicted: str
    probs: dict[str, float]
    features: np.ndarray | None = None
    media: bytes | None = None
    start: float = 0.0
    end: float = 0.0
    face_id: int | None = None
    file: str = ""
    content: str | None = None


def pack(array: np.ndarray | None) -> bytes | None:
    """Store an array as compressed .npy bytes (no pickle)."""
    if array is None:
        return None
    buf = io.BytesIO()
    np.save(buf, np.asarray(array, dtype=np.float32), allow_pickle=False)
    return zlib.compress(buf.getvalue())


@overload
def unpack(blob: bytes) -> np.ndarray: ...
@overload
def unpack(blob: None) -> None: ...
def unpack(blob: bytes | None) -> np.ndarray | None:
    """Inverse of :func:`pack`."""
    return None if blob is None else np.load(io.BytesIO(zlib.decompress(blob)), allow_pickle=False)


class LearningStore:
    """The store of predictions and corrections.

    Args:
        path: The database file; defaults to ``<data dir>/learning.sqlite``.
        auto_threshold: Predictions at least this confident are kept as labelled data ("auto").
        held_out_share: Share of human corrections set aside (by id, deterministically) to judge new models.

    Attributes:
        moved: Where a damaged file was moved aside by this object (opening it or using it), else None.

    Raises:
        StoreError: It cannot be created or opened (read-only or missing data folder, full disk).
    """

    def __init__(
        self, path: str | Path | None = None, auto_threshold: float = 0.9, held_out_share: float = 0.2
    ) -> None:
        self.path = Path(path) if path else data_dir() / DB_NAME
        self.auto_threshold = auto_threshold
        self.held_out_share = held_out_share
        self.moved: Path | None = None
        self.moved = self.start()

    @guarded("open")
    def start(self) -> Path | None:
        """Open the store, creating or migrating it; return where a damaged one was moved aside, if it was."""
        moved = prepare(self.path, _SCHEMA, "items", _COLUMNS)
        with self._db() as db:
            db.execute("CREATE INDEX IF NOT EXISTS items_content ON items (content)")
        return moved

    def notice(self) -> str | None:
        """A message for as long as a damaged learning store lies moved aside beside this one."""
        return notice(self.path, "The learning store")

    @contextmanager
    def _db(self, write: bool = True) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        try:
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute("PRAGMA secure_delete=ON")  # deleted faces and voices are overwritten, not just unlinked
            db.execute("BEGIN IMMEDIATE" if write else "BEGIN")  # readers never take the write lock
            try:
                yield db
                db.execute("COMMIT")
            except BaseException:
                if db.in_transaction:  # SQLite already rolled back after some errors (a full disk)
                    try:
                        db.execute("ROLLBACK")
                    except sqlite3.Error:
                        pass  # the error that brought us here is the one to report
                raise
        finally:
            db.close()

    @guarded("save to")
    def add(self, items: list[Item]) -> list[int]:
        """Store items in one transaction; confident predictions are labelled "auto". Returns their ids."""
        now = time.time()
        ids = []
        with self._db() as db:
            for it in items:
                conf = max(it.probs.values()) if it.probs else 0.0
                auto = conf >= self.auto_threshold
                cur = db.execute(
                    "INSERT INTO items (created, source, file, modality, start, end, face_id, predicted, confidence,"
                    " probs, features, media, label, label_source, labelled_at, content)"
                    " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    (
                        now,
                        it.source,
                        it.file,
                        it.modality,
                        it.start,
                        it.end,
                        it.face_id,
                        it.predicted,
                        conf,
                        json.dumps(it.probs),
                        pack(it.features),
                        it.media,
                        it.predicted if auto else None,
                        AUTO if auto else None,
                        now if auto else None,
                        it.content,
                    ),
                )
                assert cur.lastrowid is not None  # an INSERT always sets it
                ids.append(cur.lastrowid)
        return ids

    @guarded("save to")
    def correct(self, corrections: dict[int, str]) -> int:
        """Set human labels (a confirmation is a correction to the predicted label). Returns rows changed."""
        now = time.time()
        changed = 0
        with self._db() as db:
            for item_id, label in corrections.items():
                held = int((item_id * 2654435761) % 1000 < self.held_out_share * 1000)
                cur = db.execute(
                    "UPDATE items SET label=?, label_source='human', labelled_at=?, held_out=? WHERE id=?",
                    (label, now, held, int(item_id)),
                )
                changed += cur.rowcount
        return changed

    @guarded("read")
    def rows(
        self,
        modality: str | None = None,
        file: str | None = None,
        label: str | None = None,
        min_confidence: float = 0.0,
        max_confidence: float = 1.0,
        limit: int = 1000,
    ) -> list[dict]:
        """List items for review (without features or media), newest first."""
        where = ["confidence BETWEEN ? AND ?"]
        args: list[float | str] = [min_confidence, max_confidence]
        for column, value in (("modality", modality), ("file", file)):
            if value:
                where.append(f"{column} = ?")
                args.append(value)
        if label:
            where.append("(predicted = ? OR label = ?)")
            args += [label, label]
        sql = (
            "SELECT id, created, source, file, modality, start, end, face_id, predicted, confidence, label,"
            f" label_source FROM items WHERE {' AND '.join(where)} ORDER BY id DESC LIMIT ?"
        )
        with self._db(write=False) as db:
            db.row_factory = sqlite3.Row
            return [dict(r) for r in db.execute(sql, (*args, limit))]

    def media(self, item_id: int) -> bytes | None:
        """The stored crop or audio of one item."""
        return self.medias([item_id]).get(item_id)

    @guarded("read")
    def medias(self, ids: list[int]) -> dict[int, bytes]:
        """The stored crops or audio of several items, in one query: id -> bytes (items without media left out)."""
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        with self._db(write=False) as db:
            rows = db.execute(f"SELECT id, media FROM items WHERE id IN ({marks}) AND media IS NOT NULL", ids)
            return {int(i): m for i, m in rows}

    @guarded("read")
    def labelled(self, modality: str, human_weight: float = 1.0, auto_weight: float = 0.3) -> dict[str, Any]:
        """Training data: features ``X``, labels ``y``, weights ``w``, ``held_out`` flags, ``ids``, ``sources``."""
        with self._db(write=False) as db:
            rows = db.execute(
                "SELECT id, features, label, label_source, held_out, source FROM items"
                " WHERE modality=? AND label IS NOT NULL AND features IS NOT NULL ORDER BY id",
                (modality,),
            ).fetchall()
        if not rows:
            return {
                "X": np.zeros((0, 0)),
                "y": np.array([]),
                "w": np.array([]),
                "held_out": np.array([], bool),
                "ids": [],
                "sources": np.array([]),
            }
        return {
            "X": np.stack([unpack(r[1]) for r in rows]),
            "y": np.array([r[2] for r in rows]),
            "w": np.array([human_weight if r[3] == HUMAN else auto_weight for r in rows]),
            "held_out": np.array([bool(r[4]) for r in rows]),
            "ids": [r[0] for r in rows],
            "sources": np.array([r[5] for r in rows]),
        }

    @guarded("read")
    def size(self, modality: str | None = None) -> int:
        """How many items are stored (of one modality)."""
        sql, args = "SELECT COUNT(*) FROM items", []
        if modality:
            sql, args = sql + " WHERE modality=?", [modality]
        with self._db(write=False) as db:
            return int(db.execute(sql, args).fetchone()[0])

    @guarded("read")
    def files(self) -> list[str]:
        """The display names of every file with stored items, sorted."""
        with self._db(write=False) as db:
            return [r[0] for r in db.execute("SELECT DISTINCT file FROM items ORDER BY file")]

    @guarded("read")
    def count(self, modality: str | None = None, since: float = 0.0, human_only: bool = True) -> int:
        """Labels given after ``since`` (a timestamp): human ones, or with ``human_only=False`` collected ones too."""
        sql = "SELECT COUNT(*) FROM items WHERE labelled_at > ?" + (" AND label_source='human'" if human_only else "")
        args: list = [since]
        if modality:
            sql += " AND modality=?"
            args.append(modality)
        with self._db(write=False) as db:
            return int(db.execute(sql, args).fetchone()[0])

    @guarded("delete from")
    def delete_ids(self, ids: list[int]) -> int:
        """Delete single items (a false face, a segment without a voice). Returns rows deleted."""
        if not ids:
            return 0
        with self._db() as db:
            n = sum(db.execute("DELETE FROM items WHERE id=?", (int(i),)).rowcount for i in ids)
        scrub(self.path)
        return n

    @guarded("read")
    def sources_of(self, content: str) -> list[str]:
        """The sources (``history:<id>``) that already hold items of a file with this sha256."""
        with self._db(write=False) as db:
            rows = db.execute("SELECT DISTINCT source FROM items WHERE content=?", (content,)).fetchall()
        return [r[0] for r in rows]

    @guarded("delete from")
    def delete_source(self, source: str) -> int:
        """Delete every item of one source (its crops, segments and features). Returns rows deleted."""
        with self._db() as db:
            n = db.execute("DELETE FROM items WHERE source=?", (source,)).rowcount
        scrub(self.path)
        return n

    @guarded("delete from")
    def clear(self) -> None:
        """Delete everything in the store."""
        with self._db() as db:
            db.execute("DELETE FROM items")
        scrub(self.path)
