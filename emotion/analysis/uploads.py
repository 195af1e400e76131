"""Uploaded files, handled safely: private temporary copies under generated names, and names for display.

An upload's name is only ever shown to the user, never used as a path: the bytes are written to
``upload<ext>`` inside a fresh private folder (``tempfile.mkdtemp``, mode 0700), where ``<ext>`` is
kept only when it is a known media extension. The folder is deleted when the analysis ends, whether
it finished, failed or was cancelled.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from emotion.media import AUDIO_EXTS, IMAGE_EXTS, VIDEO_EXTS

MEDIA_EXTS = sorted(IMAGE_EXTS | VIDEO_EXTS | AUDIO_EXTS)
"""Every extension the analysis reads, with the dot."""



def safe_extension(name: str) -> str:
    """Return the lower-case extension of ``name`` if it is a known media extension, else ""."""
    ext = Path(name or "").suffix.lower()
    return ext if ext in MEDIA_EXTS else ""


def display_name(name: str, limit: int = 120) -> str:
    """Return an upload's name cleaned for display: no folders, no control characters, at most ``limit`` chars."""
    base = re.split(r"[\\/]", name or "")[-1]
    base = re.sub(r"[\x00-\x1f\x7f]", "", base).strip() or "upload"
    return base if len(base) <= limit else base[: limit - 1] + "…"


@contextmanager
def private_copy(stream: BinaryIO, name: str) -> Iterator[Path]:
    """Copy an upload to a private temporary folder and yield its path; the folder is removed afterwards.

    Args:
        stream: The upload's bytes (read from the start).
        name: The upload's original name: only its extension is kept, and only if it is a media extension.
    """
    folder = Path(tempfile.mkdtemp(prefix="emotion-upload-"))
    try:
        path = folder / f"upload{safe_extension(name)}"
        if hasattr(stream, "seek"):
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
