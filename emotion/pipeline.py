"""The analysis path: one media file in, one :class:`~emotion.record.Result` out."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import cv2
import numpy as np

from emotion.detect import FaceDetector, ModelUnavailable, get_detector
from emotion.face_model import get_face_model
from emotion.labels import FACE_LABELS
from emotion.media import (
    NO_VIDEO_STREAM,
    MediaError,
    iter_video_frames,
    media_kind,
    probe_video,
    read_image,
    sample_times,
)
from emotion.quality import brightness_reason, face_reason
from emotion.record import AudioResult, DroppedFace, Face, Frame, Quality, Result
from emotion.settings import Settings
from emotion.tracker import FaceTracker

if TYPE_CHECKING:
    from emotion.learning import Collector

log = logging.getLogger(__name__)

Progress = Callable[[str, float], None]
"""Called with a stage name ("decode", "faces", "audio", "summary") and a fraction done."""


class Cancelled(Exception):
    """The caller asked the analysis to stop."""


class CancelFlag(Protocol):
    """Anything with ``is_set()``, such as ``threading.Event``."""

    def is_set(self) -> bool:  # noqa: D102
        ...


@dataclass
class Models:
    """The models one analysis uses; build once and reuse across files."""

    detector: FaceDetector
    face: object
    voice: object | None = None
    notes: list[str] = field(default_factory=list)

    @classmethod
    def load(cls, settings: Settings) -> Models:
        """Load the detector and face model named in ``settings`` (the voice model loads lazily).

        The default face model passes through the active learned face adapter, if any (see
        :mod:`emotion.versions`); a damaged adapter file falls back to the last good version, with a note.
        """
        from emotion.adapter import AdaptedFaceModel, FaceAdapter
        from emotion.versions import Registry

        face = get_face_model(settings.face_backend)
        notes = []
        if settings.face_backend == "default":
            version, path, message = Registry("face").active_file()
            notes += [message] if message else []
            if path is not None:
                face = AdaptedFaceModel(face, FaceAdapter.load(path), version)
        return cls(detector=get_detector(settings.detector), face=face, notes=notes)


FrameOutput = tuple[Quality, list[tuple[list[int], np.ndarray]], list[DroppedFace]]


def analyze_frame(
    image: np.ndarray, models: Models, settings: Settings, near: list[list[int]] | None = None
) -> FrameOutput:
    """Run the quality filters, detection and emotion on one BGR frame.

    Args:
        image: BGR frame.
        models: Loaded models.
        settings: Analysis settings.
        near: Faces found in the previous sampled frame. When the detector can, it looks
            only around them, and falls back to a full search when any is lost.

    Returns:
        The frame's quality, the accepted (box, probabilities) pairs, and the dropped faces.
    """
    gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    if settings.face_crop:
        boxes = [[0, 0, image.shape[1], image.shape[0]]]
    else:
        reason = brightness_reason(gray, settings)
        if reason:
            return Quality(False, [reason]), [], []
        boxes = []
        if near and hasattr(models.detector, "detect_near"):
            boxes = models.detector.detect_near(image, near)
        if len(boxes) < len(near or [None]):
            boxes = models.detector.detect(image)
    if not boxes:
        return Quality(False, ["no face detected"]), [], []
    dropped = [
        DroppedFace(b, f"more than {settings.max_faces} faces in the frame") for b in boxes[settings.max_faces :]
    ]
    kept = []
    for box in boxes[: settings.max_faces]:
        reason = None if settings.face_crop else face_reason(gray, box, settings)
        if reason:
            dropped.append(DroppedFace(box, reason))
        else:
            kept.append(box)
    probs = models.face.predict_proba([models.face.crop(image, b) for b in kept]) if kept else []
    quality = Quality(True, []) if kept else Quality(False, sorted({d.reason.split(" (")[0] for d in dropped}))
    return quality, list(zip(kept, probs)), dropped


def analyze_chunk(images: list[np.ndarray], models: Models, settings: Settings) -> list[FrameOutput]:
    """Analyse consecutive sampled frames: a full face search on the first, then near the last faces."""
    out: list[FrameOutput] = []
    near = None
    for image in images:
        quality, faces, dropped = analyze_frame(image, models, settings, near)
        out.append((quality, faces, dropped))
        near = [box for box, _ in faces] + [d.box for d in dropped] or None
    return out


def _frames(
    path: Path, kind: str, settings: Settings, result: Result
) -> tuple[int, Iterable[tuple[int, float, np.ndarray]]]:
    """Return how many frames will be sampled and an iterator over them."""
    if kind == "image":
        image = read_image(path)
        result.height, result.width = image.shape[:2]
        return 1, iter([(0, 0.0, image)])
    info = probe_video(path)
    result.duration, result.fps, result.width, result.height = info.duration, info.fps, info.width, info.height
    duration = info.duration
    if settings.max_duration and duration > settings.max_duration:
        result.notes.append(
            f"only the first {settings.max_duration:g} s of {duration:.0f} s were analysed (max duration)"
        )
        duration = settings.max_duration
    times = sample_times(duration, settings.max_frames, settings.fps)
    return len(times), iter_video_frames(path, times)


def analyze_file(
    path: str | Path,
    settings: Settings | None = None,
    models: Models | None = None,
    progress: Progress | None = None,
    cancel: CancelFlag | None = None,
    name: str | None = None,
    collector: Collector | None = None,
) -> Result:
    """Analyse one image, video or audio file.

    Never raises for a bad file: the result's ``error`` says what went wrong in one line.

    Args:
        path: The media file.
        settings: Analysis settings; defaults when None.
        models: Loaded models; loaded from ``settings`` when None.
        progress: Called with (stage, fraction) as work proceeds.
        cancel: Stops the analysis when set; raises :class:`Cancelled`.
        name: The name to show for the file (defaults to the file's name).
        collector: Gathers the analysed faces and voice segments for the learning store
            (faces only with the default face model, whose outputs the learned adapter reads).
    """
    settings = settings or Settings()
    path = Path(path)
    kind = media_kind(path)
    result = Result(file=name or path.name, kind=kind, settings=settings.to_dict())
    report = progress or (lambda stage, frac: None)
    try:
        if kind == "unknown":
            raise MediaError(f"unsupported file type '{path.suffix or '(none)'}'")
        if not path.is_file():
            raise MediaError("file not found")
        models = models or Models.load(settings)
        result.notes += models.notes
        if kind in ("image", "video"):
            try:
                _analyze_frames(path, kind, settings, models, result, report, cancel, collector)
            except MediaError as exc:
                if kind != "video" or str(exc) != NO_VIDEO_STREAM:
                    raise
                kind = result.kind = "audio"  # e.g. an .m4a-like .mp4: its voice is still worth analysing
                result.notes.append("the file has no video stream, so only its audio was analysed")
        if kind == "audio" or (kind == "video" and settings.audio):
            _analyze_audio(path, settings, models, result, report, collector)
        report("summary", 1.0)
        result.summary = summarise(result.frames)
    except Cancelled:
        raise
    except (MediaError, ModelUnavailable) as exc:
        result.error = str(exc)
    except Exception as exc:  # noqa: BLE001 - a bad file must never crash a batch
        log.error("analysis of %s failed: %r", result.file, exc)  # one line: no traceback in the CLI or the app
        log.debug("analysis of %s failed", result.file, exc_info=True)
        detail = str(exc).splitlines()[0][:160] if str(exc) else "no detail"
        result.error = f"could not analyse this file ({type(exc).__name__}: {detail})"
    return result


def _analyze_frames(
    path: Path,
    kind: str,
    settings: Settings,
    models: Models,
    result: Result,
    report: Progress,
    cancel: CancelFlag | None,
    collector: Collector | None = None,
) -> None:
    tracker = FaceTracker()
    keep_faces = collector is not None and settings.face_backend == "default"
    if keep_faces and hasattr(models.face, "base"):
        collector.base_face = models.face.base
    times_total, frames = _frames(path, kind, settings, result)
    with ThreadPoolExecutor(max_workers=max(1, settings.workers)) as pool:
        pending: list[tuple[list[tuple[int, float]], list[np.ndarray], Future]] = []

        def collect(keys: list[tuple[int, float]], images: list[np.ndarray], fut: Future) -> None:
            for (index, t), image, (quality, faces, dropped) in zip(keys, images, fut.result()):
                ids = tracker.update([box for box, _ in faces], t)
                for face_id, (box, p) in zip(ids, faces) if keep_faces else ():
                    collector.face(image, box, models.face.crop(image, box), p, t, face_id)
                result.frames.append(
                    Frame(
                        index=index,
                        t=round(t, 3),
                        quality=quality,
                        faces=[
                            Face(i, [int(v) for v in box], FACE_LABELS[int(np.argmax(p))], _scores(p))
                            for i, (box, p) in zip(ids, faces)
                        ],
                        dropped_faces=dropped,
                    )
                )
            report("faces", min(1.0, len(result.frames) / times_total))

        chunk: list[tuple[int, float, np.ndarray]] = []
        decoded = 0
        for item in _with_end(frames):
            if chunk and (item is None or item[1] - chunk[0][1] >= settings.detect_interval):
                images = [img for _, _, img in chunk]
                job = pool.submit(analyze_chunk, images, models, settings)
                pending.append(([(i, t) for i, t, _ in chunk], images if keep_faces else [None] * len(images), job))
                chunk = []
            if item is not None:
                if cancel is not None and cancel.is_set():
                    raise Cancelled()
                chunk.append(item)
                decoded += 1
                report("decode", min(1.0, decoded / times_total))
            while len(pending) > max(1, settings.workers) or (item is None and pending):
                collect(*pending.pop(0))
    if kind == "video" and 0 < len(result.frames) < times_total:
        result.notes.append(
            f"{times_total} frames were asked for, but the video has only {len(result.frames)} distinct frames at "
            "those times; each was analysed once"
        )


def _with_end(items: Iterable) -> Iterable:
    """Yield the items, then None."""
    yield from items
    yield None


def _analyze_audio(
    path: Path, settings: Settings, models: Models, result: Result, report: Progress, collector: Collector | None
) -> None:
    from emotion import audio
    from emotion.voice_model import ModelError

    report("audio", 0.0)
    try:
        sink = collector.voice if collector is not None else None
        result.audio = audio.process_file(path, settings, models.voice, sink)
    except (audio.AudioError, ModelError) as exc:
        if result.kind == "audio":
            raise MediaError(str(exc)) from None
        result.audio = AudioResult(note=str(exc))
    if result.kind == "audio" and result.audio.segments:
        result.duration = result.audio.segments[-1].end
    report("audio", 1.0)


def _scores(p: np.ndarray) -> dict[str, float]:
    return {label: round(float(v), 4) for label, v in zip(FACE_LABELS, p)}


def summarise(frames: list[Frame]) -> dict:
    """Summarise the accepted faces: dominant emotion, its confidence and the shares.

    The dominant emotion is the label with the highest mean probability over all
    accepted faces; ``emotion_shares`` counts each face's top label.
    """
    faces = [f for fr in frames for f in fr.faces]
    summary: dict = {
        "frames": len(frames),
        "frames_ok": sum(fr.quality.ok for fr in frames),
        "faces": len(faces),
        "face_ids": sorted({f.id for f in faces}),
        "dominant_emotion": None,
        "confidence": 0.0,
        "emotion_shares": {label: 0.0 for label in FACE_LABELS},
        "mean_scores": {label: 0.0 for label in FACE_LABELS},
    }
    if faces:
        mean = np.mean([[f.scores[label] for label in FACE_LABELS] for f in faces], axis=0)
        top = [f.emotion for f in faces]
        summary["dominant_emotion"] = FACE_LABELS[int(np.argmax(mean))]
        summary["confidence"] = round(float(mean.max()), 4)
        summary["mean_scores"] = {label: round(float(v), 4) for label, v in zip(FACE_LABELS, mean)}
        summary["emotion_shares"] = {label: round(top.count(label) / len(top), 4) for label in FACE_LABELS}
    return summary
