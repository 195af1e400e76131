"""The analysis path: one media file in, one :class:`~emotion.record.Result` out."""

from __future__ import annotations

import logging
import queue
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar

import cv2
import numpy as np

from emotion.errors import Cancelled, MediaError, ModelError, ModelUnavailable, one_line
from emotion.face.detect import get_detector
from emotion.face.model import get_face_model
from emotion.face.protocols import FaceDetector, FaceModel, FaceSink, NearDetector
from emotion.face.quality import Limits, enhance, face_reason, frame_light
from emotion.face.smooth import mark_confidence, smooth_faces
from emotion.face.tracker import FaceTracker, SceneCuts, embedding, follow, template
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
from emotion.settings import IMAGE_WORK_PIXELS, MAX_SAMPLES, VERSION, VIDEO_WORK_PIXELS, Settings

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
        from emotion.storage.versions import Registry

        face: FaceModel = get_face_model(settings.face_backend, align=settings.face_align)
        notes = []
        if settings.face_backend == "default":
            version, path, message = Registry("face").active_file()
            notes += [message] if message else []
            if path is not None:
                from emotion.face.adapter import AdaptedFaceModel, FaceAdapter  # scikit-learn: only when one is active

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
"""When :func:`analyze_chunk` is given consecutive frames with ``every_frame`` set, the face search runs on every
TRACK_STRIDE-th frame of the chunk; the frames between reuse its boxes. (A whole file read at every frame goes
through :func:`_stream` instead, which follows faces between searches: :func:`_follow`.)"""
MAX_STRIDE = 8
"""With every frame of a file analysed, a followed face is looked for again by the detector (near its box) at least
every MAX_STRIDE-th frame (about a quarter of a second at 30 fps); in between it is followed by template matching
(:func:`~emotion.face.tracker.follow`), and looked for at once when that fails (:data:`MATCH`)."""
MATCH = 0.7
"""Lowest match score (normalised cross-correlation of the face as found with where it is followed to) at which a
face is still followed; below it (a head turned, a hand over the face, a cut) the detector looks again."""
BATCH = 32
"""Faces classified in one batch when every frame of a file is analysed (crops of consecutive frames)."""
SAME = 1.5
"""Mean absolute difference (gray levels, 0-255) between a followed face's crop and its crop when it was last
classified below which the face shows the same picture and keeps that reading instead of being classified again:
repeated frames (a 25 fps source written at 30 fps repeats one frame in six) and still moments. On the talking-head
clip of ``bench/bench_native.py`` about a fifth of the readings are kept so; with a full search on every frame
(``detect_interval`` 0) the readings then differ from classifying every crop by 0.0015 on average (total variation;
0.01 at the 95th percentile) and the top label agrees on 99.8% of frames."""
MAX_STAGED = 64
"""Most frames waiting for one batch (a file where faces are few still emits its records steadily)."""
AHEAD = 4
"""Frames a reader thread decodes ahead of the analysis, so decoding overlaps it (about 6 MB at 960 px)."""
WORK_SIDE = 960
"""With every frame analysed, frames are read at most this many pixels on their long side (shrunk as they are
decoded, which costs less than converting them at full size); boxes and face sizes are still reported in the
original frame's pixels."""
MAX_CHUNK = 12
"""Most sampled frames one worker takes at a time, so few decoded frames are held at once (12 at 1080p is about
75 MB)."""
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
    light = frame_light(small, Limits.of(settings))
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
        reason = None if settings.face_crop else face_reason(gray, [x - x0, y - y0, w, h], Limits.of(settings), scale)
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
        out.append((_quality(light, kept, dropped), list(zip(kept, probs[at : at + len(kept)])), dropped, looks))
        at += len(kept)
    return out


def _quality(light: str | None, kept: list[list[int]], dropped: list[DroppedFace]) -> Quality:
    """A frame's quality: whether it kept a face, why not, and why it was enhanced."""
    if not kept and not dropped:
        reason = f"no face detected ({light}, even contrast-enhanced)" if light else "no face detected"
        return Quality(False, [reason], light)
    return Quality(bool(kept), [] if kept else sorted({d.reason.split(" (")[0] for d in dropped}), light)


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
    pixels = info.width * info.height
    if pixels <= VIDEO_WORK_PIXELS:
        return len(times), iter_video_frames(path, times), 1.0
    scale = (VIDEO_WORK_PIXELS / pixels) ** 0.5  # converted straight to the working size: no full-size copy
    side = int(max(info.width, info.height) * scale)
    result.notes.append(
        f"the video's frames ({info.width}x{info.height}) were analysed at about {round(info.width * scale)}x"
        f"{round(info.height * scale)} (they are over {VIDEO_WORK_PIXELS / 1e6:.1f} megapixels)"
    )
    return len(times), iter_video_frames(path, times, side), scale


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
        detail = one_line(exc, 160)
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
    keep_faces = collector is not None and settings.face_backend == "default"
    times_total, frames, scale = _frames(path, kind, settings, result)
    sink = collector if keep_faces else None
    run = _stream if kind == "video" and settings.every_frame else _sampled
    run(frames, times_total, scale, settings, models, result, report, cancel, sink)
    smooth_faces(result.frames, settings.smooth)
    mark_confidence(result.frames, models.face, settings.face_confidence)
    if kind == "video" and 0 < len(result.frames) < times_total:
        result.notes.append(
            f"{times_total} frames were asked for, but the video has only {len(result.frames)} distinct frames at "
            "those times; each was analysed once"
        )


def _sampled(
    frames: Iterable[tuple[int, float, np.ndarray]],
    total: int,
    scale: float,
    settings: Settings,
    models: Models,
    result: Result,
    report: Progress,
    cancel: CancelFlag | None,
    collector: Sink | None,
) -> None:
    """Analyse sampled frames in chunks (one per :attr:`Settings.detect_interval`), chunks in parallel workers."""
    tracker, scenes = FaceTracker(), SceneCuts()
    with ThreadPoolExecutor(max_workers=max(1, settings.workers)) as pool:
        pending: deque[tuple[list[tuple[int, float, bool]], Sequence[np.ndarray | None], Future]] = deque()

        def collect(keys: list[tuple[int, float, bool]], images: Sequence[np.ndarray | None], fut: Future) -> None:
            for (index, t, cut), image, (quality, faces, dropped, looks) in zip(keys, images, fut.result()):
                if cut:
                    tracker.cut()
                ids = tracker.update([box for box, _ in faces], t, looks=looks)
                result.frames.append(_record(index, t, quality, ids, faces, dropped, scale, models, collector, image))
            report("faces", min(1.0, len(result.frames) / total))

        chunk: list[tuple[int, float, np.ndarray]] = []
        cuts: list[bool] = []
        decoded = 0
        for item in _with_end(frames):
            if chunk and (item is None or item[1] - chunk[0][1] >= settings.detect_interval or len(chunk) >= MAX_CHUNK):
                images = [img for _, _, img in chunk]
                job = pool.submit(analyze_chunk, images, models, settings, None, scale)
                keep = images if collector is not None else [None] * len(images)
                pending.append(([(i, t, cut) for (i, t, _), cut in zip(chunk, cuts)], keep, job))
                chunk, cuts = [], []
            if item is not None:
                if cancel is not None and cancel.is_set():
                    raise Cancelled()
                chunk.append(item)
                cuts.append(scenes.cut(item[2]))
                decoded += 1
                report("decode", min(1.0, decoded / total))
            while len(pending) > max(1, settings.workers) or (item is None and pending):
                collect(*pending.popleft())


def _record(
    index: int,
    t: float,
    quality: Quality,
    ids: list[int],
    faces: list[tuple[list[int], np.ndarray]],
    dropped: list[DroppedFace],
    scale: float,
    models: Models,
    collector: Sink | None,
    image: np.ndarray | None,
) -> Frame:
    """One frame's record, boxes in the original frame's pixels; each face also goes to ``collector``, if any."""
    for face_id, (box, p) in zip(ids, faces) if collector is not None else ():
        assert collector is not None and image is not None  # the frame is kept for the collector
        collector.face(image, box, models.face.crop(image, box), p, t, face_id)
    return Frame(
        index=index,
        t=round(t, 3),
        quality=quality,
        faces=[
            Face(i, _original(box, scale), FACE_LABELS[int(np.argmax(p))], rounded(FACE_LABELS, p))
            for i, (box, p) in zip(ids, faces)
        ],
        dropped_faces=[DroppedFace(_original(d.box, scale), d.reason) for d in dropped],
    )


@dataclass
class _Held:
    """The faces an every-frame analysis follows: the boxes of the last frame searched, and how they looked."""

    boxes: list[list[int]] = field(default_factory=list)
    faces: list[np.ndarray | None] = field(default_factory=list)
    """Each box's face as found (:func:`~emotion.face.tracker.template`), followed in the frames after."""
    since: int = 0
    """Frames since the last search."""
    full: float = -float("inf")
    """Time of the last full search."""


@dataclass
class _Staged:
    """A frame whose faces wait for their batch to be classified."""

    index: int
    t: float
    light: str | None
    kept: list[list[int]]
    dropped: list[DroppedFace]
    ids: list[int]
    fresh: list[bool]
    """Per kept face: whether its crop is in the batch (else it keeps its track's last reading, see :data:`SAME`)."""
    image: np.ndarray | None


def _follow(
    image: np.ndarray, t: float, models: Models, settings: Settings, held: _Held
) -> tuple[np.ndarray, str | None, list[list[int]], bool]:
    """Find the faces of the next frame of an every-frame analysis: follow them, look near them, or search in full.

    Between searches each face is followed by matching the picture it had when found (translation only, see
    :func:`~emotion.face.tracker.follow`), for at most :data:`MAX_STRIDE` frames; then, or as soon as a match
    scores below :data:`MATCH` or two followed faces meet, the detector looks near the boxes. The whole frame is
    searched on the first frame, when a face is lost, when none was found, and every
    :attr:`Settings.detect_interval` seconds (for faces that come in).

    Returns:
        The frame to read (enhanced when badly lit), why it was enhanced, its face boxes, and whether it was searched.
    """
    if settings.face_crop:
        return image, None, [[0, 0, image.shape[1], image.shape[0]]], True
    small = cv2.cvtColor(np.ascontiguousarray(image[::LIGHT_STRIDE, ::LIGHT_STRIDE]), cv2.COLOR_BGR2GRAY)
    light = frame_light(small, Limits.of(settings))
    if light:
        image = enhance(image, dark=light.startswith("dark"))
    due = t - held.full >= settings.detect_interval
    if held.boxes and not due and held.since + 1 < MAX_STRIDE:
        moved = [follow(image, b, f) if f is not None else (b, 0.0) for b, f in zip(held.boxes, held.faces)]
        if all(score >= MATCH for _, score in moved) and not _overlap([b for b, _ in moved]):
            held.boxes, held.since = [b for b, _ in moved], held.since + 1
            return image, light, held.boxes, False
    boxes: list[list[int]] = []
    if held.boxes and not due and isinstance(models.detector, NearDetector):
        boxes = _near(models.detector, image, held.boxes)
    if due or len(boxes) < max(1, len(held.boxes)):
        boxes, held.full = models.detector.detect(image), t
    held.boxes, held.faces, held.since = boxes, [template(image, b) for b in boxes], 0
    return image, light, boxes, True


def _overlap(boxes: list[list[int]]) -> bool:
    """Whether two boxes overlap by more than a quarter of the smaller one's area.

    Two followed faces that meet, or one box that took over the other's face: the detector must tell them apart.
    """
    for i, a in enumerate(boxes):
        for b in boxes[i + 1 :]:
            w = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
            h = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
            if w > 0 and h > 0 and w * h > 0.25 * min(a[2] * a[3], b[2] * b[3]):
                return True
    return False


NEAR_SIDE = 192
"""The detector's input side (BlazeFace full-range): a near search on a frame shrunk so that the squares it looks in
stay at least this large feeds the network the same picture, for less resizing."""


def _near(detector: NearDetector, image: np.ndarray, boxes: list[list[int]]) -> list[list[int]]:
    """Look for faces near ``boxes``, on the frame shrunk by a whole factor when the searched squares allow it.

    A near search looks in a square three times a face's side (at most the frame) and shrinks it to the network's
    :data:`NEAR_SIDE`; shrinking the frame first by a whole factor that keeps every square at least that large gives
    the network the same picture and costs less than resizing the full-size squares (the Haar cascade's near search,
    which looks at faces shrunk to 64 px, still sees them at least that large: a third of the square). Boxes come
    back in ``image``'s pixels (to within the factor, a fraction of the network's own resolution).
    """
    height, width = image.shape[:2]
    square = min(min(max(width, height), 3 * max(b[2], b[3])) for b in boxes)
    k = max(1, square // NEAR_SIDE)
    if k == 1:
        return detector.detect_near(image, boxes)
    small = cv2.resize(image, (width // k, height // k), interpolation=cv2.INTER_AREA)
    found = detector.detect_near(small, [[round(v / k) for v in b] for b in boxes])
    return [[x * k, y * k, w * k, h * k] for x, y, w, h in found]


T = TypeVar("T")
_END = object()


@contextmanager
def _read_ahead(items: Iterable[T], size: int) -> Iterator[Iterator[T]]:
    """Pull ``items`` in a thread, at most ``size`` ahead of the consumer, so producing them overlaps their use.

    Decoding (PyAV) and the analysis (OpenCV, onnxruntime) release the GIL, so the two run at once. An error in the
    producer is raised in the consumer; leaving the block stops the producer and closes ``items``.
    """
    box: queue.Queue = queue.Queue(size)
    stop = threading.Event()

    def put(item: object) -> bool:
        while not stop.is_set():
            try:
                box.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        it = iter(items)
        try:
            for item in it:
                if not put(item):
                    break
            put((_END, None))
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, which raises it
            put((_END, exc))
        finally:
            close = getattr(it, "close", None)
            if close is not None:
                close()

    def consume() -> Iterator[T]:
        while True:
            item = box.get()
            if type(item) is tuple and len(item) == 2 and item[0] is _END:
                if item[1] is not None:
                    raise item[1]
                return
            yield item

    thread = threading.Thread(target=produce, name="decode-ahead", daemon=True)
    thread.start()
    try:
        yield consume()
    finally:
        stop.set()
        thread.join()


def _stream(
    frames: Iterable[tuple[int, float, np.ndarray]],
    total: int,
    scale: float,
    settings: Settings,
    models: Models,
    result: Result,
    report: Progress,
    cancel: CancelFlag | None,
    collector: Sink | None,
) -> None:
    """Analyse every frame of a video as it is decoded, holding no more than a few frames.

    A reader thread decodes ahead (:data:`AHEAD` frames); this thread follows the faces (:func:`_follow`), screens
    and crops them, and gives each a track id; the crops of consecutive frames are classified in batches of
    :data:`BATCH` faces by the workers, while the next frames are read. Only frames searched in full or near their
    faces pay for a detector run and an appearance vector, and a face whose crop shows the same picture as when it
    was last classified keeps that reading (:data:`SAME`).
    """
    tracker, scenes = FaceTracker(), SceneCuts()
    held = _Held()
    staged: list[_Staged] = []
    crops: list[np.ndarray] = []
    jobs: deque[tuple[list[_Staged], Future | None]] = deque()
    shown: dict[int, np.ndarray] = {}  # each track's crop when it was last classified
    read: dict[int, np.ndarray] = {}  # each track's last reading, as records are built

    def emit(frames: list[_Staged], job: Future | None) -> None:
        probs = job.result() if job is not None else np.zeros((0, len(FACE_LABELS)))
        at = 0
        for s in frames:
            faces = []
            for face_id, box, fresh in zip(s.ids, s.kept, s.fresh):
                if fresh:
                    read[face_id], at = probs[at], at + 1
                faces.append((box, read[face_id]))
            quality = _quality(s.light, s.kept, s.dropped)
            record = _record(s.index, s.t, quality, s.ids, faces, s.dropped, scale, models, collector, s.image)
            result.frames.append(record)
        report("faces", min(1.0, len(result.frames) / total))

    with ThreadPoolExecutor(max_workers=max(1, settings.workers)) as pool, _read_ahead(frames, AHEAD) as ahead:
        for n, (index, t, image) in enumerate(ahead, 1):
            if cancel is not None and cancel.is_set():
                raise Cancelled()
            report("decode", min(1.0, n / total))
            if scenes.cut(image):  # a new shot: no id continues, and its faces are searched for afresh
                tracker.cut()
                held.boxes = []
            image, light, boxes, searched = _follow(image, t, models, settings, held)
            kept, dropped = _screen(image, boxes, settings, scale) if boxes else ([], [])
            # a followed box matches its track by position; its appearance is read where the face was searched
            looks = [embedding(image, b) for b in kept] if searched else None
            ids = tracker.update(kept, t, looks=looks or [None] * len(kept))
            fresh = []
            for face_id, box in zip(ids, kept):
                crop = models.face.crop(image, box)
                fresh.append(not _same(crop, shown.get(face_id)))
                if fresh[-1]:
                    crops.append(crop)
                    shown[face_id] = crop
            keep = image if collector is not None else None
            staged.append(_Staged(index, t, light, kept, dropped, ids, fresh, keep))
            if len(crops) >= BATCH or len(staged) >= MAX_STAGED:
                jobs.append((staged, pool.submit(models.face.predict_proba, crops) if crops else None))
                staged, crops = [], []
            while len(jobs) > max(1, settings.workers):
                emit(*jobs.popleft())
        if staged:
            jobs.append((staged, pool.submit(models.face.predict_proba, crops) if crops else None))
        while jobs:
            emit(*jobs.popleft())


def _same(crop: np.ndarray, before: np.ndarray | None) -> bool:
    """Whether a face's crop shows the same picture as ``before`` (within :data:`SAME` gray levels on average)."""
    if before is None or crop.shape != before.shape or crop.dtype != np.uint8 or before.dtype != np.uint8:
        return False
    return float(cv2.absdiff(crop, before).mean()) < SAME


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
    from emotion.learning.active import load_active_voice_model
    from emotion.voice import process as audio

    report("audio", 0.0)
    try:
        sink = collector.voice if collector is not None else None
        result.audio = audio.process_file(path, settings, models.voice, sink, load_active_voice_model)
    except (audio.AudioError, ModelError) as exc:
        if result.kind == "audio":
            raise MediaError(str(exc)) from None
        result.audio = AudioResult(note=str(exc))
    if result.kind == "audio" and result.audio.segments:
        result.duration = result.audio.segments[-1].end
    report("audio", 1.0)
