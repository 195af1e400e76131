"""The one batch flow: many inputs in; each analysed, saved to History, kept for learning and exported.

Every way in calls :func:`run`: the Analyse page, ``python -m emotion analyze`` and the REST service; a Dask
cluster (:mod:`emotion.analysis.cluster`) runs its two halves, :func:`analyze_one` on a worker and
:func:`save_one` here. For each input
it makes a private copy of an upload (see :mod:`emotion.analysis.uploads`), analyses it, draws what the views need
(face thumbnails, the annotated image or video), saves the record to History, files the kept faces and voice
under that History entry (so forgetting the entry forgets them), writes the auto-exports and starts a background
retrain when enough new labels have gathered. A bad file gets its one-line error and the batch goes on; a store
that cannot be written (read-only, full, damaged) adds a one-line message to :attr:`Analysis.messages` and never
loses the result. Work folders of processes killed mid-analysis are swept away when a batch starts.
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from emotion.analysis.pipeline import CancelFlag, Models, analyze_file
from emotion.analysis.uploads import (
    MEDIA_EXTS,
    display_name,
    private_copy,
    progress_value,
    safe_extension,
    sweep,
    work_folder,
)
from emotion.errors import Cancelled, MediaError, one_line
from emotion.face.protocols import FaceModel
from emotion.learning import jobs
from emotion.learning.collect import Collector
from emotion.media import media_kind
from emotion.record import Result
from emotion.report.annotate import annotate_video, annotated_image, face_thumbnails
from emotion.report.export import export_files
from emotion.settings import Settings, data_dir
from emotion.storage.history import History
from emotion.storage.learning_store import LearningStore
from emotion.storage.sqlite import reason

log = logging.getLogger(__name__)

ANNOTATE_MAX_SECONDS = 600
"""Longest video (as analysed) that gets an annotated copy."""


@dataclass
class Source:
    """One input: a file on disk, or an upload's bytes with the name it came with.

    Attributes:
        name: The name shown to the user; for an upload it is never used as a path.
        path: The file, for inputs on disk.
        stream: The upload's bytes, copied to a private temporary file for the analysis.
        key: The caller's id for this input (an upload's id), handed back on its :class:`Analysis`.
    """

    name: str
    path: Path | None = None
    stream: BinaryIO | None = None
    key: str = ""

    @classmethod
    def file(cls, path: str | Path) -> Source:
        """An input on disk."""
        return cls(name=Path(path).name, path=Path(path), key=str(path))

    @classmethod
    def upload(cls, stream: BinaryIO, name: str, key: str = "") -> Source:
        """An uploaded file: its bytes and its (untrusted) name."""
        return cls(name=name, stream=stream, key=key or name)


@dataclass
class Analysis:
    """One analysed input and everything the batch did with it.

    Attributes:
        key: The input's :attr:`Source.key`.
        result: The record.
        extras: ``thumbnails`` (face id -> base64 JPEG) and, for images, ``image`` (annotated base64 JPEG).
        video: The annotated MP4's bytes, or None.
        video_error: Why the annotated video could not be made, or None.
        history_id: Its History entry, or None when it was not saved.
        export_paths: The auto-exported files.
        kept: Faces and voice segments kept for learning.
        retraining: Modalities whose background retrain this analysis started.
        messages: Things the user should know (a store that could not be written, items not kept and why).
        seconds: Wall time of the whole step.
    """

    key: str
    result: Result
    extras: dict = field(default_factory=dict)
    video: bytes | None = None
    video_error: str | None = None
    history_id: int | None = None
    export_paths: list[str] = field(default_factory=list)
    kept: int = 0
    retraining: list[str] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)
    seconds: float = 0.0


@dataclass(frozen=True)
class Step:
    """Where a batch stands: file ``index`` (0-based) of ``total``, its stage and the fraction of the stage done.

    ``value`` is the file's progress bar position (0..1), with each stage given its share of the time.
    """

    index: int
    total: int
    name: str
    stage: str
    fraction: float
    value: float


Progress = Callable[[Step], None]


def run(
    sources: Iterable[Source],
    settings: Settings,
    models: Models | None = None,
    progress: Progress | None = None,
    cancel: CancelFlag | None = None,
    history: History | None = None,
    store: LearningStore | None = None,
) -> Iterator[Analysis]:
    """Analyse each input and save, keep and export it as ``settings`` say; yield each one when it is done.

    ``settings.save`` stores each record in History (needed for keeping: kept items are filed under their
    History entry), ``settings.collect`` keeps faces and voice for learning (once per file content: a re-analysis
    of the same file keeps nothing new), ``settings.auto_export`` writes JSON and CSV to ``<data dir>/exports``,
    ``settings.annotated_video`` draws the annotated video and ``settings.retrain_after`` starts a retrain.

    Args:
        sources: The inputs.
        settings: The analysis and output settings.
        models: Loaded models; loaded from ``settings`` when None (raises ``ModelUnavailable``).
        progress: Called as work proceeds.
        cancel: When set, the batch stops: the file in progress is dropped and the generator ends.
        history: The History database (default: the data dir's).
        store: The learning store (default: the data dir's).
    """
    sources = list(sources)
    models = models or Models.load(settings)
    sweep()  # private copies left by a process killed mid-analysis
    for index, source in enumerate(sources):
        started = time.perf_counter()
        try:
            analysis, collector = analyze_one(source, index, len(sources), settings, models, progress, cancel)
        except Cancelled:
            return
        if not analysis.result.error:
            save_one(analysis, collector, settings, history, store)
        analysis.seconds = round(time.perf_counter() - started, 1)
        yield analysis
        if cancel is not None and cancel.is_set():
            return


def analyze_one(
    source: Source,
    index: int,
    total: int,
    settings: Settings,
    models: Models,
    progress: Progress | None,
    cancel: CancelFlag | None,
) -> tuple[Analysis, Collector | None]:
    """Analyse one input, while its file exists, and make the thumbnails, annotated image and video."""
    shown = display_name(source.name)
    if source.stream is not None and not safe_extension(source.name):
        ext = "".join(c for c in Path(source.name or "").suffix.lower() if c.isalnum() or c == ".")[:12] or "(none)"
        kinds = ", ".join(e.lstrip(".") for e in MEDIA_EXTS)
        error = f"unsupported file type '{ext}' (use {kinds})"
        return Analysis(source.key, Result(file=shown, kind="unknown", error=error)), None
    kind = media_kind(source.path if source.path is not None else f"x{safe_extension(source.name)}")
    last = [0.0]

    def report(stage: str, fraction: float) -> None:
        if progress is None:
            return
        last[0] = max(last[0], progress_value(kind, stage, fraction, settings.annotated_video))
        progress(Step(index, total, shown, stage, fraction, last[0]))

    collector = Collector(shown, base_face=_base_face(models)) if settings.collect and settings.save else None
    with ExitStack() as stack:
        try:
            copy = None if source.stream is None else private_copy(source.stream, source.name)
            path = source.path if copy is None else stack.enter_context(copy)
        except OSError as exc:  # the temp folder is full or read-only
            error = f"could not make a private copy of the upload: {reason(exc)}"
            return Analysis(source.key, Result(file=shown, kind=kind, error=error)), None
        assert path is not None, "a source is a file on disk or an upload"
        result = analyze_file(path, settings, models, progress=report, cancel=cancel, name=shown, collector=collector)
        analysis = Analysis(source.key, result)
        if result.error:
            return analysis, None
        if result.kind in ("image", "video"):
            _draw(analysis, path, settings, report, cancel)
    return analysis, collector


def _base_face(models: Models) -> FaceModel | None:
    """The shipped face model when an adapter serves on top of it (the learning store keeps its outputs)."""
    return models.face.base if models.face.base is not models.face else None


def _draw(analysis: Analysis, path: Path, settings: Settings, report: Callable[[str, float], None],
          cancel: CancelFlag | None) -> None:
    """Face thumbnails, the annotated image, and the annotated video when asked for."""
    result = analysis.result
    try:
        report("thumbnails", 0.0)
        analysis.extras["thumbnails"] = face_thumbnails(path, result)
        if result.kind == "image":
            analysis.extras["image"] = annotated_image(path, result)
    except MediaError as exc:
        log.warning("thumbnails of %s failed: %s", result.file, exc)
    if result.kind != "video" or not settings.annotated_video:
        return
    if (result.duration or 0) > ANNOTATE_MAX_SECONDS:
        analysis.video_error = (
            f"it is over {ANNOTATE_MAX_SECONDS // 60} min long, and annotating re-encodes every frame, which "
            "would take far longer than the analysis"
        )
        return
    if cancel is not None and cancel.is_set():
        raise Cancelled()
    report("video", 0.0)

    def video_progress(fraction: float) -> None:
        if cancel is not None and cancel.is_set():
            raise Cancelled()
        report("video", fraction)

    folder = None
    try:
        folder = work_folder("emotion-video-")
        out = folder / "annotated.mp4"
        annotate_video(path, result, out, 1280, progress=video_progress)
        analysis.video = out.read_bytes()
    except Cancelled:
        raise
    except OSError as exc:  # the temp folder is full or read-only
        analysis.video_error = reason(exc)
    except Exception as exc:  # noqa: BLE001 - a failed video must not lose the analysis
        analysis.video_error = one_line(exc)
    finally:
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)


def save_one(analysis: Analysis, collector: Collector | None, settings: Settings, history: History | None,
             store: LearningStore | None) -> None:
    """Save to History, keep for learning under that entry, auto-export; a failing store only adds a message."""
    result = analysis.result
    if settings.save:
        try:
            db = history or History()
            before = history.moved if history is not None else None
            analysis.history_id = db.add(result, analysis.extras)
            if db.moved is not None and db.moved != before:
                analysis.messages.append(db.notice() or f"a damaged History file was moved aside to {db.moved}")
        except Exception as exc:  # noqa: BLE001 - a full disk must not lose the result on screen
            analysis.messages.append(f"could not save to History: {_line(exc)}")
    if collector is not None and analysis.history_id is not None:
        _keep(analysis, collector, settings, store)
    if settings.auto_export:
        try:
            folder = data_dir() / "exports"
            analysis.export_paths = [str(p) for p in export_files(result, folder, settings.export_prefix)]
        except Exception as exc:  # noqa: BLE001 - as above
            analysis.messages.append(f"could not auto-export: {_line(exc)}")


def _line(exc: BaseException) -> str:
    """An error in one line: a store's own message, or why a file could not be written."""
    if isinstance(exc, OSError):
        return f"{exc.filename}: {reason(exc)}" if exc.filename else reason(exc)
    return one_line(exc)


def _keep(analysis: Analysis, collector: Collector, settings: Settings, store: LearningStore | None) -> None:
    """File the gathered faces and voice under the History entry, once per file content; start a retrain if due."""
    db, before = store, store.moved if store is not None else None
    try:
        db = store or LearningStore(auto_threshold=settings.collect_threshold)
        earlier = db.sources_of(analysis.result.sha256 or "")
        if earlier:
            runs = ", ".join(s.split(":", 1)[-1] for s in earlier)
            analysis.messages.append(
                f"nothing new kept for learning: this file's faces and voice are already kept from History entry {runs}"
            )
            return
        analysis.kept = collector.save(db, f"history:{analysis.history_id}", analysis.result.sha256)
        analysis.retraining = jobs.maybe_start(db, settings.retrain_after)
    except Exception as exc:  # noqa: BLE001 - as above
        analysis.messages.append(f"could not keep the faces and voice for learning: {_line(exc)}")
        return
    finally:
        if db is not None and db.moved is not None and db.moved != before:
            analysis.messages.append(db.notice() or f"a damaged learning store was moved aside to {db.moved}")
    for modality, n in collector.skipped.items():
        if n:
            analysis.messages.append(f"kept the first {collector.limit} {modality} items for learning, not {n} more")
