"""What both SQLite stores (History and the learning store) do alike: open in WAL mode, migrate, scrub."""

from __future__ import annotations

import sqlite3
from pathlib import Path


def prepare(path: Path, schema: str, table: str, columns: dict[str, str]) -> None:
    """Create the database's tables in WAL mode, and add ``columns`` (name -> SQL type) that an older one lacks."""
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path, timeout=30)
    try:
        db.execute("PRAGMA journal_mode=WAL")
        db.executescript(schema)
        have = {r[1] for r in db.execute(f"PRAGMA table_info({table})")}
        for name, kind in columns.items():
            if name not in have:
                db.execute(f"ALTER TABLE {table} ADD COLUMN {name} {kind}")
        db.commit()
    finally:
        db.close()


def scrub(path: Path) -> None:
    """Flush a WAL database's log into the file and empty it, so deleted rows leave no copy in ``-wal``."""
    db = sqlite3.connect(path, timeout=30)
    try:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        db.close()
