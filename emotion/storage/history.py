"""History of analyses in SQLite: every analysed file, to list, reopen and delete.

The database lives in ``<data dir>/history.sqlite``; the data dir is ``$EMOTION_DATA_DIR`` when set and
``learning_data/`` in the repository otherwise. It runs in WAL mode, so the app can read while another
session writes, and every change is one transaction. Every failure is a one-line
:class:`~emotion.storage.sqlite.StoreError`; a damaged file is moved aside and a new one started (see
:mod:`emotion.storage.sqlite`).
"""

from __future__ import annotations

import builtins
import json
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from emotion.errors import one_line
from emotion.record import Result
from emotion.settings import data_dir
from emotion.storage.sqlite import StoreError, guarded, notice, prepare, scrub

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
    run INTEGER NOT NULL DEFAULT 1,
    tags TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS analyses_created ON analyses (created_at);
"""
_COLUMNS = {"sha256": "TEXT", "run": "INTEGER NOT NULL DEFAULT 1", "tags": "TEXT NOT NULL DEFAULT ''"}
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
    tags: list[str] = field(default_factory=list)

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

    Attributes:
        moved: Where a damaged file was moved aside by this object (opening it or using it), else None.

    Raises:
        StoreError: It cannot be created or opened (read-only or missing data folder, full disk).
    """

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path else data_dir() / DB_NAME
        self.moved: Path | None = None
        self.moved = self.start()

    def start(self) -> Path | None:
        """Open the database, creating or migrating it; return where a damaged one was moved aside, if it was."""
        return prepare(self.path, _SCHEMA, "analyses", _COLUMNS)

    def notice(self) -> str | None:
        """A message for as long as a damaged History file lies moved aside beside this one."""
        return notice(self.path, "The History database")

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

    @guarded("read")
    def journal_mode(self) -> str:
        """Return SQLite's journal mode for the database ("wal")."""
        with self._connect() as conn:
            return conn.execute("PRAGMA journal_mode").fetchone()[0]

    @guarded("save to")
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

    @guarded("read")
    def list(
        self,
        limit: int = 500,
        search: str = "",
        since: str | None = None,
        until: str | None = None,
        emotion: str | None = None,
        tag: str | None = None,
    ) -> list[Entry]:
        """Return the newest ``limit`` analyses that match, newest first.

        Args:
            limit: Most entries returned.
            search: Text found (case-insensitive) in the file name, the dominant emotion or the tags.
            since: Earliest date, ISO ("2026-11-30"), inclusive.
            until: Latest date, ISO, inclusive (the whole day).
            emotion: Dominant emotion, exactly (a voice-only entry's is "<label> (voice)").
            tag: One tag the entry carries.
        """
        where, args = ["1=1"], []
        if search.strip():
            where.append("(file LIKE ? ESCAPE '\\' OR dominant_emotion LIKE ? ESCAPE '\\'"
                         " OR tags LIKE ? ESCAPE '\\')")
            text = "%" + search.strip().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            args += [text, text, text]
        if since:
            where.append("created_at >= ?")
            args.append(since)
        if until:
            where.append("created_at < ?")
            args.append(until + "\uffff")
        if emotion:
            where.append("dominant_emotion = ?")
            args.append(emotion)
        if tag:
            where.append("(',' || tags || ',') LIKE ?")
            args.append(f"%,{tag},%")
        with self._connect() as conn:
            rows = conn.execute(
                "SELECT id, created_at, file, kind, duration, dominant_emotion, error, run, tags FROM analyses"
                f" WHERE {' AND '.join(where)} ORDER BY created_at DESC, id DESC LIMIT ?",
                (*args, limit),
            ).fetchall()
        return [_entry(row) for row in rows]

    @guarded("save to")
    def set_tags(self, entry_id: int, tags: Iterable[str]) -> builtins.list[str]:
        """Replace an analysis's tags; return them cleaned (trimmed, no commas, no repeats, at most 40 characters).

        Raises:
            KeyError: If there is no such analysis.
        """
        clean = list(dict.fromkeys(t for t in (" ".join(str(x).replace(",", " ").split())[:40] for x in tags) if t))
        with self._connect() as conn:
            n = conn.execute("UPDATE analyses SET tags = ? WHERE id = ?", (",".join(clean), entry_id)).rowcount
        if not n:
            raise KeyError(f"no analysis with id {entry_id}")
        return clean

    @guarded("read")
    def tags(self) -> builtins.list[str]:
        """Every tag in use, sorted."""
        with self._connect() as conn:
            rows = conn.execute("SELECT DISTINCT tags FROM analyses WHERE tags != ''").fetchall()
        return sorted({t for (text,) in rows for t in str(text).split(",") if t})

    @guarded("read")
    def emotions(self) -> builtins.list[str]:
        """Every dominant emotion stored, sorted."""
        with self._connect() as conn:
            rows = conn.execute("SELECT DISTINCT dominant_emotion FROM analyses WHERE dominant_emotion IS NOT NULL")
            return sorted(str(r[0]) for r in rows.fetchall())

    @guarded("save to")
    def set_extras(self, entry_id: int, updates: dict[str, Any]) -> None:
        """Merge keys into an analysis's extras (its markers, for instance).

        Raises:
            KeyError: If there is no such analysis.
        """
        with self._connect() as conn:
            row = conn.execute("SELECT extras FROM analyses WHERE id = ?", (entry_id,)).fetchone()
            if row is None:
                raise KeyError(f"no analysis with id {entry_id}")
            try:
                extras = json.loads(row[0] or "{}")
            except ValueError:
                extras = {}
            extras = (extras if isinstance(extras, dict) else {}) | updates
            conn.execute("UPDATE analyses SET extras = ? WHERE id = ?", (json.dumps(extras), entry_id))

    @guarded("read")
    def get(self, entry_id: int) -> tuple[Result, dict[str, Any]]:
        """Return the record and the extras of one analysis.

        Raises:
            KeyError: If there is no such analysis.
            StoreError: Its stored record cannot be read (damaged), or the database cannot.
        """
        with self._connect() as conn:
            row = conn.execute("SELECT record, extras FROM analyses WHERE id = ?", (entry_id,)).fetchone()
        if row is None:
            raise KeyError(f"no analysis with id {entry_id}")
        try:
            extras = json.loads(row[1] or "{}")
            return Result.from_dict(json.loads(row[0])), extras if isinstance(extras, dict) else {}
        except (TypeError, ValueError, KeyError, AttributeError, RecursionError) as exc:
            detail = one_line(exc, 120)
            raise StoreError(f"analysis {entry_id} cannot be read: its stored record is damaged ({detail})") from None

    @guarded("read")
    def created_at(self, entry_id: int) -> str | None:
        """Return when an analysis was stored (None if it does not exist)."""
        with self._connect() as conn:
            row = conn.execute("SELECT created_at FROM analyses WHERE id = ?", (entry_id,)).fetchone()
        return row[0] if row else None

    @guarded("delete from")
    def delete(self, entry_id: int) -> bool:
        """Delete one analysis; return whether it existed."""
        with self._connect() as conn:
            found = conn.execute("DELETE FROM analyses WHERE id = ?", (entry_id,)).rowcount > 0
        scrub(self.path)
        return found

    @guarded("delete from")
    def clear(self) -> int:
        """Delete every analysis; return how many there were."""
        with self._connect() as conn:
            n = conn.execute("DELETE FROM analyses").rowcount
        scrub(self.path)
        return n

    @guarded("read")
    def __len__(self) -> int:
        with self._connect() as conn:
            return int(conn.execute("SELECT COUNT(*) FROM analyses").fetchone()[0])


def _entry(row: tuple) -> Entry:
    """An Entry from a row, whatever types a damaged or foreign row holds."""

    def text(value: Any) -> str | None:
        return None if value is None else str(value)

    def number(value: Any, kind: type, default: Any) -> Any:
        try:
            return kind(value)
        except (TypeError, ValueError, OverflowError):
            return default

    id_, created, file, kind, duration, dominant, error, run, tags = row
    return Entry(number(id_, int, 0), text(created) or "", text(file) or "", text(kind) or "",
                 number(duration, float, 0.0), text(dominant), text(error), number(run, int, 1),
                 [t for t in (text(tags) or "").split(",") if t])


def _dominant(result: Result) -> str | None:
    face = result.summary.get("dominant_emotion") if result.summary else None
    if face:
        return face
    voice = result.audio.summary.get("dominant_emotion") if result.audio and result.audio.summary else None
    return f"{voice} (voice)" if voice else None
