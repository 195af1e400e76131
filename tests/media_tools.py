"""Make small real test media at test time (never committed): transcodes of the shared videos."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np


def transcode(src: Path, dst: Path, codec: str, seconds: float = 2.0, audio: bool = True) -> Path:
    """Re-encode the first ``seconds`` of ``src`` into ``dst`` with a video ``codec``, keeping audio if asked."""
    audio_codec = {".webm": "libopus", ".avi": "mp3"}.get(dst.suffix, "aac")
    with av.open(str(src)) as inp, av.open(str(dst), "w") as out:
        vin = inp.streams.video[0]
        vout = out.add_stream(codec, rate=round(float(vin.average_rate)))
        vout.width, vout.height = vin.codec_context.width, vin.codec_context.height
        vout.pix_fmt = "yuvj420p" if codec == "mjpeg" else "yuv420p"
        vout.codec_context.time_base = Fraction(1, round(float(vin.average_rate)))
        aout = None
        if audio and inp.streams.audio:
            aout = out.add_stream("libmp3lame" if audio_codec == "mp3" else audio_codec, rate=48000)
        n = 0
        streams = [vin] + ([inp.streams.audio[0]] if aout else [])
        for frame in inp.decode(*streams):
            if frame.time is not None and frame.time > seconds:
                continue
            if isinstance(frame, av.VideoFrame):
                frame = frame.reformat(format="yuvj420p" if codec == "mjpeg" else "yuv420p")
                frame.pts, n = n, n + 1
                frame.time_base = vout.codec_context.time_base
                out.mux(vout.encode(frame))
            else:
                frame.pts = None
                out.mux(aout.encode(frame))
        out.mux(vout.encode())
        if aout:
            out.mux(aout.encode())
    return dst


def ffmpeg(*args: str | Path) -> None:
    """Run imageio-ffmpeg's ffmpeg quietly; fail with its last error line."""
    import subprocess

    import imageio_ffmpeg

    cmd = [imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-nostdin", "-y", *map(str, args)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    if proc.returncode:
        raise RuntimeError(f"ffmpeg failed: {(proc.stderr.strip().splitlines() or ['?'])[-1]}")


def without_audio(src: Path, dst: Path) -> Path:
    """Copy the video stream of ``src`` into ``dst`` and drop its audio track."""
    ffmpeg("-i", src, "-an", "-c:v", "copy", dst)
    return dst


def rotated(src: Path, dst: Path) -> Path:
    """Store ``src`` turned on its side with a 90° display-rotation flag that turns it upright again (as phones do)."""
    side = dst.with_name(f"side-{dst.name}")
    ffmpeg("-i", src, "-vf", "transpose=clock", "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "copy", side)
    ffmpeg("-display_rotation", "90", "-i", side, "-c", "copy", dst)
    side.unlink()
    return dst


def variable_rate(src: Path, dst: Path) -> Path:
    """Keep every frame of the first second of ``src`` and every 4th after it, with their own timestamps (VFR)."""
    ffmpeg(
        "-i",
        src,
        "-vf",
        r"select='lt(t\,1)+not(mod(n\,4))'",
        "-fps_mode",
        "vfr",
        "-an",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        dst,
    )
    return dst


def tone(dst: Path, seconds: float = 5.0, hz: float = 0.0) -> Path:
    """Write a mono 16 kHz WAV of a sine at ``hz``, or of silence when ``hz`` is 0."""
    source = f"sine=frequency={hz:g}:sample_rate=16000" if hz else "anullsrc=r=16000:cl=mono"
    ffmpeg("-f", "lavfi", "-i", source, "-t", f"{seconds:g}", dst)
    return dst


def long_video(face: Path, dst: Path, seconds: float = 7200.0, audio: bool = False) -> Path:
    """Write a long low-res video cheaply: 10 s of ``face`` on gray at 320x180, 10 fps, looped by stream copy.

    Args:
        face: A face image to show in the middle of every frame.
        dst: The MP4 to write.
        seconds: Its length.
        audio: Add a silent AAC track as long as the video.
    """
    segment = dst.with_name(f"segment-{dst.name}")
    sound = ["-f", "lavfi", "-i", "anullsrc=r=16000:cl=mono"] if audio else []
    ffmpeg(
        "-f",
        "lavfi",
        "-i",
        "color=c=gray:s=320x180:r=10",
        "-loop",
        "1",
        "-i",
        face,
        *sound,
        "-filter_complex",
        "[1:v]scale=-2:150[f];[0:v][f]overlay=(W-w)/2:(H-h)/2:shortest=1",
        "-t",
        "10",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-crf",
        "30",
        *(["-c:a", "aac", "-b:a", "16k", "-shortest"] if audio else []),
        segment,
    )
    ffmpeg("-stream_loop", "-1", "-i", segment, "-c", "copy", "-t", f"{seconds:g}", dst)
    segment.unlink()
    return dst


def face_crops(images: list[Path]) -> list[np.ndarray]:
    """Return every face the Haar detector finds in ``images``, with a margin, as 180x180 BGR crops."""
    from emotion.face.detect import HaarDetector

    detector, crops = HaarDetector(), []
    for path in images:
        img = cv2.imread(str(path))
        for x, y, w, h in detector.detect(img):
            m = w // 4
            crop = img[max(0, y - m) : y + h + m, max(0, x - m) : x + w + m]
            crops.append(cv2.resize(crop, (180, 180), interpolation=cv2.INTER_AREA))
    return crops


def crowd(crops: list[np.ndarray], n: int, cols: int = 5) -> np.ndarray:
    """Tile ``n`` face crops (repeats mirrored) on a gray canvas, 200 px a cell."""
    rows = -(-n // cols)
    canvas = np.full((rows * 200, cols * 200, 3), 128, np.uint8)
    for i in range(n):
        crop = crops[i % len(crops)]
        crop = crop[:, ::-1] if (i // len(crops)) % 2 else crop
        r, c = divmod(i, cols)
        canvas[r * 200 + 10 : r * 200 + 190, c * 200 + 10 : c * 200 + 190] = crop
    return canvas


def frame_4k(face: np.ndarray) -> np.ndarray:
    """Return a 3840x2160 frame with ``face`` upscaled 3x in its middle, on the face image's mean colour."""
    big = cv2.resize(face, None, fx=3, fy=3, interpolation=cv2.INTER_CUBIC)[:2160, :3840]
    canvas = np.empty((2160, 3840, 3), np.uint8)
    canvas[:] = face.reshape(-1, 3).mean(0).astype(np.uint8)
    y, x = (2160 - big.shape[0]) // 2, (3840 - big.shape[1]) // 2
    canvas[y : y + big.shape[0], x : x + big.shape[1]] = big
    return canvas
