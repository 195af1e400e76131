"""Reading media: what kind a file is, images, and videos decoded as a stream.

Videos are never held in memory: :func:`iter_video_frames` decodes with PyAV and yields
only the sampled frames, so memory stays flat whatever the length.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from emotion.errors import MediaError

IMAGE_EXTS = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}
VIDEO_EXTS = {".mp4", ".mov", ".avi", ".webm", ".mkv", ".m4v"}
AUDIO_EXTS = {".wav", ".mp3", ".m4a", ".flac", ".ogg", ".aac", ".opus"}


NO_VIDEO_STREAM = "the file has no video stream"

def media_kind(path: str | Path) -> str:
    """Return "image", "video", "audio" or "unknown" from the file's extension."""
    ext = Path(path).suffix.lower()
    if ext in IMAGE_EXTS:
        return "image"
    if ext in VIDEO_EXTS:
        return "video"
    if ext in AUDIO_EXTS:
        return "audio"
    return "unknown"


def read_image(path: str | Path) -> np.ndarray:
    """Read an image as 8-bit BGR, whatever its channels or depth.

    Alpha is composited on white, grayscale is expanded to three channels,
    16-bit images are scaled to 8 bits, and a JPEG's EXIF orientation is applied
    (phones store portrait photos on their side with a flag).

    Raises:
        MediaError: If the file is empty or not a decodable image.
    """
    path = Path(path)
    if path.stat().st_size == 0:
        raise MediaError("the file is empty (0 bytes)")
    data = np.fromfile(str(path), dtype=np.uint8)
    # a JPEG has no alpha and no 16 bits to keep, and IMREAD_COLOR applies its EXIF orientation
    flags = cv2.IMREAD_COLOR if data[:3].tobytes() == b"\xff\xd8\xff" else cv2.IMREAD_UNCHANGED
    img = cv2.imdecode(data, flags)
    if img is None:
        raise MediaError("not a readable image (corrupt, or not the format its extension says)")
    return to_bgr8(img)


def to_bgr8(img: np.ndarray) -> np.ndarray:
    """Convert any decoded image (gray, BGRA, 16-bit, float) to 8-bit BGR."""
    if img.dtype == np.uint16:
        img = (img / 257.0).round().astype(np.uint8)
    elif img.dtype != np.uint8:
        img = np.clip(img * (255.0 if img.max() <= 1.0 else 1.0), 0, 255).astype(np.uint8)
    if img.ndim == 2:
        return cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
    if img.shape[2] == 4:
        alpha = img[:, :, 3:4].astype(np.float32) / 255.0
        rgb = img[:, :, :3].astype(np.float32)
        return (rgb * alpha + 255.0 * (1.0 - alpha)).round().astype(np.uint8)
    if img.shape[2] == 1:
        return cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
    return img[:, :, :3]


@dataclass
class VideoInfo:
    """What a video's container says about it."""

    duration: float
    fps: float
    frames: int
    width: int
    height: int
    has_audio: bool


def _open(path: Path):  # noqa: ANN202 - av types are optional at import time
    import av

    if path.stat().st_size == 0:
        raise MediaError("the file is empty (0 bytes)")
    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, UnicodeDecodeError, ValueError) as exc:
        raise MediaError(f"not a readable video ({_short(exc)})") from None
    if not container.streams.video:
        container.close()
        raise MediaError(NO_VIDEO_STREAM)
    return container


def _short(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text.split(": '")[0][:120]


def probe_video(path: str | Path) -> VideoInfo:
    """Read a video's duration, frame rate, size (as shown, after its rotation flag) and whether it has audio.

    Raises:
        MediaError: If the file is empty, corrupt or holds no video stream.
    """
    container = _open(Path(path))
    with container:
        stream = container.streams.video[0]
        fps = float(stream.average_rate or stream.guessed_rate or 0) or 25.0
        if stream.duration is not None and stream.time_base is not None:
            duration = float(stream.duration * stream.time_base)
        elif container.duration is not None:
            duration = container.duration / 1_000_000
        else:
            duration = 0.0
        frames = int(stream.frames) or int(round(duration * fps))
        ctx = stream.codec_context
        width, height = int(ctx.width or 0), int(ctx.height or 0)
        if _rotation(container, stream) % 180 == 90:  # the size as shown, as the analysed frames are
            width, height = height, width
        return VideoInfo(duration, fps, frames, width, height, bool(container.streams.audio))


def _rotation(container, stream) -> int:  # noqa: ANN001 - av types are optional at import time
    """Return the rotation flag (degrees) of a video's first decodable frame, or 0."""
    import av

    try:
        frame = next(container.decode(stream), None)
    except (av.error.FFmpegError, ValueError):
        return 0
    return int(getattr(frame, "rotation", 0) or 0) if frame is not None else 0


def sample_times(duration: float, max_frames: int = 21, fps: float = 0.0) -> list[float]:
    """Return the times to sample, evenly spread over the whole duration.

    Args:
        duration: Seconds of video.
        max_frames: Number of frames when ``fps`` is 0.
        fps: Frames per second to sample; wins over ``max_frames`` when > 0.
    """
    if duration <= 0:
        return [0.0]
    n = max(1, int(duration * fps)) if fps > 0 else max(1, max_frames)
    step = duration / n
    return [round(step * (i + 0.5), 4) for i in range(n)]


SEEK_GAP = 5.0
"""Seconds from the last decoded frame to the next sample beyond which the decoder seeks to the keyframe before
that sample instead of decoding every frame in between."""


def iter_video_frames(
    path: str | Path, times: list[float], max_side: int = 0
) -> Iterator[tuple[int, float, np.ndarray]]:
    """Decode a video as a stream and yield the frame nearest each requested time.

    Rotation flags in the container are applied. Only one decoded frame is held at a time, and a frame nearest
    several requested times is yielded once. Where two samples are
    more than :data:`SEEK_GAP` seconds apart, the decoder seeks to the keyframe before the next one, so sparse
    sampling of a long video decodes a few frames per sample rather than the whole stream. If seeking fails or
    does not move forward (a truncated file, keyframes further apart than the gap), it decodes straight through.

    Args:
        path: The video file.
        times: Sorted sample times in seconds.
        max_side: If > 0, frames larger than this are shrunk to it (keeps 4K cheap).

    Yields:
        (frame index, time in seconds, BGR image). The index counts decoded frames until the first seek and is
        estimated from the time and frame rate after it.

    Raises:
        MediaError: If the video cannot be decoded at all.
    """
    import av

    container = _open(Path(path))
    with container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        pending = list(times)
        prev = None  # (index, t, frame) of the last decoded frame
        yielded = None  # the time of the last frame yielded
        index = -1
        fps = float(stream.average_rate or 25)
        step = 1.0 / fps
        last_t = -step
        frames = container.decode(stream)
        seekable, sought, after_seek = stream.time_base is not None, -1.0, False
        while pending:
            here = prev[1] if prev is not None else 0.0
            if seekable and pending[0] > sought and pending[0] - here > SEEK_GAP:
                sought = pending[0]
                frames, after_seek, last_t = _seek(container, stream, sought), True, -float("inf")
            try:
                frame = next(frames, None) if frames is not None else None
            except av.error.FFmpegError as exc:
                if index < 0 and not after_seek:
                    raise MediaError(f"the video could not be decoded ({_short(exc)})") from None
                frame = None
            if after_seek and (frame is None or frame.time is None):
                # nothing (or no timestamp) after the seek: decode from the start instead
                seekable, after_seek, last_t = False, False, -step
                frames = _seek(container, stream, 0.0)
                continue
            if frame is None:
                break
            t = float(frame.time) if frame.time is not None else last_t + step
            t = t if t > last_t else last_t + step  # missing or repeated timestamps: count frames
            if after_seek and prev is not None and t <= prev[1]:
                seekable = False  # the keyframe lay behind where decoding had got to: seeking does not pay
            index = index + 1 if sought < 0 else round(t * fps)
            after_seek, last_t = False, t
            while pending and t >= pending[0]:
                # the frame nearest the requested time: this one or the one before it
                use = (
                    prev if prev is not None and abs(prev[1] - pending[0]) < abs(t - pending[0]) else (index, t, frame)
                )
                if use[1] != yielded:  # two samples nearest the same frame (sparse or variable rate): yield it once
                    yield use[0], use[1], frame_to_bgr(use[2], max_side)
                    yielded = use[1]
                pending.pop(0)
            prev = (index, t, frame)
        if prev is None:
            raise MediaError("the video holds no decodable frames")
        if pending and prev[1] != yielded:  # the stream ended early (truncated file): use the last frame once
            yield prev[0], prev[1], frame_to_bgr(prev[2], max_side)


def _seek(container, stream, t: float):  # noqa: ANN001, ANN202 - av types are optional at import time
    """Seek ``stream`` to the keyframe at or before ``t`` seconds; return a fresh frame iterator, or None."""
    import av

    try:
        container.seek(max(0, int(t / stream.time_base)), stream=stream, backward=True, any_frame=False)
    except (av.error.FFmpegError, OverflowError, ValueError):
        return None
    return container.decode(stream)


def frame_to_bgr(frame, max_side: int = 0) -> np.ndarray:  # noqa: ANN001
    """Convert a decoded PyAV frame to BGR, applying its rotation and shrinking it to ``max_side`` if > 0."""
    img = frame.to_ndarray(format="bgr24")
    rotation = getattr(frame, "rotation", 0) or 0
    if rotation % 360:
        code = {90: cv2.ROTATE_90_COUNTERCLOCKWISE, 180: cv2.ROTATE_180, 270: cv2.ROTATE_90_CLOCKWISE}.get(
            int(rotation) % 360
        )
        if code is not None:
            img = cv2.rotate(img, code)
    if max_side and max(img.shape[:2]) > max_side:
        s = max_side / max(img.shape[:2])
        img = cv2.resize(img, (round(img.shape[1] * s), round(img.shape[0] * s)), interpolation=cv2.INTER_AREA)
    return img
