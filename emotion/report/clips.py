"""Cutting pieces out of an analysed file: a video clip of a span (moviepy) and voice segments (pydub).

moviepy cuts the clip with the ffmpeg binary that imageio-ffmpeg ships (no system ffmpeg). pydub is given PCM the
project decodes itself (with the same bundled ffmpeg), because pydub would call ``ffprobe`` for any
non-WAV input and imageio-ffmpeg ships no ffprobe; MP3 is encoded by pointing pydub's converter at the same bundled
ffmpeg (it has libmp3lame).
"""

from __future__ import annotations

import io
import tempfile
import warnings
import zipfile
from pathlib import Path

import numpy as np

from emotion.errors import EmotionError, MediaError, one_line
from emotion.media import probe_format
from emotion.record import Segment

FORMATS = ("wav", "mp3")
"""Voice segment formats."""


class ClipError(EmotionError):
    """A clip or segment that cannot be cut; the message is one line to show."""


def _span(start: float, end: float, length: float | None = None) -> tuple[float, float]:
    if not (0 <= start < end):
        raise ClipError(f"a clip needs 0 <= start < end (got {start:g} to {end:g} s)")
    if length is not None and length > 0:
        end = min(end, length)
        if start >= end:
            raise ClipError(f"the span starts after the end of the media ({length:.1f} s)")
    return start, end


def cut_clip(src: str | Path, start: float, end: float, dst: str | Path) -> Path:
    """Write the part [start, end) of a video, with its sound, as an H.264/AAC MP4 (moviepy).

    Raises:
        ClipError: A bad span, or a video moviepy cannot read or write.
    """
    from moviepy import VideoFileClip

    dst = Path(dst)
    _allowed(src)
    try:
        with VideoFileClip(str(src)) as video:
            start, end = _span(start, end, video.duration)
            part = video.subclipped(start, end)
            part.write_videofile(str(dst), codec="libx264", audio_codec="aac" if video.audio else None,
                                 preset="veryfast", logger=None)
    except ClipError:
        raise
    except (OSError, ValueError, KeyError, IndexError) as exc:
        raise ClipError(f"the clip could not be cut: {one_line(exc, 160)}") from None
    return dst


def _allowed(src: str | Path) -> str:
    """Return the demuxer of ``src`` if it is an allowed media container (see :func:`emotion.media.probe_format`).

    Raises:
        ClipError: It is not: a playlist or list of other files is never handed to ffmpeg.
    """
    try:
        return probe_format(src)
    except MediaError as exc:
        raise ClipError(f"the clip could not be cut: {exc}") from None


def clip_bytes(src: str | Path, start: float, end: float) -> bytes:
    """:func:`cut_clip` into memory."""
    with tempfile.TemporaryDirectory(prefix="emotion-clip-") as folder:
        return cut_clip(src, start, end, Path(folder) / "clip.mp4").read_bytes()


def _audio_segment(samples: np.ndarray, rate: int):  # noqa: ANN202 - pydub is imported lazily
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # "Couldn't find ffmpeg": it is given one below
        from pydub import AudioSegment
    import imageio_ffmpeg

    AudioSegment.converter = imageio_ffmpeg.get_ffmpeg_exe()
    pcm = (np.clip(samples, -1.0, 1.0) * 32767).astype("<i2")
    return AudioSegment(data=pcm.tobytes(), sample_width=2, frame_rate=rate, channels=1)


def pcm(src: str | Path, start: float, end: float, rate: int = 16000) -> np.ndarray:
    """The sound of [start, end) of a file as mono float32 at ``rate``, decoded by imageio-ffmpeg's ffmpeg.

    Raises:
        ClipError: The file cannot be read or has no sound.
    """
    import subprocess

    import imageio_ffmpeg

    pinned = ["-protocol_whitelist", "file", "-f", _allowed(src), "-i", f"file:{src}"]  # that demuxer, no other file
    cmd = [imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-nostdin", "-ss", f"{start:.3f}", "-t",
           f"{end - start:.3f}", *pinned, "-vn", "-ac", "1", "-ar", str(rate), "-f", "s16le", "-"]
    try:
        done = subprocess.run(cmd, capture_output=True, timeout=600, check=False)  # noqa: S603 - a fixed binary
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ClipError(f"the sound could not be decoded: {exc}") from None
    if done.returncode != 0:
        why = done.stderr.decode(errors="replace").strip().splitlines()
        raise ClipError(f"the sound could not be decoded: {why[-1][:160] if why else 'ffmpeg failed'}")
    return np.frombuffer(done.stdout, "<i2").astype(np.float32) / 32768.0


def voice_clip(src: str | Path, start: float, end: float, fmt: str = "wav") -> bytes:
    """The sound of [start, end) of a file as 16 kHz mono WAV or MP3 (pydub).

    Raises:
        ClipError: A bad span or format, or a file without readable sound.
    """
    if fmt not in FORMATS:
        raise ClipError(f"unknown format '{fmt}' (choose from {', '.join(FORMATS)})")
    start, end = _span(start, end)
    rate = 16000
    part = pcm(src, start, end, rate)
    if part.size == 0:
        raise ClipError(f"no sound between {start:g} and {end:g} s")
    buf = io.BytesIO()
    try:
        _audio_segment(part, rate).export(buf, format=fmt, **({"bitrate": "96k"} if fmt == "mp3" else {}))
    except (OSError, RuntimeError) as exc:  # pydub's CouldntEncodeError is an Exception subclass
        raise ClipError(f"the {fmt} file could not be written: {one_line(exc, 160)}") from None
    return buf.getvalue()


def voice_only(src: str | Path, segments: list[Segment], fmt: str = "wav") -> bytes:
    """A ZIP of every speech window's sound (no picture), overlapping windows merged, named by their times.

    Raises:
        ClipError: No speech, or sound that cannot be read.
    """
    spans: list[list[float]] = []
    for seg in sorted((s for s in segments if s.speech), key=lambda s: s.start):
        if spans and seg.start <= spans[-1][1]:
            spans[-1][1] = max(spans[-1][1], seg.end)
        else:
            spans.append([seg.start, seg.end])
    if not spans:
        raise ClipError("no speech to export")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as archive:
        for start, end in spans:
            archive.writestr(f"voice_{start:07.2f}-{end:07.2f}s.{fmt}", voice_clip(src, start, end, fmt))
    return buf.getvalue()
