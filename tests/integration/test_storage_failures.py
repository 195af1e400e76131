"""Read-only, full and damaged storage: a clear, lasting message, the file kept untouched, analysis still works.

The tests run as root, where ``chmod`` stops no write, so a read-only data folder is made with tricks that fail
for root too: the data dir path lies under a regular *file* (nothing can be created in it), or the database path
is a *folder*. A full disk is ``/dev/full`` in place of the database (every write fails with ENOSPC) or a child
process under ``RLIMIT_FSIZE`` (writes past the limit fail; ``python`` ignores SIGXFSZ). Damaged stores are
random bytes, a truncated database, and a database of someone else's tables.
"""

from __future__ import annotations

import hashlib
import io
import json
import multiprocessing as mp
import os
import re
import resource
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest

from emotion import privacy
from emotion.analysis import batch
from emotion.analysis.batch import Source
from emotion.analysis.uploads import private_copy, sweep, work_folder
from emotion.record import Result
from emotion.settings import Settings
from emotion.storage.history import History
from emotion.storage.learning_store import Item, LearningStore
from emotion.storage.sqlite import StoreError, moved_aside
from tests.conftest import MEDIA, ROOT, need
from tests.e2e.test_app import at, upload  # noqa: F401 - the app fixture and upload helper of the app tests

pytestmark = [pytest.mark.needs_data]


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def cli(*args: str, env: dict | None = None, limit: int = 0) -> subprocess.CompletedProcess:
    """Run ``python -m emotion``; with ``limit``, no file it writes may grow past that many bytes (a full disk)."""

    cmd = [sys.executable, "-m", "emotion", *args]
    if limit:  # set in the child before it runs the CLI: a preexec_fn runs Python in a fork of this threaded process
        cmd = [sys.executable, "-c", FULL_DISK, str(limit), *args]
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300, env=env)


FULL_DISK = (
    "import resource, runpy, sys\n"
    "limit = int(sys.argv.pop(1))\n"
    "resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))\n"
    "sys.argv[0] = 'emotion'\n"
    "runpy.run_module('emotion', run_name='__main__', alter_sys=True)\n"
)
"""Runs ``python -m emotion`` with a cap on the size of any file it writes (a full disk)."""


def shown(markdown: str) -> str:
    """What a Markdown message shows: escapes undone."""
    return re.sub(r"\\(.)", r"\1", markdown)


def one_line(text: str) -> None:
    assert "Traceback" not in text and 'File "' not in text, text[-2000:]


def damage(path: Path, how: str) -> None:
    """Make ``path`` a damaged store: random bytes, a truncated database, or a database of other tables."""
    if how == "random":
        path.write_bytes(np.random.default_rng(1).integers(0, 256, 20000, dtype=np.uint8).tobytes())
    elif how == "header":  # looks like SQLite, then garbage
        path.write_bytes(b"SQLite format 3\x00" + bytes(range(256)) * 40)
    elif how == "truncated":
        history = History(path)
        for i in range(200):
            history.add(Result(file=f"x{i}.jpg", kind="image", notes=["n" * 3000]))
        sqlite3.connect(path).execute("PRAGMA wal_checkpoint(TRUNCATE)").close()
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2])
        for extra in (path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
            extra.unlink(missing_ok=True)
    elif how == "foreign":
        db = sqlite3.connect(path)
        db.executescript("CREATE TABLE analyses (a, b); CREATE VIEW items AS SELECT 1 AS x;")
        db.commit()
        db.close()


# ---------------------------------------------------------------------------------------------------------------
# the stores


@pytest.mark.parametrize("how", ["random", "header", "truncated", "foreign"])
@pytest.mark.parametrize("kind", [History, LearningStore])
@pytest.mark.slow
def test_a_damaged_store_is_moved_aside_untouched_and_a_new_one_works(tmp_path, how, kind):
    path = tmp_path / ("history.sqlite" if kind is History else "learning.sqlite")
    damage(path, how)
    before = digest(path)
    store = kind(path)
    assert store.moved is not None and digest(store.moved) == before  # byte for byte what it was
    assert store.moved.name.startswith(f"{path.stem}.damaged-") and store.moved.suffix == ".sqlite"
    notice = store.notice()
    assert notice and str(store.moved) in notice and "\n" not in notice
    if kind is History:
        assert store.add(Result(file="a.jpg", kind="image")) == 1 and len(store.list()) == 1
    else:
        assert store.add([Item("history:1", "face", "happy", {"happy": 1.0}, np.zeros(7))]) and store.size() == 1
    again = kind(path)  # the message lasts: every later open says so, until the copy is deleted
    assert again.moved is None and again.notice() == notice
    assert moved_aside(path) == [store.moved]


def test_damage_found_while_in_use_moves_it_aside_and_the_save_still_lands(tmp_path):
    path = tmp_path / "history.sqlite"
    history = History(path)
    history.add(Result(file="old.jpg", kind="image"))
    path.with_name(path.name + "-shm").unlink(missing_ok=True)
    sqlite3.connect(path).execute("PRAGMA wal_checkpoint(TRUNCATE)").close()
    with open(path, "r+b") as f:  # overwrite the table's page, as a disk fault would
        f.seek(4096)
        f.write(b"\xff" * 4096)
    before = digest(path)
    new_id = history.add(Result(file="new.jpg", kind="image"))
    assert history.moved is not None and digest(history.moved) == before
    assert [e.file for e in history.list()] == ["new.jpg"] and new_id == 1


@pytest.mark.slow
def test_two_processes_finding_the_damage_move_it_once(tmp_path):
    path = tmp_path / "learning.sqlite"
    damage(path, "random")
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=LearningStore, args=(str(path),)) for _ in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert all(p.exitcode == 0 for p in procs)
    assert len(moved_aside(path)) == 1 and LearningStore(path).size() == 0


@pytest.mark.parametrize("kind", [History, LearningStore])
def test_read_only_or_full_store_fails_in_one_line_and_stays_as_it_is(tmp_path, kind):
    name = "history.sqlite" if kind is History else "learning.sqlite"
    (tmp_path / "file").write_text("a file where the data folder should be")
    cases = {
        tmp_path / "file" / "data" / name: "a part of the path is a file",  # a data folder that cannot be made
        tmp_path / "dir" / name: "cannot be opened",  # the database path is a folder
        tmp_path / "full" / name: "the disk is full",  # every write fails with ENOSPC
    }
    (tmp_path / "dir" / name).mkdir(parents=True)
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / name).symlink_to("/dev/full")
    for path, words in cases.items():
        with pytest.raises(StoreError) as err:
            kind(path)
        assert words in str(err.value) and str(path.parent) in str(err.value) and "\n" not in str(err.value)
        assert not moved_aside(path)
    assert (tmp_path / "file").read_text() == "a file where the data folder should be"
    assert (tmp_path / "dir" / name).is_dir() and (tmp_path / "full" / name).is_symlink()


def _fill(path: str, queue) -> None:  # noqa: ANN001
    """In a child: a store that is already there, then a disk that fills up mid-transaction."""
    store = LearningStore(path)
    resource.setrlimit(resource.RLIMIT_FSIZE, (300_000, 300_000))
    rng = np.random.default_rng(0)
    try:
        store.add([Item("history:2", "voice", "calm", {"calm": 0.5}, rng.normal(size=6373),
                        rng.integers(0, 256, 100_000, dtype=np.uint8).tobytes()) for _ in range(8)])
        queue.put("saved")
    except StoreError as exc:
        queue.put(str(exc))
    queue.put(store.size())


@pytest.mark.slow
def test_a_disk_that_fills_mid_write_says_so_not_cannot_rollback(tmp_path):
    path = tmp_path / "learning.sqlite"
    LearningStore(path).add([Item("history:1", "face", "happy", {"happy": 1.0}, np.zeros(7))])
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_fill, args=(str(path), queue))
    proc.start()
    message, size = queue.get(timeout=60), queue.get(timeout=60)
    proc.join(30)
    assert proc.exitcode == 0
    assert message.startswith("cannot save to learning.sqlite") and "disk" in message, message
    assert "rollback" not in message and size == 1  # nothing half-written; the earlier item is still there
    assert LearningStore(path).size() == 1


def test_a_damaged_record_in_history_is_one_line(tmp_path):
    history = History(tmp_path / "h.sqlite")
    good = history.add(Result(file="a.jpg", kind="image"))
    db = sqlite3.connect(history.path)
    db.execute("INSERT INTO analyses (created_at, file, kind, duration, record) VALUES (?, ?, ?, ?, ?)",
               ("x", 5, "k", "not a number", "[" * 100000))
    db.execute("INSERT INTO analyses (created_at, file, kind, record) VALUES ('y', 'b', 'k', '{\"frames\": 3}')")
    db.commit()
    db.close()
    assert [e.file for e in history.list()] == ["b", "5", "a.jpg"]  # odd types listed, not a crash
    for bad in (2, 3):
        with pytest.raises(StoreError, match=f"analysis {bad} cannot be read"):
            history.get(bad)
    assert history.get(good)[0].file == "a.jpg"


def test_delete_all_removes_the_moved_aside_copies_too(tmp_path):
    data = Path(os.environ["EMOTION_DATA_DIR"])
    damage(data / "history.sqlite", "random")
    damage(data / "learning.sqlite", "random")
    assert History().moved and LearningStore().moved
    assert privacy.delete_all() == {"analyses": 0, "items": 0}
    assert not moved_aside(data / "history.sqlite") and not moved_aside(data / "learning.sqlite")
    assert History().notice() is None


@pytest.mark.parametrize("text", [b"[]", b"null", b"\xff\xfe\x00binary", b'{"active": "v1"}', b"{}",
                                  b'{"active": "v1", "versions": [{"x": 1}]}', b'{"active": 3, "versions": {}}'])
def test_a_damaged_model_registry_never_stops_an_analysis(text, models):
    from emotion.analysis.pipeline import Models

    data = Path(os.environ["EMOTION_DATA_DIR"])
    for modality in ("face", "voice"):
        (data / "models" / modality).mkdir(parents=True)
        (data / "models" / modality / "registry.json").write_bytes(text)
    (done,) = batch.run([Source.file(need(MEDIA / "single_face.jpg"))], Settings(), Models.load(Settings()))
    assert done.result.error is None and len(done.result.frames[0].faces) == 1
    assert done.result.produced_by["face_model_version"] == "base"
    assert all((data / "models" / m / "registry.json").read_bytes() == text for m in ("face", "voice"))  # untouched


# ---------------------------------------------------------------------------------------------------------------
# the batch flow and the CLI


@pytest.fixture()
def read_only_data(tmp_path, monkeypatch) -> Path:
    """A data dir that cannot be created, even by root: its path lies under a regular file."""
    (tmp_path / "file").write_text("x")
    data = tmp_path / "file" / "data"
    monkeypatch.setenv("EMOTION_DATA_DIR", str(data))
    return data


def test_batch_with_a_read_only_data_dir_still_analyses_and_says_why(read_only_data, models):
    image = need(MEDIA / "multi_face.jpg")
    done = list(batch.run([Source.file(image), Source.upload(io.BytesIO(image.read_bytes()), "b.jpg")],
                          Settings(auto_export=True), models))
    assert [a.result.error for a in done] == [None, None] and len(done[1].result.frames[0].faces) == 5
    for analysis in done:
        assert analysis.history_id is None and analysis.kept == 0
        assert any(m.startswith("could not save to History: cannot create history.sqlite") for m in analysis.messages)
        assert any(m.startswith("could not auto-export:") for m in analysis.messages)
        assert all("\n" not in m and "Traceback" not in m for m in analysis.messages)


def test_batch_with_damaged_stores_moves_them_aside_and_saves(models):
    data = Path(os.environ["EMOTION_DATA_DIR"])
    damage(data / "history.sqlite", "random")
    damage(data / "learning.sqlite", "header")
    (first,) = batch.run([Source.file(need(MEDIA / "multi_face.jpg"))], Settings(), models)
    assert first.history_id == 1 and first.kept == 5
    assert sum("moved aside" in m for m in first.messages) == 2, first.messages
    (second,) = batch.run([Source.file(need(MEDIA / "single_face.jpg"))], Settings(), models)
    assert second.history_id == 2 and not any("moved aside" in m for m in second.messages)  # said once


@pytest.mark.slow
def test_cli_with_a_read_only_data_dir(tmp_path, read_only_data):
    image = str(need(MEDIA / "multi_face.jpg"))
    out = tmp_path / "r.json"
    proc = cli("analyze", image, image, "--keep", "--quiet", "--no-audio", "--out", str(out), "--auto-export")
    one_line(proc.stderr)
    assert proc.returncode == 1
    assert len(json.loads(out.read_text())) == 2  # every result written
    lines = proc.stderr.strip().splitlines()
    saving = f"{image}: could not save to History: cannot create history.sqlite in {read_only_data}"
    assert sum(line.startswith(saving) for line in lines) == 1  # said once, not once a file
    assert lines[-1] == "2 of 2 analyses could not be saved to History"
    assert any(line.startswith("(and for 1 more file: could not save to History") for line in lines)
    for args in (["retrain"], ["retrain", "--background"], ["history", "list"], ["history", "delete", "1"],
                 ["models", "rollback", "base", "--modality", "face"]):
        proc = cli(*args)
        one_line(proc.stderr)
        assert proc.returncode == 1 and ("not retrained" in proc.stderr or "error:" in proc.stderr), args


@pytest.mark.slow
def test_cli_with_a_full_disk_loses_no_result(tmp_path):
    image = str(need(MEDIA / "multi_face.jpg"))
    out = tmp_path / "r.json"
    proc = cli("analyze", image, str(need(MEDIA / "single_face.jpg")), "--keep", "--quiet", "--no-audio",
               "--out", str(out), limit=40_000)
    one_line(proc.stderr)
    assert proc.returncode == 1 and "could not save to History" in proc.stderr and "rollback" not in proc.stderr
    assert [r["file"] for r in json.loads(out.read_text())] == ["multi_face.jpg", "single_face.jpg"]


@pytest.mark.slow
def test_cli_with_damaged_stores(tmp_path):
    data = Path(os.environ["EMOTION_DATA_DIR"])
    damage(data / "history.sqlite", "truncated")
    damage(data / "learning.sqlite", "random")
    before = digest(data / "history.sqlite")
    proc = cli("analyze", str(need(MEDIA / "multi_face.jpg")), "--keep", "--quiet", "--no-audio",
               "--out", str(tmp_path / "r.json"))
    one_line(proc.stderr)
    assert proc.returncode == 0 and "saved to History as entry 1; kept 5 faces" in proc.stderr
    assert proc.stderr.count("moved aside, untouched, to") == 2
    (copy,) = moved_aside(data / "history.sqlite")
    assert digest(copy) == before
    listed = cli("history", "list")
    assert listed.returncode == 0 and "multi_face.jpg" in listed.stdout


# ---------------------------------------------------------------------------------------------------------------
# the app


@pytest.mark.slow
def test_app_with_a_read_only_data_dir_shows_and_keeps_the_warning(at, tmp_path, monkeypatch):  # noqa: F811
    (tmp_path / "file").write_text("x")
    monkeypatch.setenv("EMOTION_DATA_DIR", str(tmp_path / "file" / "data"))
    upload(at, ("me.jpg", need(MEDIA / "single_face.jpg").read_bytes(), "image/jpeg"))
    assert not at.exception and not at.error
    assert at.metric[0].value.split()[-1]  # the result is shown
    warned = [shown(w.value) for w in at.warning if "could not save to History" in w.value]
    assert len(warned) == 1 and "cannot create history.sqlite" in warned[0]
    at.run()  # the warning lasts: it is shown with the result, not only as a toast
    assert [shown(w.value) for w in at.warning if "could not save to History" in w.value] == warned
    for page in ("pages/history.py", "pages/review.py"):
        at.switch_page(page).run()
        assert not at.exception, page
        assert any("a part of the path is a file" in e.value for e in at.error), page
    at.switch_page("pages/analyze.py").run()
    assert [shown(w.value) for w in at.warning if "could not save to History" in w.value] == warned


@pytest.mark.slow
def test_app_with_damaged_stores_says_where_they_went(at, tmp_path):  # noqa: F811
    data = tmp_path / "data"
    data.mkdir(exist_ok=True)
    damage(data / "history.sqlite", "random")
    damage(data / "learning.sqlite", "header")
    before = {name: digest(data / name) for name in ("history.sqlite", "learning.sqlite")}
    for page, name in (("pages/history.py", "history.sqlite"), ("pages/review.py", "learning.sqlite")):
        at.switch_page(page).run()
        assert not at.exception, page
        (copy,) = moved_aside(data / name)
        assert digest(copy) == before[name]
        for _ in range(2):  # said on every visit, for as long as the copy is there
            (warning,) = [shown(w.value) for w in at.warning if "moved aside" in w.value]
            assert str(copy) in warning
            at.run()
    at.switch_page("pages/analyze.py").run()
    upload(at, ("me.jpg", need(MEDIA / "single_face.jpg").read_bytes(), "image/jpeg"))
    assert not at.warning and History().list()[0].file == "me.jpg"


# ---------------------------------------------------------------------------------------------------------------
# leftovers


def _copy_forever(root: str) -> None:
    tempfile.tempdir = root

    class Endless(io.RawIOBase):
        def readable(self) -> bool:
            return True

        def seekable(self) -> bool:
            return True

        def seek(self, offset: int, whence: int = 0) -> int:
            return 0

        def readinto(self, buffer) -> int:  # noqa: ANN001
            time.sleep(0.01)
            buffer[:4] = b"data"
            return 4

    with private_copy(io.BufferedReader(Endless()), "x.mp4"):
        pass


def test_work_folders_of_a_killed_process_are_swept(tmp_path):
    root = tmp_path / "tmp"
    root.mkdir()
    proc = mp.get_context("spawn").Process(target=_copy_forever, args=(str(root),))
    proc.start()
    deadline = time.time() + 30
    while not list(root.glob("emotion-upload-p*/upload.mp4")) and time.time() < deadline:  # the copy has begun
        time.sleep(0.05)
    assert sweep(root) == 0  # its process runs: left alone
    proc.kill()
    proc.join(10)
    (left,) = root.glob("emotion-upload-p*")
    assert left.name.startswith(f"emotion-upload-p{proc.pid}-") and (left / "upload.mp4").exists()
    old = root / "emotion-upload-abcd1234"  # made by an older version, without a pid: stale after a day
    old.mkdir()
    os.utime(old, (time.time() - 2 * 86400,) * 2)
    recent = root / "emotion-upload-efgh5678"
    recent.mkdir()
    mine = Path(tempfile.mkdtemp(prefix=f"emotion-video-p{os.getpid()}-", dir=root))
    other = root / "unrelated-folder"
    other.mkdir()
    assert sweep(root) == 2
    assert sorted(p.name for p in root.iterdir()) == sorted([recent.name, mine.name, other.name])
    shutil.rmtree(mine)


def test_work_folder_is_private_and_named_by_process():
    folder = work_folder("emotion-video-")
    try:
        assert folder.name.startswith(f"emotion-video-p{os.getpid()}-") and folder.stat().st_mode & 0o077 == 0
    finally:
        folder.rmdir()
