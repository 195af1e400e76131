"""What both SQLite stores (History and the learning store) do alike: open, migrate, scrub, fail in one line.

Both run in WAL mode. A store that cannot be written (a read-only or missing data folder, a full disk, a lock
held too long) raises :class:`StoreError`, whose message says which file and why, and the file is left as it is.
A file that is not a database, or is damaged, cannot be used at all: it is moved aside, untouched, to
``<name>.damaged-<time>.sqlite`` (with its ``-wal`` and ``-shm``), a new one is started, and
:func:`moved_aside` lists the copies, so the pages can say where they are for as long as they exist.
"""

from __future__ import annotations

import errno
import fcntl
import functools
import os
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar, cast

from emotion.errors import EmotionError, one_line

DAMAGED = "damaged"
"""The tag in the name of a moved-aside store: ``history.damaged-20261130-120102.sqlite``."""
_CORRUPT = {sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB}
_REASONS = {
    sqlite3.SQLITE_READONLY: "the data folder is read-only",
    sqlite3.SQLITE_PERM: "the data folder is read-only",
    sqlite3.SQLITE_FULL: "the disk is full",
    sqlite3.SQLITE_CANTOPEN: "it cannot be opened (is the data folder there, writable, and is this a file?)",
    sqlite3.SQLITE_BUSY: "another process holds it locked; try again",
    sqlite3.SQLITE_LOCKED: "another process holds it locked; try again",
    sqlite3.SQLITE_IOERR: "the disk could not be read or written",
    sqlite3.SQLITE_CORRUPT: "it is damaged",
    sqlite3.SQLITE_NOTADB: "it is not a database",
}
_ERRNOS = {
    errno.EROFS: "the folder is read-only",
    errno.EACCES: "the folder is read-only or not ours",
    errno.EPERM: "the folder is read-only or not ours",
    errno.ENOSPC: "the disk is full",
    errno.EDQUOT: "the disk quota is used up",
    errno.EFBIG: "the disk is full (file size limit)",
    errno.ENOTDIR: "a part of the path is a file, not a folder",
    errno.EEXIST: "a part of the path is a file, not a folder",
    errno.ENOENT: "the folder does not exist",
    errno.EISDIR: "it is a folder",
    errno.ENAMETOOLONG: "the path is too long",
}


class StoreError(EmotionError):
    """A store cannot be opened, read or written; the message says which file and why, in one line."""


def code(exc: BaseException) -> int:
    """SQLite's primary result code of an error (0 when it has none)."""
    return int(getattr(exc, "sqlite_errorcode", 0) or 0) & 0xFF


def reason(exc: BaseException) -> str:
    """Why a store failed, in words, with the system's own message in brackets."""
    detail_text = exc.strerror[:200] if isinstance(exc, OSError) and exc.strerror else one_line(exc, 200)
    if isinstance(exc, OSError):
        why = _ERRNOS.get(exc.errno or 0)
    elif isinstance(exc, UnicodeError):
        why = "a name in it is not valid text"
    else:
        why = _REASONS.get(code(exc))
    return f"{why} ({detail_text})" if why else detail_text


def failure(path: Path, exc: BaseException, doing: str = "use") -> StoreError:
    """A :class:`StoreError` saying that ``path`` could not be used, and why."""
    return StoreError(f"cannot {doing} {path.name} in {path.parent}: {reason(exc)}")


def _siblings(path: Path) -> list[Path]:
    return [path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")]


def moved_aside(path: Path) -> list[Path]:
    """The moved-aside copies of a store, oldest first."""
    try:
        return sorted(path.parent.glob(f"{path.stem}.{DAMAGED}-*{path.suffix}"))
    except OSError:
        return []


def notice(path: Path, what: str) -> str | None:
    """A lasting message about a store's moved-aside copies (None when there are none)."""
    copies = moved_aside(path)
    if not copies:
        return None
    more = f" ({len(copies)} copies in all)" if len(copies) > 1 else ""
    return (
        f"{what} ({path.name}) could not be read and was moved aside, untouched, to {copies[-1]}{more}; a new one "
        f"was started. Recover from the copy with sqlite3's .recover if you need it, then delete it."
    )


def damaged(path: Path, schema: str = "", table: str = "", columns: dict[str, str] | None = None) -> bool:
    """Whether the file at ``path`` is damaged or not a database (a missing file is not damaged).

    Given a schema, also whether ``table`` is not ours: a view, or lacking columns that no migration in ``columns``
    adds.
    """
    if not path.exists():
        return False
    try:
        db = sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro", uri=True, timeout=5)
    except sqlite3.Error:
        return False  # it cannot even be opened: not damage we can judge
    try:
        if db.execute("PRAGMA quick_check").fetchone()[0] != "ok":
            return True
        return bool(schema) and _foreign(db, schema, table, columns or {}) is not None
    except sqlite3.DatabaseError as exc:
        return code(exc) in _CORRUPT
    finally:
        db.close()


def set_aside(path: Path, still_bad: Callable[[Path], bool] = damaged) -> Path | None:
    """Move a damaged database (and its ``-wal`` and ``-shm``) aside, untouched, under a timestamped name.

    Checked again (``still_bad``) under a lock first, so that when two processes find the damage, only one moves
    it and the other does not move the new database that the first one started.

    Returns:
        The new name of the damaged file, or None when it was sound (or gone) by then.
    """
    with open(path.with_name(f".{path.name}.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not still_bad(path):
            return None
        stamp = time.strftime("%Y%m%d-%H%M%S")
        target = path.with_name(f"{path.stem}.{DAMAGED}-{stamp}{path.suffix}")
        n = 1
        while target.exists():
            n += 1
            target = path.with_name(f"{path.stem}.{DAMAGED}-{stamp}-{n}{path.suffix}")
        for old, new in zip(_siblings(path), _siblings(target)):
            if old.exists():
                os.replace(old, new)
        return target


def remove_aside(path: Path) -> int:
    """Delete a store's moved-aside copies (they hold personal data too); return how many there were."""
    copies = moved_aside(path)
    for copy in copies:
        for part in _siblings(copy):
            part.unlink(missing_ok=True)
    return len(copies)


def _columns(db: sqlite3.Connection, table: str) -> set[str]:
    return {r[1] for r in db.execute(f"PRAGMA table_info({table})")}


def _foreign(db: sqlite3.Connection, schema: str, table: str, columns: dict[str, str]) -> str | None:
    """Why ``table`` in ``db`` is not ours (a view, or lacking columns that no migration adds), or None."""
    kinds = [r[0] for r in db.execute("SELECT type FROM sqlite_master WHERE name = ?", (table,))]
    if not kinds:
        return None
    if kinds != ["table"]:
        return f"its {table} is a {kinds[0]}, not a table"
    missing = _wanted(schema, table) - _columns(db, table) - set(columns)
    return f"its {table} table lacks {', '.join(sorted(missing))}" if missing else None


def _wanted(schema: str, table: str) -> set[str]:
    """The columns ``schema`` gives ``table``."""
    want = sqlite3.connect(":memory:")
    try:
        want.executescript(schema)
        return _columns(want, table)
    finally:
        want.close()


def prepare(path: Path, schema: str, table: str, columns: dict[str, str]) -> Path | None:
    """Create the database's tables in WAL mode, and add ``columns`` (name -> SQL type) that an older one lacks.

    A file that is not a database, is damaged, or holds a table of that name that no migration can mend is moved
    aside (see :func:`set_aside`) and a new database is started.

    Returns:
        Where the damaged file was moved, when it was.

    Raises:
        StoreError: The database cannot be created or opened (read-only or missing folder, full disk, locked).
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise failure(path, exc, "create") from None
    moved = None
    for attempt in range(2):
        try:
            _prepare(path, schema, table, columns)
            return moved
        except sqlite3.Error as exc:
            bad = code(exc) in _CORRUPT or isinstance(exc, _Mismatch)
            if not bad or attempt:
                raise failure(path, exc, "open") from None
            try:
                moved = set_aside(path, lambda p: damaged(p, schema, table, columns))
            except OSError as err:
                raise failure(path, err, "move aside the damaged") from None
    return moved


class _Mismatch(sqlite3.DatabaseError):
    """The file is a database, but its table is not ours."""

    sqlite_errorcode = sqlite3.SQLITE_ERROR


def _prepare(path: Path, schema: str, table: str, columns: dict[str, str]) -> None:
    db = sqlite3.connect(path, timeout=30)
    try:
        why = _foreign(db, schema, table, columns)  # read before anything is written: a foreign file stays as it is
        if why:
            raise _Mismatch(why)
        db.execute("PRAGMA journal_mode=WAL")
        try:
            db.executescript(schema)
        except sqlite3.OperationalError as exc:  # e.g. a view or an index of that name
            if code(exc) == sqlite3.SQLITE_ERROR:
                raise _Mismatch(f"it holds a {table} that is not ours ({exc})") from None
            raise
        have = _columns(db, table)
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


F = TypeVar("F", bound=Callable[..., Any])


def guarded(doing: str) -> Callable[[F], F]:
    """Make a store method fail with a :class:`StoreError` only, and survive a database found damaged.

    When SQLite finds the file damaged, it is moved aside (:func:`set_aside`), a new one is started
    (``store.start()``) and the method runs once more on it, so a save still lands; ``store.moved`` then says
    where the old file went.

    Args:
        doing: What the method does, for the message ("save to", "read", "delete from").
    """

    def wrap(method: F) -> F:
        @functools.wraps(method)
        def run(self: Any, *args: Any, **kwargs: Any) -> Any:
            for attempt in range(2):
                try:
                    return method(self, *args, **kwargs)
                except (sqlite3.Error, OSError, UnicodeError, OverflowError) as exc:
                    if attempt or code(exc) not in _CORRUPT:
                        raise failure(self.path, exc, doing) from None
                    try:
                        self.moved = set_aside(self.path) or self.moved
                        self.start()
                    except (sqlite3.Error, OSError, StoreError):
                        raise failure(self.path, exc, doing) from None
            raise AssertionError("unreachable")

        return cast(F, run)

    return wrap
