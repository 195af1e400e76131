"""Uploaded files, handled safely: private temporary copies under generated names, and names for display.

An upload's name is only ever shown to the user, never used as a path: the bytes are written to
``upload<ext>`` inside a fresh private folder (``tempfile.mkdtemp``, mode 0700), where ``<ext>`` is
kept only when it is a known media extension. The folder is deleted when the analysis ends, whether
it finished, failed or was cancelled. Its name holds the process id (``emotion-upload-p<pid>-*``), so the
folders of a process that was killed mid-analysis are found and removed by :func:`sweep` at the next start.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import time
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from emotion.media import AUDIO_EXTS, IMAGE_EXTS, VIDEO_EXTS

MEDIA_EXTS = sorted(IMAGE_EXTS | VIDEO_EXTS | AUDIO_EXTS)
"""Every extension the analysis reads, with the dot."""
WORK_PREFIXES = ("emotion-upload-", "emotion-video-")
"""Private work folders in the system temp folder: an upload's copy, an annotated video being drawn."""
LEGACY_AGE = 86400
"""Seconds after which a work folder without a process id in its name (older versions) counts as stale."""
_HIDDEN = {"Cc", "Cf", "Zl", "Zp"}
"""Unicode categories never shown in a name: controls, format characters (bidi overrides, zero-width marks)
and line or paragraph separators."""


def safe_extension(name: str) -> str:
    """Return the lower-case extension of ``name`` if it is a known media extension, else ""."""
    ext = Path(name or "").suffix.lower()
    return ext if ext in MEDIA_EXTS else ""


def display_name(name: str, limit: int = 120) -> str:
    """Return a file's name cleaned for display, at most ``limit`` characters.

    No folders; no control, bidi-override, zero-width or line-separator characters (with a right-to-left
    override, ``photo<U+202E>gpj.mp4.jpg`` would show a false extension); bytes that are not UTF-8 (a name on disk
    in another encoding) show as U+FFFD. Markdown is escaped where it is shown (``emotion.app.widgets.plain``).
    """
    base = re.split(r"[\\/]", name or "")[-1]
    base = "".join(
        "\ufffd" if unicodedata.category(c) == "Cs" else c for c in base if unicodedata.category(c) not in _HIDDEN
    )
    base = base.strip() or "upload"
    return base if len(base) <= limit else base[: limit - 1] + "…"


def work_folder(prefix: str = "emotion-upload-") -> Path:
    """Make a private (mode 0700) work folder in the system temp folder, named with this process's id.

    The caller removes it; :func:`sweep` removes those of processes that are gone.
    """
    return Path(tempfile.mkdtemp(prefix=f"{prefix}p{os.getpid()}-"))


def _alive(pid: int) -> bool:
    """Whether a process with this id runs (Linux pids are below 2**22; 0 would mean this process group)."""
    if not 0 < pid <= 2**22:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def sweep(root: str | Path | None = None) -> int:
    """Remove the work folders that processes killed mid-analysis left behind; return how many.

    A folder named ``<prefix>p<pid>-*`` goes when that process is gone; one without a process id (made by an
    older version) when it is over a day old. Folders of other users are left alone.

    Args:
        root: The folder to sweep; the system temp folder when None.
    """
    removed = 0
    try:
        entries = list(os.scandir(root or tempfile.gettempdir()))
    except OSError:
        return 0
    for entry in entries:
        prefix = next((p for p in WORK_PREFIXES if entry.name.startswith(p)), None)
        if prefix is None:
            continue
        try:
            info = entry.stat(follow_symlinks=False)
        except OSError:
            continue
        if not entry.is_dir(follow_symlinks=False) or info.st_uid != os.getuid():
            continue
        owner = re.match(r"p(\d{1,10})-", entry.name[len(prefix) :])
        if owner:
            stale = int(owner[1]) != os.getpid() and not _alive(int(owner[1]))
        else:
            stale = time.time() - info.st_mtime > LEGACY_AGE
        if stale:
            shutil.rmtree(entry.path, ignore_errors=True)
            removed += not os.path.exists(entry.path)
    return removed


@contextmanager
def private_copy(stream: BinaryIO, name: str) -> Iterator[Path]:
    """Copy an upload to a private temporary folder and yield its path; the folder is removed afterwards.

    Args:
        stream: The upload's bytes (read from the start).
        name: The upload's original name: only its extension is kept, and only if it is a media extension.
    """
    folder = work_folder()
    try:
        path = folder / f"upload{safe_extension(name)}"
        if getattr(stream, "seekable", lambda: False)():
            stream.seek(0)
        with open(path, "wb") as f:
            shutil.copyfileobj(stream, f, 1 << 20)
        yield path
    finally:
        shutil.rmtree(folder, ignore_errors=True)



_SPANS = {
    # kind: stage -> (start, end) of the bar; decode and faces interleave, so they share a span
    "video": {"decode": (0.0, 0.5), "faces": (0.0, 0.5), "audio": (0.5, 0.62), "summary": (0.62, 0.63)},
    "image": {"decode": (0.0, 0.7), "faces": (0.0, 0.7), "summary": (0.7, 0.8), "thumbnails": (0.8, 1.0)},
    "audio": {"audio": (0.0, 0.95), "summary": (0.95, 1.0)},
}


def progress_value(kind: str, stage: str, frac: float, make_video: bool = True) -> float:
    """Return where one file's progress bar stands (0..1) for a stage and the fraction of it done.

    Args:
        kind: "image", "video" or "audio".
        stage: A pipeline stage ("decode", "faces", "audio", "summary") or "thumbnails" / "video".
        frac: The fraction of the stage done.
        make_video: Whether an annotated video follows the analysis of a video (it takes the last third).
    """
    spans = dict(_SPANS.get(kind, _SPANS["video"]))
    if kind == "video":
        if make_video:
            spans.update(thumbnails=(0.63, 0.65), video=(0.65, 1.0))
        else:
            spans = {k: (a / 0.63, b / 0.63) for k, (a, b) in spans.items()} | {"thumbnails": (1.0, 1.0)}
    start, end = spans.get(stage, (0.0, 0.0))
    return round(min(1.0, max(0.0, start + (end - start) * min(1.0, max(0.0, frac)))), 4)
