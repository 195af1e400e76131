"""History of analyses in SQLite: every analysed file, to list, reopen and delete.

The database lives in ``<data dir>/history.sqlite``; the data dir is ``$EMOTION_DATA_DIR`` when set and
``learning_data/`` in the repository otherwise. It runs in WAL mode, so the app can read while another
session writes, and every change is one transaction.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from emotion.record import Result
from emotion.settings import data_dir
from emotion.storage.sqlite import prepare, scrub

DB_NAME = "history.sqlite"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS analyses (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created_at TEXT NOT NULL,
    file TEXT NOT NULL,
    kind TEXT NOT NULL,
    duration REAL NOT NULL DEFAULT 0,
    dominant_emotion TEXT,
    error TEXT,
    record TEXT NOT NULL,
    extras TEXT NOT NULL DEFAULT '{}',
    sha256 TEXT,
    run INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX IF NOT EXISTS analyses_created ON analyses (created_at);
"""
_COLUMNS = {"sha256": "TEXT", "run": "INTEGER NOT NULL DEFAULT 1"}
"""Columns added after the first release, added to older databases on open."""


@dataclass
class Entry:
    """One stored analysis (without its record, for listing)."""

    id: int
    created_at: str
    file: str
    kind: str
    duration: float
    dominant_emotion: str | None
    error: str | None
    run: int = 1

    def label(self) -> str:
        """Return a one-line label: date, file (with its run number after the first), and the emotion or error."""
        when = self.created_at[:16].replace("T", " ")
        what = f"error: {self.error}" if self.error else (self.dominant_emotion or "no face")
        run = f" (run {self.run})" if self.run > 1 else ""
        return f"{when} · {self.file}{run} · {what}"


class History:
    """The analyses database.

    Args:
        path: The SQLite file; ``data_dir()/history.sqlite`` when None. Its folder is created.
    """

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path else data_dir() / DB_NAME
        prepare(self.path, _SCHEMA, "analyses", _COLUMNS)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        conn = sqlite3.connect(self.path, timeout=10)
        try:
            conn.execute("PRAGMA busy_timeout=10000")
            conn.execute("PRAGMA secure_delete=ON")  # a deleted analysis is overwritten, not just unlinked
            with conn:  # one transaction: committed on success, rolled back on error
                yield conn
        finally:
            conn.close()

    def journal_mode(self) -> str:
        """Return SQLite's journal mode for the database ("wal")."""
        with self._connect() as conn:
            return conn.execute("PRAGMA journal_mode").fetchone()[0]

    def add(self, result: Result, extras: dict[str, Any] | None = None, created_at: str | None = None) -> int:
        """Store one analysis and return its id.

        Its run number is one more than the number of stored analyses of the same content (``result.sha256``).

        Args:
            result: The result record (stored whole, as JSON).
            extras: Side data that is not part of the record, such as face thumbnails.
            created_at: ISO time; now (UTC) when None.
        """
        created_at = created_at or datetime.now(UTC).isoformat(timespec="seconds")
        with self._connect() as conn:
            runs = conn.execute("SELECT COALESCE(MAX(run), 0) FROM analyses WHERE sha256 = ?", (result.sha256,))
            run = int(runs.fetchone()[0]) + 1 if result.sha256 else 1
            cur = conn.execute(
                "INSERT INTO analyses (created_at, file, kind, duration, dominant_emotion, error, record, extras,"
                " sha256, run) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    created_at,
                    result.file,
                    result.kind,
                    float(result.duration or 0.0),
                    _dominant(result),
                    result.error,
                    json.dumps(result.to_dict(), ensure_ascii=False),
                    json.dumps(extras or {}),
                    result.sha256,
                    run,
                ),
            )
            assert cur.lastrowid is not None  # an INSERT always sets it
            return cur.lastrowid

    def list(self, limit: int = 500) -> list[Entry]:
        """Return the newest ``limit`` analyses, newest first."""
        with self._connect() as conn:
            rows = conn.execute(
                "SELECT id, created_at, file, kind, duration, dominant_emotion, error, run FROM analyses"
                " ORDER BY created_at DESC, id DESC LIMIT ?",
                (limit,),
            ).fetchall()
        return [Entry(*row) for row in rows]

    def get(self, entry_id: int) -> tuple[Result, dict[str, Any]]:
        """Return the record and the extras of one analysis.

        Raises:
            KeyError: If there is no such analysis.
        """
        with self._connect() as conn:
            row = conn.execute("SELECT record, extras FROM analyses WHERE id = ?", (entry_id,)).fetchone()
        if row is None:
            raise KeyError(f"no analysis with id {entry_id}")
        return Result.from_dict(json.loads(row[0])), json.loads(row[1] or "{}")

    def created_at(self, entry_id: int) -> str | None:
        """Return when an analysis was stored (None if it does not exist)."""
        with self._connect() as conn:
            row = conn.execute("SELECT created_at FROM analyses WHERE id = ?", (entry_id,)).fetchone()
        return row[0] if row else None

    def delete(self, entry_id: int) -> bool:
        """Delete one analysis; return whether it existed."""
        with self._connect() as conn:
            found = conn.execute("DELETE FROM analyses WHERE id = ?", (entry_id,)).rowcount > 0
        scrub(self.path)
        return found

    def clear(self) -> int:
        """Delete every analysis; return how many there were."""
        with self._connect() as conn:
            n = conn.execute("DELETE FROM analyses").rowcount
        scrub(self.path)
        return n

    def __len__(self) -> int:
        with self._connect() as conn:
            return int(conn.execute("SELECT COUNT(*) FROM analyses").fetchone()[0])


def _dominant(result: Result) -> str | None:
    face = result.summary.get("dominant_emotion") if result.summary else None
    if face:
        return face
    voice = result.audio.summary.get("dominant_emotion") if result.audio and result.audio.summary else None
    return f"{voice} (voice)" if voice else None
