"""The analysis path: one media file in, one :class:`~emotion.record.Result` out."""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import cv2
import numpy as np

from emotion.errors import Cancelled, MediaError, ModelError, ModelUnavailable
from emotion.face.detect import get_detector
from emotion.face.model import get_face_model
from emotion.face.protocols import FaceDetector, FaceModel, FaceSink, NearDetector
from emotion.face.quality import enhance, face_reason, frame_light
from emotion.face.smooth import smooth_faces
from emotion.face.tracker import FaceTracker, embedding
from emotion.files import sha256
from emotion.labels import FACE_LABELS
from emotion.media import (
    NO_VIDEO_STREAM,
    image_size,
    iter_all_frames,
    iter_video_frames,
    media_kind,
    probe_video,
    read_image,
    sample_times,
)
from emotion.record import AudioResult, DroppedFace, Face, Frame, Quality, Result, Segment, face_summary, rounded
from emotion.settings import IMAGE_WORK_PIXELS, MAX_SAMPLES, VERSION, Settings

log = logging.getLogger(__name__)

Progress = Callable[[str, float], None]
"""Called with a stage name ("decode", "faces", "audio", "summary") and a fraction done."""


class Sink(FaceSink, Protocol):
    """Receives every accepted face and voice segment of an analysis (the learning collector is one)."""

    def voice(self, samples: np.ndarray, segment: Segment, features: np.ndarray) -> None:
        """Take one voice window: its 16 kHz samples, its record segment and the features the model read."""
        ...


class CancelFlag(Protocol):
    """Anything with ``is_set()``, such as ``threading.Event``."""

    def is_set(self) -> bool:  # noqa: D102
        ...


@dataclass
class Models:
    """The models one analysis uses; build once and reuse across files."""

    detector: FaceDetector
    face: FaceModel
    voice: Any | None = None
    notes: list[str] = field(default_factory=list)

    @classmethod
    def load(cls, settings: Settings) -> Models:
        """Load the detector and face model named in ``settings`` (the voice model loads lazily).

        The default face model passes through the active learned face adapter, if any (see
        :mod:`emotion.storage.versions`); a damaged adapter file falls back to the last good version, with a note.
        """
        from emotion.face.adapter import AdaptedFaceModel, FaceAdapter
        from emotion.storage.versions import Registry

        face: FaceModel = get_face_model(settings.face_backend)
        notes = []
        if settings.face_backend == "default":
            version, path, message = Registry("face").active_file()
            notes += [message] if message else []
            if path is not None:
                try:
                    face = AdaptedFaceModel(face, FaceAdapter.load(path, face.name), version)
                except ModelError as exc:  # a file that passed its checksum but is not an adapter
                    notes.append(f"face model {version} could not be loaded ({exc}); using the shipped model")
        return cls(detector=get_detector(settings.detector), face=face, notes=notes)

    def describe(self, settings: Settings) -> dict[str, str]:
        """Name the face model, its version ("base" or the learned adapter's) and the detector, for a record."""
        detector = "none (images are face crops)" if settings.face_crop else self.detector.name
        return {"face_model": self.face.base.name, "face_model_version": self.face.version, "detector": detector}


FrameOutput = tuple[Quality, list[tuple[list[int], np.ndarray]], list[DroppedFace], list[Any]]
"""A frame's quality, its accepted (box, probabilities) pairs, its dropped faces, and each accepted face's
appearance (:func:`emotion.face.tracker.embedding`) for the tracker."""

TRACK_STRIDE = 4
"""With every frame analysed, the face search runs on every TRACK_STRIDE-th frame of a chunk; the frames between
reuse its boxes (faces move little in a tenth of a second) and are still classified one by one."""
WORK_SIDE = 960
"""With every frame analysed, frames are read at most this many pixels on their long side (shrunk as they are
decoded, which costs less than converting them at full size); boxes and face sizes are still reported in the
original frame's pixels."""
MAX_CHUNK = 12
"""Most frames one worker takes at a time, so few decoded frames are held at once (12 at 1080p is about 75 MB)."""
LIGHT_STRIDE = 4
"""Frame brightness is measured on every LIGHT_STRIDE-th pixel of every LIGHT_STRIDE-th row: cheap at any size."""


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
        The frame's quality, the accepted (box, probabilities) pairs, the dropped faces and the accepted faces'
        appearance.
    """
    return analyze_chunk([image], models, settings, near)[0]


def _find(
    image: np.ndarray, models: Models, settings: Settings, near: list[list[int]] | None, search: bool
) -> tuple[np.ndarray, str | None, list[list[int]]]:
    """Return the frame to read (enhanced when badly lit), why it was enhanced, and its face boxes."""
    if settings.face_crop:
        return image, None, [[0, 0, image.shape[1], image.shape[0]]]
    small = cv2.cvtColor(np.ascontiguousarray(image[::LIGHT_STRIDE, ::LIGHT_STRIDE]), cv2.COLOR_BGR2GRAY)
    light = frame_light(small, settings)
    if light:
        image = enhance(image, dark=light.startswith("dark"))
    if near and not search:
        return image, light, near
    boxes: list[list[int]] = []
    if near and isinstance(models.detector, NearDetector):
        boxes = models.detector.detect_near(image, near)
    if len(boxes) < len(near or [None]):
        boxes = models.detector.detect(image)
    return image, light, boxes


def _screen(
    image: np.ndarray, boxes: list[list[int]], settings: Settings, scale: float = 1.0
) -> tuple[list[list[int]], list[DroppedFace]]:
    """Split boxes into kept faces and dropped ones (too many, small, dark, bright, blurred), judging each box.

    ``scale`` is the frame's size over the original's (see :func:`emotion.face.quality.face_reason`).
    """
    dropped = [
        DroppedFace(b, f"more than {settings.max_faces} faces in the frame") for b in boxes[settings.max_faces :]
    ]
    kept = []
    height, width = image.shape[:2]
    for box in boxes[: settings.max_faces]:
        x, y, w, h = box
        x0, y0 = min(max(0, x), width), min(max(0, y), height)
        gray = cv2.cvtColor(image[y0 : max(y0, y + h), x0 : max(x0, x + w)], cv2.COLOR_BGR2GRAY)
        reason = None if settings.face_crop else face_reason(gray, [x - x0, y - y0, w, h], settings, scale)
        if reason:
            dropped.append(DroppedFace(box, reason))
        else:
            kept.append(box)
    return kept, dropped


def analyze_chunk(
    images: list[np.ndarray],
    models: Models,
    settings: Settings,
    near: list[list[int]] | None = None,
    scale: float = 1.0,
) -> list[FrameOutput]:
    """Analyse consecutive frames: a full face search on the first, then near the last faces.

    With ``settings.every_frame``, only every :data:`TRACK_STRIDE`-th frame is searched and the others reuse its
    boxes. The crops of all frames are classified in one batch. Boxes are in the frames' own pixels; ``scale`` is
    their size over the original frame's, for the face-size filter.
    """
    stride = TRACK_STRIDE if settings.every_frame else 1
    staged: list[tuple[str | None, list[list[int]], list[DroppedFace], list[Any]]] = []
    crops: list[np.ndarray] = []
    for i, image in enumerate(images):
        image, light, boxes = _find(image, models, settings, near, search=i % stride == 0)
        kept, dropped = _screen(image, boxes, settings, scale) if boxes else ([], [])
        crops += [models.face.crop(image, b) for b in kept]
        staged.append((light, kept, dropped, [embedding(image, b) for b in kept]))
        near = kept + [d.box for d in dropped] or None
    probs = models.face.predict_proba(crops) if crops else np.zeros((0, len(FACE_LABELS)))
    out: list[FrameOutput] = []
    at = 0
    for light, kept, dropped, looks in staged:
        if not kept and not dropped:
            reason = f"no face detected ({light}, even contrast-enhanced)" if light else "no face detected"
            out.append((Quality(False, [reason], light), [], [], []))
            continue
        quality = Quality(bool(kept), [] if kept else sorted({d.reason.split(" (")[0] for d in dropped}), light)
        out.append((quality, list(zip(kept, probs[at : at + len(kept)])), dropped, looks))
        at += len(kept)
    return out


def _frames(
    path: Path, kind: str, settings: Settings, result: Result
) -> tuple[int, Iterable[tuple[int, float, np.ndarray]], float]:
    """Return how many frames will be sampled, an iterator over them, and their size over the original's.

    Times are counted from the container's start; the size ratio is below 1 when every frame is read shrunk.
    """
    if kind == "image":
        width, height = image_size(path)
        image = read_image(path)
        result.height, result.width = image.shape[:2]
        if image.shape[0] * image.shape[1] < width * height:
            result.notes.append(
                f"the image ({width}x{height}) was analysed at {result.width}x{result.height} (it is over "
                f"{IMAGE_WORK_PIXELS / 1e6:g} megapixels)"
            )
        return 1, iter([(0, 0.0, image)]), 1.0
    info = probe_video(path)
    result.duration, result.fps, result.width, result.height = info.duration, info.fps, info.width, info.height
    result.notes += [info.note] if info.note else []
    duration = info.duration
    if settings.max_duration and duration > settings.max_duration:
        result.notes.append(
            f"only the first {settings.max_duration:g} s of {duration:.0f} s were analysed (max duration)"
        )
        duration = settings.max_duration
    if settings.every_frame:
        total = min(MAX_SAMPLES, max(1, info.frames or round((duration - info.start) * info.fps)))
        if info.frames > MAX_SAMPLES:
            result.notes.append(f"only the first {MAX_SAMPLES} of {info.frames} frames were analysed (every frame)")
        scale = min(1.0, WORK_SIDE / max(info.width, info.height, 1))
        return total, iter_all_frames(path, duration, MAX_SAMPLES, WORK_SIDE if scale < 1 else 0), scale
    fps = settings.fps
    times = sample_times(duration, settings.max_frames, fps, info.start)
    wanted = int((duration - info.start) * fps) if fps > 0 else settings.max_frames
    if wanted > len(times) == MAX_SAMPLES:
        result.notes.append(
            f"{wanted} frames at {fps:g} per second are more than the {MAX_SAMPLES} a video may have "
            f"sampled; {MAX_SAMPLES} were sampled evenly"
        )
    return len(times), iter_video_frames(path, times), 1.0


def analyze_file(
    path: str | Path,
    settings: Settings | None = None,
    models: Models | None = None,
    progress: Progress | None = None,
    cancel: CancelFlag | None = None,
    name: str | None = None,
    collector: Sink | None = None,
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
    result.produced_by = {"project": f"emotion-studio {VERSION}"}
    try:
        if kind == "unknown":
            raise MediaError(f"unsupported file type '{path.suffix or '(none)'}'")
        if not path.is_file():
            raise MediaError("file not found")
        result.sha256 = sha256(path)
        models = models or Models.load(settings)
        result.notes += models.notes
        result.produced_by.update(models.describe(settings))
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
            if result.audio and result.audio.model_version:
                result.produced_by.update(voice_model="voice_svm", voice_model_version=result.audio.model_version)
        report("summary", 1.0)
        result.summary = face_summary(result.frames)
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
    collector: Sink | None = None,
) -> None:
    tracker = FaceTracker()
    keep_faces = collector is not None and settings.face_backend == "default"
    times_total, frames, scale = _frames(path, kind, settings, result)
    with ThreadPoolExecutor(max_workers=max(1, settings.workers)) as pool:
        pending: deque[tuple[list[tuple[int, float]], Sequence[np.ndarray | None], Future]] = deque()

        def collect(keys: list[tuple[int, float]], images: Sequence[np.ndarray | None], fut: Future) -> None:
            for (index, t), image, (quality, faces, dropped, looks) in zip(keys, images, fut.result()):
                ids = tracker.update([box for box, _ in faces], t, looks=looks)
                for face_id, (box, p) in zip(ids, faces) if keep_faces else ():
                    assert collector is not None and image is not None  # keep_faces: both are there
                    collector.face(image, box, models.face.crop(image, box), p, t, face_id)
                result.frames.append(
                    Frame(
                        index=index,
                        t=round(t, 3),
                        quality=quality,
                        faces=[
                            Face(i, _original(box, scale), FACE_LABELS[int(np.argmax(p))], rounded(FACE_LABELS, p))
                            for i, (box, p) in zip(ids, faces)
                        ],
                        dropped_faces=[DroppedFace(_original(d.box, scale), d.reason) for d in dropped],
                    )
                )
            report("faces", min(1.0, len(result.frames) / times_total))

        chunk: list[tuple[int, float, np.ndarray]] = []
        decoded = 0
        for item in _with_end(frames):
            if chunk and (item is None or item[1] - chunk[0][1] >= settings.detect_interval or len(chunk) >= MAX_CHUNK):
                images = [img for _, _, img in chunk]
                job = pool.submit(analyze_chunk, images, models, settings, None, scale)
                pending.append(([(i, t) for i, t, _ in chunk], images if keep_faces else [None] * len(images), job))
                chunk = []
            if item is not None:
                if cancel is not None and cancel.is_set():
                    raise Cancelled()
                chunk.append(item)
                decoded += 1
                report("decode", min(1.0, decoded / times_total))
            while len(pending) > max(1, settings.workers) or (item is None and pending):
                collect(*pending.popleft())
    smooth_faces(result.frames, settings.smooth)
    if kind == "video" and 0 < len(result.frames) < times_total:
        result.notes.append(
            f"{times_total} frames were asked for, but the video has only {len(result.frames)} distinct frames at "
            "those times; each was analysed once"
        )


def _original(box: list[int], scale: float) -> list[int]:
    """A box in a shrunk frame's pixels, in the original frame's."""
    return [int(v) if scale == 1 else round(v / scale) for v in box]


def _with_end(items: Iterable) -> Iterable:
    """Yield the items, then None."""
    yield from items
    yield None


def _analyze_audio(
    path: Path, settings: Settings, models: Models, result: Result, report: Progress, collector: Sink | None
) -> None:
    from emotion.voice import process as audio

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
