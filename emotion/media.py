"""Reading media: what kind a file is, images, and videos decoded as a stream.

Videos are never held in memory: :func:`iter_video_frames` decodes with PyAV and yields
only the sampled frames, so memory stays flat whatever the length.
"""

from __future__ import annotations

import re
import warnings
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from emotion.errors import MediaError, one_line
from emotion.settings import (
    AUDIO_RATES,
    IMAGE_WORK_PIXELS,
    LONGEST_RECORDING,
    MAX_IMAGE_PIXELS,
    MAX_SAMPLES,
    MAX_VIDEO_PIXELS,
    VIDEO_WORK_PIXELS,
)

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


IMAGE_FORMATS = ("JPEG", "PNG", "BMP", "DIB", "WEBP", "TIFF")
"""The formats an image may be in (as Pillow names them; JPEG includes multi-picture JPEG); OpenCV decodes each."""
NOT_AN_IMAGE = "not a readable image (corrupt, or not the format its extension says)"


def image_size(path: str | Path) -> tuple[int, int]:
    """Return an image's (width, height) as its header declares it, without decoding it.

    Raises:
        MediaError: If the file is empty, not an image of :data:`IMAGE_FORMATS`, or over :data:`MAX_IMAGE_PIXELS`.
    """
    from PIL import Image

    path = Path(path)
    if path.stat().st_size == 0:
        raise MediaError("the file is empty (0 bytes)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path, formats=IMAGE_FORMATS) as im:
                width, height = im.size
    except Image.DecompressionBombError as exc:  # Pillow's own limit is above ours, so this is over ours
        pixels = re.search(r"\((\d+) pixels\)", str(exc))
        raise MediaError(_too_large(int(pixels.group(1)) if pixels else 0)) from None
    except Exception:  # noqa: BLE001 - Pillow raises many types for a bad header
        raise MediaError(NOT_AN_IMAGE) from None
    if width < 1 or height < 1:
        raise MediaError(NOT_AN_IMAGE)
    if width * height > MAX_IMAGE_PIXELS:
        raise MediaError(_too_large(width * height, f"{width}x{height}, "))
    return width, height


def _too_large(pixels: int, size: str = "") -> str:
    over = f"{size}{pixels / 1e6:.0f} megapixels; " if pixels else ""
    return f"the image is too large to analyse ({over}the limit is {MAX_IMAGE_PIXELS / 1e6:g} megapixels)"


def read_image(path: str | Path) -> np.ndarray:
    """Read an image as 8-bit BGR, whatever its channels or depth.

    Its size is read from the header first, and an image over :data:`MAX_IMAGE_PIXELS` is refused before it is
    decoded. One over :data:`IMAGE_WORK_PIXELS` is read at half its width and height (a JPEG is decoded at that
    size). Alpha is composited on white, grayscale is expanded to three channels, 16-bit images are scaled to 8
    bits, and a JPEG's EXIF orientation is applied (phones store portrait photos on their side with a flag).

    Raises:
        MediaError: If the file is empty, too large, or not a decodable image.
    """
    path = Path(path)
    width, height = image_size(path)
    half = width * height > IMAGE_WORK_PIXELS
    data = np.fromfile(str(path), dtype=np.uint8)
    # a JPEG has no alpha and no 16 bits to keep, and IMREAD_COLOR applies its EXIF orientation
    jpeg = data[:3].tobytes() == b"\xff\xd8\xff"
    flags = (cv2.IMREAD_REDUCED_COLOR_2 if half else cv2.IMREAD_COLOR) if jpeg else cv2.IMREAD_UNCHANGED
    img = cv2.imdecode(data, flags)
    del data
    if img is None or img.shape[0] * img.shape[1] > width * height:
        raise MediaError(NOT_AN_IMAGE)
    if half and not jpeg:
        img = cv2.resize(img, (max(1, width // 2), max(1, height // 2)), interpolation=cv2.INTER_AREA)
    return to_bgr8(img)


BAND = 512
"""Rows converted at a time by :func:`to_bgr8`, so a conversion never holds a float copy of a whole image."""


def to_bgr8(img: np.ndarray) -> np.ndarray:
    """Convert any decoded image (gray, BGRA, 16-bit, float) to 8-bit BGR."""
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[:, :, 0]
    if img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 3:
        return img
    scale = 1.0
    if img.dtype not in (np.uint8, np.uint16):
        scale = 255.0 if img.size and float(img.max()) <= 1.0 else 1.0
    out = np.empty((*img.shape[:2], 3), np.uint8)
    for y in range(0, img.shape[0], BAND):
        out[y : y + BAND] = _bgr8(img[y : y + BAND], scale)
    return out


def _bgr8(img: np.ndarray, scale: float) -> np.ndarray:
    if img.dtype == np.uint16:
        img = (img / 257.0).round().astype(np.uint8)
    elif img.dtype != np.uint8:
        img = np.clip(img * scale, 0, 255).astype(np.uint8)
    if img.ndim == 2:
        return cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
    if img.shape[2] == 4:
        alpha = img[:, :, 3:4].astype(np.float32) / 255.0
        rgb = img[:, :, :3].astype(np.float32)
        return (rgb * alpha + 255.0 * (1.0 - alpha)).round().astype(np.uint8)
    return img[:, :, :3]


@dataclass
class VideoInfo:
    """What a video holds, in seconds from the container's start (see :func:`origin`).

    ``start`` and ``duration`` are where its video stream starts and ends: a phone or web recording often starts its
    picture a little after its sound. ``note`` says when the file claims far more than its data hold.
    """

    duration: float
    fps: float
    frames: int
    width: int
    height: int
    has_audio: bool
    start: float = 0.0
    note: str | None = None


MEDIA_FORMATS = ("mov", "matroska", "avi", "wav", "w64", "mp3", "flac", "ogg", "aac", "mpegts")
"""The containers (FFmpeg demuxers) an audio or video file may be in; mov covers mp4, m4a and 3gp, matroska webm.

Nothing else is opened: playlists, manifests and lists of other files (HLS, DASH, concat/ffconcat, IMF, SDP, RTP, ...)
name files or URLs that are not the upload, and FFmpeg would open those. FFmpeg refuses any other demuxer after
probing the file's first bytes and before it reads a header (``format_whitelist``), and reads only local files
(``protocol_whitelist``); the ffmpeg binary, where used, is pinned to the demuxer found here."""
OPEN_OPTIONS = {"format_whitelist": ",".join(MEDIA_FORMATS), "protocol_whitelist": "file"}
"""Options of every ``av.open`` of an upload (see :data:`MEDIA_FORMATS`)."""
REFUSED_FORMAT = (
    "not a media file the studio reads: only audio and video containers are opened, never a playlist, manifest or "
    "list of other files (HLS, DASH, ffconcat, ...)"
)


def open_media(path: str | Path, what: str = "media file"):  # noqa: ANN201 - av types are optional at import time
    """Open an audio or video file with PyAV, as one of :data:`MEDIA_FORMATS` only, reading no other file.

    Args:
        path: The file.
        what: What the file should be, for the message when it cannot be read ("video", ...).

    Raises:
        MediaError: If the file is empty, not readable, or in a format that is not allowed.
    """
    import av

    path = Path(path)
    if path.stat().st_size == 0:
        raise MediaError("the file is empty (0 bytes)")
    try:
        container = av.open(str(path), options=dict(OPEN_OPTIONS))
    except av.error.ArgumentError:  # what FFmpeg answers when the probed demuxer is not in the whitelist
        raise MediaError(REFUSED_FORMAT) from None
    except (av.error.FFmpegError, UnicodeDecodeError, ValueError) as exc:
        raise MediaError(f"not a readable {what} ({decode_reason(exc)})") from None
    if media_format(container) is None:
        container.close()
        raise MediaError(REFUSED_FORMAT)
    return container


def media_format(container) -> str | None:  # noqa: ANN001 - av types are optional at import time
    """Return the name in :data:`MEDIA_FORMATS` of an open container's demuxer, or None if it is not allowed."""
    names = container.format.name.split(",")
    return next((name for name in MEDIA_FORMATS if name in names), None)


def probe_format(path: str | Path) -> str:
    """Return the demuxer of an audio or video file (a name in :data:`MEDIA_FORMATS`), to pin the ffmpeg binary to.

    Raises:
        MediaError: As :func:`open_media`.
    """
    with open_media(path) as container:
        return str(media_format(container))


def _open(path: Path):  # noqa: ANN202 - av types are optional at import time
    """Open a video; refuse one without a video stream or with frames over the size limit.

    The frame size is read from the stream's header, before any frame is decoded (see
    :data:`~emotion.settings.MAX_VIDEO_PIXELS`); frames over :data:`~emotion.settings.VIDEO_WORK_PIXELS` are
    decoded with one thread.
    """
    container = open_media(path, "video")
    if not container.streams.video:
        container.close()
        raise MediaError(NO_VIDEO_STREAM)
    ctx = container.streams.video[0].codec_context
    try:
        _check_frame_size(int(ctx.width or 0), int(ctx.height or 0))
    except MediaError:
        container.close()
        raise
    if (ctx.width or 0) * (ctx.height or 0) > VIDEO_WORK_PIXELS:
        ctx.thread_count = 1  # each decoding thread would hold frames of its own
    return container


READ_ADVICE = "check that it plays in a media player, or export it again (MP4 with H.264 is read everywhere)"
"""What to try when FFmpeg cannot read a file."""


def decode_reason(exc: BaseException) -> str:
    """Why PyAV or FFmpeg could not read a file, in one line, with advice.

    The file's path (its ``: 'path'`` tail) and FFmpeg's error number (``[Errno 1094995529]``) are left out.
    """
    reason = re.sub(r"^\[Errno -?\d+\]\s*", "", one_line(exc).split(": '")[0])[:120]
    damaged = "the file may be damaged, cut short or not what its name says"
    return f"{reason[:1].lower()}{reason[1:]}; {damaged}: {READ_ADVICE}"


def _check_frame_size(width: int, height: int) -> None:
    """Refuse a video frame over :data:`MAX_VIDEO_PIXELS`."""
    if width * height > MAX_VIDEO_PIXELS:
        raise MediaError(
            f"the video's frames are too large to analyse ({width}x{height}, {width * height / 1e6:.0f} megapixels; "
            f"the limit is {MAX_VIDEO_PIXELS / 1e6:.1f} megapixels)"
        )


def origin(container) -> float:  # noqa: ANN001 - av types are optional at import time
    """Return the container's start in seconds: the earlier start of its first video and first audio stream.

    Every time the studio records, samples or draws is counted from here, so picture and sound stay in step when
    one of them starts late.
    """
    starts = [
        float(s.start_time * s.time_base)
        for s in (*container.streams.video[:1], *container.streams.audio[:1])
        if s.start_time is not None and s.time_base is not None
    ]
    return min(starts) if starts else 0.0


def probe_video(path: str | Path) -> VideoInfo:
    """Read a video's span, frame rate, size (as shown, after its rotation flag) and whether it has audio.

    The span is bounded by the real data: the timestamps of the last packets (found by seeking to the end) win over
    a duration the header claims, so a file that claims days but holds seconds is treated as the seconds it holds.

    Raises:
        MediaError: If the file is empty, corrupt or holds no video stream.
    """
    container = _open(Path(path))
    with container:
        stream = container.streams.video[0]
        zero = origin(container)
        tb = stream.time_base
        fps = _fps(stream)
        start = float(stream.start_time * tb) - zero if stream.start_time is not None and tb is not None else 0.0
        if stream.duration is not None and tb is not None:
            claimed = start + float(stream.duration * tb)
        elif container.duration is not None:
            claimed = (container.duration + (container.start_time or 0)) / 1_000_000 - zero
        else:
            claimed = 0.0
        ctx = stream.codec_context
        width, height = int(ctx.width or 0), int(ctx.height or 0)
        if _rotation(container, stream) % 180 == 90:  # the size as shown, as the analysed frames are
            width, height = height, width
        held = _held(container, stream, zero)
        duration, note = claimed, None
        if held is not None:
            held = max(start, held)
            # a still picture may honestly last as long as the sound: only a claim past all the data is a lie
            sound = [
                _held(container, s, zero)
                for s in container.streams.audio[:1]
                if AUDIO_RATES[0] <= (s.codec_context.sample_rate or AUDIO_RATES[0]) <= AUDIO_RATES[1]
            ]  # sound at a rate the studio refuses (1 Hz: 100 kB for 14 hours) does not count
            data = max([held] + [t for t in sound if t is not None])
            if claimed > 0 and data < claimed - 1.0 - 0.01 * data:
                note = f"the video holds {held:.1f} s, though the file claims {claimed:.0f} s; "
                note += f"the {held:.1f} s were analysed"
                fps = int(stream.frames) / (held - start) if stream.frames and held > start else fps
            duration = held if claimed <= 0 or note else claimed
        if duration - start > LONGEST_RECORDING:
            note = "; ".join(filter(None, [note, _impossible(duration - start)]))
        frames = int(stream.frames) or int(round((duration - start) * fps))
        return VideoInfo(duration, fps, frames, width, height, bool(container.streams.audio), start, note)


def _impossible(span: float) -> str:
    """The record's note on a video whose timestamps span more than :data:`~emotion.settings.LONGEST_RECORDING`."""
    return (f"impossible duration: the video's timestamps span {span:.0f} s ({span / 86400:.0f} days), more than "
            f"any recording; they jump, and the frames are placed at the times the file gives")


def _fps(stream) -> float:  # noqa: ANN001 - av types are optional at import time
    """Return a stream's frame rate: its average, unless a lying duration makes that absurd; else FFmpeg's guess."""
    for rate in (stream.average_rate, stream.guessed_rate, stream.base_rate):
        if rate and 0.01 <= float(rate) <= 1000:
            return float(rate)
    return 25.0


def _held(container, stream, zero: float) -> float | None:  # noqa: ANN001 - av types are optional at import time
    """Return where a stream's data end (s from the container's start): its last packet, plus the usual gap.

    The packets are read (not decoded) after seeking to the end; where seeking fails, all of them are, which the
    file's size bounds. None when no packet has a time.
    """
    import av

    if stream.time_base is None:
        return None
    try:
        container.seek(2**62, stream=stream, backward=True, any_frame=False)
    except (av.error.FFmpegError, OverflowError, ValueError):
        try:
            container.seek(0)
        except (av.error.FFmpegError, ValueError):
            return None
    stamps: deque[int] = deque(maxlen=256)
    try:
        for packet in container.demux(stream):
            stamp = packet.pts if packet.pts is not None else packet.dts
            if stamp is not None:
                stamps.append(stamp)
    except (av.error.FFmpegError, ValueError):
        pass  # a damaged tail: what was read holds
    if not stamps:
        return None
    ordered = np.sort(np.array(stamps, dtype=np.float64)) * float(stream.time_base)
    gaps = np.diff(ordered)
    return float(ordered[-1]) - zero + (float(np.median(gaps)) if gaps.size else 0.0)


def _rotation(container, stream) -> int:  # noqa: ANN001 - av types are optional at import time
    """Return the rotation flag (degrees) of a video's first decodable frame, or 0."""
    import av

    try:
        frame = next(container.decode(stream), None)
    except (av.error.FFmpegError, ValueError):
        return 0
    return int(getattr(frame, "rotation", 0) or 0) if frame is not None else 0


def sample_times(duration: float, max_frames: int = 21, fps: float = 0.0, start: float = 0.0) -> list[float]:
    """Return the times to sample, evenly spread over the video from ``start`` to ``duration``.

    Args:
        duration: Where the video ends, in seconds.
        max_frames: Number of frames when ``fps`` is 0.
        fps: Frames per second to sample; wins over ``max_frames`` when > 0.
        start: Where the video starts (a stream that starts late, see :class:`VideoInfo`).

    At most :data:`~emotion.settings.MAX_SAMPLES` times are returned (the caller says so when it asked for more).
    """
    span = duration - start
    if span <= 0:
        return [round(max(0.0, start), 4)]
    n = min(MAX_SAMPLES, max(1, int(span * fps)) if fps > 0 else max(1, max_frames))
    step = span / n
    return [round(start + step * (i + 0.5), 4) for i in range(n)]


SEEK_GAP = 5.0
"""Seconds from the last decoded frame to the next sample beyond which the decoder seeks to the keyframe before
that sample instead of decoding every frame in between."""


def iter_video_frames(
    path: str | Path, times: list[float], max_side: int = 0
) -> Iterator[tuple[int, float, np.ndarray]]:
    """Decode a video as a stream and yield the frame nearest each requested time.

    Times are seconds from the container's start (:func:`origin`), as :func:`probe_video` and the record count
    them. Rotation flags in the container are applied. Only one decoded frame is held at a time, and a frame nearest
    several requested times is yielded once. Where two samples are
    more than :data:`SEEK_GAP` seconds apart, the decoder seeks to the keyframe before the next one, so sparse
    sampling of a long video decodes a few frames per sample rather than the whole stream. If seeking fails or
    does not move forward (a truncated file, keyframes further apart than the gap), it decodes straight through.
    Decoding stops at the end of the data, whatever the header claims.

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
        zero = origin(container)
        first = float(stream.start_time * stream.time_base) - zero if stream.start_time is not None else 0.0
        pending = deque(times)
        prev = None  # (index, t, frame) of the last decoded frame
        yielded = None  # the time of the last frame yielded
        index = -1
        fps = _fps(stream)
        step = 1.0 / fps
        last_t = -step
        frames = container.decode(stream)
        seekable, sought, after_seek = stream.time_base is not None, -1.0, False
        while pending:
            here = prev[1] if prev is not None else first
            if seekable and pending[0] > sought and pending[0] - here > SEEK_GAP:
                sought = pending[0]
                frames, after_seek, last_t = _seek(container, stream, sought + zero), True, -float("inf")
            try:
                frame = next(frames, None) if frames is not None else None
            except av.error.FFmpegError as exc:
                if index < 0 and not after_seek:
                    raise MediaError(f"the video could not be decoded ({decode_reason(exc)})") from None
                frame = None
            if frame is not None:
                _check_frame_size(frame.width, frame.height)  # a stream whose frames grow past its header
            if after_seek and (frame is None or frame.time is None):
                # nothing (or no timestamp) after the seek: decode from the start instead
                seekable, after_seek, last_t = False, False, -step
                frames = _seek(container, stream, 0.0)
                continue
            if frame is None:
                break
            t = float(frame.time) - zero if frame.time is not None else last_t + step
            t = t if t > last_t else last_t + step  # missing or repeated timestamps: count frames
            if after_seek and prev is not None and t <= prev[1]:
                seekable = False  # the keyframe lay behind where decoding had got to: seeking does not pay
            index = index + 1 if sought < 0 else round((t - first) * fps)
            after_seek, last_t = False, t
            while pending and t >= pending[0]:
                # the frame nearest the requested time: this one or the one before it
                use = (
                    prev if prev is not None and abs(prev[1] - pending[0]) < abs(t - pending[0]) else (index, t, frame)
                )
                if use[1] != yielded:  # two samples nearest the same frame (sparse or variable rate): yield it once
                    yield use[0], use[1], frame_to_bgr(use[2], max_side)
                    yielded = use[1]
                pending.popleft()
            prev = (index, t, frame)
        if prev is None:
            raise MediaError("the video holds no decodable frames")
        if pending and prev[1] != yielded:  # the stream ended early (truncated file): use the last frame once
            yield prev[0], prev[1], frame_to_bgr(prev[2], max_side)


def iter_all_frames(
    path: str | Path, until: float, limit: int, max_side: int = 0
) -> Iterator[tuple[int, float, np.ndarray]]:
    """Decode a video as a stream and yield every frame up to ``until`` seconds, at most ``limit`` of them.

    Times are seconds from the container's start, as in :func:`iter_video_frames`; only one decoded frame is held
    at a time. Frames larger than ``max_side`` (if > 0) are shrunk to it while they are converted.

    Raises:
        MediaError: If the video cannot be decoded at all.
    """
    import av

    with _open(Path(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        zero = origin(container)
        step = 1.0 / _fps(stream)
        last_t, index = -step, -1
        frames = container.decode(stream)
        while index + 1 < limit:
            try:
                frame = next(frames, None)
            except av.error.FFmpegError as exc:
                if index < 0:
                    raise MediaError(f"the video could not be decoded ({decode_reason(exc)})") from None
                break
            if frame is None:
                break
            _check_frame_size(frame.width, frame.height)
            t = float(frame.time) - zero if frame.time is not None else last_t + step
            t = t if t > last_t else last_t + step  # missing or repeated timestamps: count frames
            if t > until:
                break
            index, last_t = index + 1, t
            yield index, t, frame_to_bgr(frame, max_side)
        if index < 0:
            raise MediaError("the video holds no decodable frames")


def _seek(container, stream, t: float):  # noqa: ANN001, ANN202 - av types are optional at import time
    """Seek ``stream`` to the keyframe at or before ``t`` seconds of its own time; return a frame iterator, or None."""
    import av

    try:
        container.seek(max(0, int(t / stream.time_base)), stream=stream, backward=True, any_frame=False)
    except (av.error.FFmpegError, OverflowError, ValueError):
        return None
    return container.decode(stream)


def frame_to_bgr(frame, max_side: int = 0) -> np.ndarray:  # noqa: ANN001
    """Convert a decoded PyAV frame to BGR, applying its rotation and shrinking it to ``max_side`` if > 0.

    The shrinking happens in FFmpeg's scaler, in the same pass as the colour conversion (area averaging), which
    costs less than converting the full frame.
    """
    if max_side and max(frame.width, frame.height) > max_side:
        s = max_side / max(frame.width, frame.height)
        width, height = max(2, round(frame.width * s / 2) * 2), max(2, round(frame.height * s / 2) * 2)
        img = frame.reformat(width=width, height=height, format="bgr24", interpolation="AREA").to_ndarray()
        max_side = 0
    else:
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
