"""Analysing uploaded files safely: private temporary copies under generated names.

An upload's name is only ever shown to the user, never used as a path: the bytes are written to
``upload<ext>`` inside a fresh private folder (``tempfile.mkdtemp``, mode 0700), where ``<ext>`` is
kept only when it is a known media extension. The folder is deleted when the analysis ends, whether
it finished, failed or was cancelled.
"""

from __future__ import annotations

import logging
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from emotion.annotate import annotate_video, annotated_image, face_thumbnails
from emotion.learning import Collector
from emotion.media import AUDIO_EXTS, IMAGE_EXTS, VIDEO_EXTS, MediaError
from emotion.pipeline import CancelFlag, Cancelled, Models, Progress, analyze_file
from emotion.record import Result
from emotion.settings import Settings

log = logging.getLogger(__name__)

ANNOTATE_MAX_SECONDS = 600
"""Longest video (as analysed) that gets an annotated copy."""
MEDIA_EXTS = sorted(IMAGE_EXTS | VIDEO_EXTS | AUDIO_EXTS)
"""Every extension the analysis reads, with the dot."""


@dataclass
class Analysis:
    """One analysed upload: the record, side data for the views, and the annotated video if made.

    Attributes:
        result: The result record.
        extras: ``thumbnails`` (face id -> base64 JPEG) and, for images, ``image`` (annotated base64 JPEG).
        video: The annotated MP4's bytes, or None.
        video_error: Why the annotated video could not be made, or None.
    """

    result: Result
    extras: dict = field(default_factory=dict)
    video: bytes | None = None
    video_error: str | None = None


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


def analyse_upload(
    stream: BinaryIO,
    name: str,
    settings: Settings,
    models: Models,
    progress: Progress | None = None,
    cancel: CancelFlag | None = None,
    make_video: bool = True,
    video_max_side: int = 1280,
    collector: Collector | None = None,
) -> Analysis:
    """Analyse one uploaded file and make what the views need while its private copy exists.

    Never raises for a bad file (the record's ``error`` says why); raises :class:`Cancelled` when
    ``cancel`` is set.

    Args:
        stream: The upload's bytes.
        name: The upload's name, for display only.
        settings: Analysis settings.
        models: Loaded models.
        progress: Called with (stage, fraction); stages are the pipeline's plus "thumbnails" and "video".
        cancel: Stops the work when set.
        make_video: Also write the annotated video of a video upload.
        video_max_side: Longest side of the annotated video's frames (0: as the source).
        collector: Gathers the analysed faces and voice segments for the learning store.
    """
    report = progress or (lambda stage, frac: None)
    shown = display_name(name)
    if not safe_extension(name):
        ext = re.sub(r"[^a-z0-9.]", "", Path(name or "").suffix.lower())[:12] or "(none)"
        kinds = ", ".join(e.lstrip(".") for e in MEDIA_EXTS)
        return Analysis(Result(file=shown, kind="unknown", error=f"unsupported file type '{ext}' (use {kinds})"))
    with private_copy(stream, name) as path:
        result = analyze_file(path, settings, models, progress=report, cancel=cancel, name=shown, collector=collector)
        analysis = Analysis(result)
        if result.error or result.kind not in ("image", "video"):
            return analysis
        try:
            report("thumbnails", 0.0)
            analysis.extras["thumbnails"] = face_thumbnails(path, result)
            if result.kind == "image":
                analysis.extras["image"] = annotated_image(path, result)
        except MediaError as exc:
            log.warning("thumbnails of %s failed: %s", shown, exc)
        if result.kind == "video" and make_video and (result.duration or 0) > ANNOTATE_MAX_SECONDS:
            analysis.video_error = (
                f"it is over {ANNOTATE_MAX_SECONDS // 60} min long, and annotating re-encodes every frame, which "
                "would take far longer than the analysis"
            )
        elif result.kind == "video" and make_video:
            if cancel is not None and cancel.is_set():
                raise Cancelled()
            report("video", 0.0)
            out = path.with_name("annotated.mp4")

            def video_progress(frac: float) -> None:
                if cancel is not None and cancel.is_set():
                    raise Cancelled()
                report("video", frac)

            try:
                annotate_video(path, result, out, video_max_side, progress=video_progress)
                analysis.video = out.read_bytes()
            except Cancelled:
                raise
            except Exception as exc:  # noqa: BLE001 - a failed video must not lose the analysis
                analysis.video_error = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return analysis


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
