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


# ---------------------------------------------------------------------------------------------------------------
# Hostile files: small on disk, huge or lying in their headers (made at test time, never committed)


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    import struct
    import zlib

    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_bomb(dst: Path, side: int = 12000, depth: int = 8) -> Path:
    """Write a real decompression bomb: a ``side`` x ``side`` RGBA PNG of zeros (0.5-1 MB on disk, 0.6-1.2 GB decoded).

    A block of rows is compressed once and repeated (a full flush makes each block stand alone), so making it takes
    well under a second and no more memory than one block.
    """
    import struct
    import zlib

    rows = next(r for r in (100, 50, 40, 25, 20, 10, 8, 5, 4, 2, 1) if side % r == 0 and side // r >= 3)
    block = bytes(rows * (1 + side * 4 * depth // 8))  # each row: filter byte 0, then transparent black
    packer = zlib.compressobj(9)
    first = packer.compress(block) + packer.flush(zlib.Z_FULL_FLUSH)
    again = packer.compress(block) + packer.flush(zlib.Z_FULL_FLUSH)
    last = packer.compress(block) + packer.flush()
    size = len(block) * (side // rows)
    data = first + again * (side // rows - 2) + last[:-4] + struct.pack(">I", (size % 65521) << 16 | 1)  # Adler-32
    header = struct.pack(">IIBBBBB", side, side, depth, 6, 0, 0, 0)
    png = b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header) + _png_chunk(b"IDAT", data) + _png_chunk(b"IEND", b"")
    dst.write_bytes(png)
    return dst


def patched_png(src_png: bytes, dst: Path, width: int, height: int) -> Path:
    """Copy a PNG with its IHDR width and height replaced (and its CRC fixed), its data unchanged."""
    import struct
    import zlib

    data = bytearray(src_png)
    assert data[12:16] == b"IHDR"
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    dst.write_bytes(bytes(data))
    return dst


def patched_jpeg(src: Path, dst: Path, width: int, height: int) -> Path:
    """Copy a real JPEG with the dimensions in its frame header (SOF0/1/2) replaced."""
    import struct

    data = bytearray(src.read_bytes())
    i = 2
    while i < len(data) - 9:
        assert data[i] == 0xFF, "not a JPEG marker"
        marker, length = data[i + 1], struct.unpack(">H", data[i + 2 : i + 4])[0]
        if marker in (0xC0, 0xC1, 0xC2):
            data[i + 5 : i + 9] = struct.pack(">HH", height, width)
            dst.write_bytes(bytes(data))
            return dst
        i += 2 + length
    raise ValueError("no frame header found")


def tiff_bomb(dst: Path, side: int = 30000, rows: int = 256) -> Path:
    """Write a ``side`` x ``side`` 8-bit gray deflate TIFF of a few kB: all its strips point at one compressed strip."""
    import struct
    import zlib

    strip = zlib.compress(bytes(side * rows), 9)
    n = -(-side // rows)
    entries = [
        (256, 4, 1, side), (257, 4, 1, side), (258, 3, 1, 8), (259, 3, 1, 8), (262, 3, 1, 1),
        (273, 4, n, 0), (277, 3, 1, 1), (278, 4, 1, rows), (279, 4, n, 0), (284, 3, 1, 1),
    ]  # fmt: skip
    ifd_size = 2 + 12 * len(entries) + 4
    offsets_at = 8 + ifd_size
    counts_at = offsets_at + 4 * n
    data_at = counts_at + 4 * n
    ifd = struct.pack("<H", len(entries))
    for tag, kind, count, value in entries:
        value = {273: offsets_at, 279: counts_at}.get(tag, value)
        packed = struct.pack("<HH", value, 0) if kind == 3 else struct.pack("<I", value)
        ifd += struct.pack("<HHI", tag, kind, count) + packed
    body = struct.pack("<" + "I" * n, *[data_at] * n) + struct.pack("<" + "I" * n, *[len(strip)] * n)
    dst.write_bytes(b"II*\x00" + struct.pack("<I", 8) + ifd + struct.pack("<I", 0) + body + strip)
    return dst


def patched_webp(src: Path, dst: Path, width: int, height: int) -> Path:
    """Re-encode an image as a lossy WebP and replace the dimensions in its VP8 frame header."""
    import struct

    img = cv2.imread(str(src))
    data = bytearray(cv2.imencode(".webp", img, [cv2.IMWRITE_WEBP_QUALITY, 80])[1].tobytes())
    at = data.index(b"VP8 ") + 8
    assert data[at + 3 : at + 6] == b"\x9d\x01\x2a"
    data[at + 6 : at + 10] = struct.pack("<HH", width & 0x3FFF, height & 0x3FFF)
    if b"VP8X" in data:
        x = data.index(b"VP8X") + 12
        data[x : x + 6] = (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
    dst.write_bytes(bytes(data))
    return dst


def audio_at_rate(dst: Path, rate: int = 1, samples: int = 50_000, codec: str = "") -> Path:
    """Write ``samples`` of 16-bit noise at a sample rate of ``rate`` Hz (WAV, FLAC or FLAC in OGG, by suffix).

    At 1 Hz, 50,000 samples (100 kB) claim almost 14 hours.
    """
    codec = codec or {".wav": "pcm_s16le"}.get(dst.suffix, "flac")
    x = np.random.default_rng(0).integers(-3000, 3000, (1, samples)).astype(np.int16)
    with av.open(str(dst), "w") as out:
        stream = out.add_stream(codec, rate=rate)
        stream.layout = "mono"
        frame = av.AudioFrame.from_ndarray(x, format="s16", layout="mono")
        frame.sample_rate, frame.pts = rate, 0
        for packet in stream.encode(frame):
            out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return dst


def _box(data: bytes | bytearray, kind: bytes, start: int = 0) -> int:
    """Return the offset of the first MP4 box of ``kind`` at or after ``start`` (its size field)."""
    at = bytes(data).index(kind, start) - 4
    return at


def lying_mp4(src: Path, dst: Path) -> Path:
    """Copy an MP4 so that its video's last frame lasts 2**31 - 1 ticks (about 25 hours at a 1/24000 time base).

    The sample table gains one entry (the moov box comes after the media data, so no data offset moves) and the
    media header claims as much: the video stream and the container then claim a day of video, while the data hold
    what they held.
    """
    import struct

    ffmpeg("-i", src, "-c", "copy", "-use_editlist", "0", dst)  # an edit list would bound the duration
    data = bytearray(dst.read_bytes())
    assert data.index(b"mdat") < data.index(b"moov"), "the moov box must come last"
    trak = _box(data, b"trak")
    assert b"vide" in data[trak : _box(data, b"stts", trak)], "the first track must be the video"
    at = _box(data, b"stts", trak)
    n, (count, delta) = struct.unpack(">I", data[at + 12 : at + 16])[0], struct.unpack(">II", data[at + 16 : at + 24])
    assert n == 1 and count > 1, "a constant frame rate"
    entries = struct.pack(">IIII", count - 1, delta, 1, 0x7FFFFFFF)
    data[at + 12 : at + 24] = struct.pack(">I", 2) + entries
    mdhd = _box(data, b"mdhd", trak)
    assert data[mdhd + 8] == 0, "a version-0 media header"
    data[mdhd + 24 : mdhd + 28] = struct.pack(">I", 0xFFFFFFF0)  # FFmpeg takes the smaller of this and the table's
    for kind in (b"moov", b"trak", b"mdia", b"minf", b"stbl", b"stts"):  # every box that holds the table grows
        box = _box(data, kind, 0 if kind == b"moov" else trak)
        data[box : box + 4] = struct.pack(">I", struct.unpack(">I", data[box : box + 4])[0] + 8)
    dst.write_bytes(bytes(data))
    return dst


def lying_mkv(src: Path, dst: Path, seconds: float = 72_000_000.0) -> Path:
    """Copy a video into Matroska and patch its segment's Duration to ``seconds`` (the data stay as they were)."""
    import struct

    ffmpeg("-i", src, "-c", "copy", dst)
    data = bytearray(dst.read_bytes())
    at = data.index(b"\x44\x89")  # Duration, a float in TimestampScale units (1 ms by default)
    size = data[at + 2] & 0x7F
    assert size in (4, 8)
    data[at + 3 : at + 3 + size] = struct.pack(">d" if size == 8 else ">f", seconds * 1000)
    dst.write_bytes(bytes(data))
    return dst


def offset_streams(
    src: Path, dst: Path, video: float = 0.0, audio: float = 0.0, sound: Path | None = None, audio_codec: str = "copy"
) -> Path:
    """Copy ``src`` with its video stream starting ``video`` seconds and its audio ``audio`` seconds late.

    Phones and web recorders often write the picture a little after the sound (or the other way round); the
    container's start is the earlier of the two. The sound comes from ``sound`` if given (else ``src``), copied or
    encoded with ``audio_codec`` (PCM in Matroska keeps every sample where it was: no codec priming).
    """
    ffmpeg(
        "-itsoffset", f"{video:g}", "-i", src, "-itsoffset", f"{audio:g}", "-i", sound or src,
        "-map", "0:v:0", "-map", "1:a:0", "-c:v", "copy", "-c:a", audio_codec, dst,
    )  # fmt: skip
    return dst


def wav_claiming(dst: Path, seconds: float = 5.0, claim: int = 0xFFFFFFF0) -> Path:
    """Write a 16 kHz mono WAV of ``seconds`` of a 440 Hz tone whose header claims ``claim`` bytes of data
    (by default about 37 hours)."""
    import struct

    tone(dst, seconds, hz=440)
    data = bytearray(dst.read_bytes())
    at = data.index(b"data") + 4
    data[at : at + 4] = struct.pack("<I", claim)
    data[4:8] = struct.pack("<I", min(0xFFFFFFFF, claim + 36))
    dst.write_bytes(bytes(data))
    return dst


# Linux carries a process's peak RSS across exec, so a child started straight from the (large) test process would
# report the test process's peak: a small wrapper starts it and reports its child's peak instead.
_WRAP = (
    "import resource, subprocess, sys; code = subprocess.call(sys.argv[2:]); "
    "open(sys.argv[1], 'w').write(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)); sys.exit(code)"
)
_CHILD = (
    "import json, resource, sys; cap = int(sys.argv[1]); resource.setrlimit(resource.RLIMIT_AS, (cap, cap)); "
    "out = {}; exec(sys.argv[2]); print(json.dumps(out))"
)


def run_capped(code: str, cap_gb: float, timeout: float = 300) -> tuple[dict, float, float]:
    """Run Python ``code`` in a child process whose address space is capped at ``cap_gb`` GiB.

    The code fills a dict named ``out``. A child that breaks its cap fails with a MemoryError (or is killed) instead
    of exhausting the machine.

    Returns:
        ``out``, the child's peak RSS in MB, and its wall time in seconds.

    Raises:
        AssertionError: If the child fails; the message holds the end of its stderr.
    """
    import json
    import os
    import subprocess
    import sys
    import tempfile
    import time

    env = {**os.environ, "MALLOC_ARENA_MAX": "2"}  # many threads must not reserve arenas against the cap
    with tempfile.TemporaryDirectory() as folder:
        peak = Path(folder) / "peak"
        cmd = [sys.executable, "-c", _WRAP, str(peak), sys.executable, "-c", _CHILD, str(int(cap_gb * 2**30)), code]
        t0 = time.perf_counter()
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
        wall = time.perf_counter() - t0
        assert done.returncode == 0, f"the child failed ({done.returncode}): {done.stderr[-1500:]}"
        return json.loads(done.stdout.strip().splitlines()[-1]), int(peak.read_text()) / 1024, wall


def encode_audio(out: av.container.OutputContainer, stream: av.audio.stream.AudioStream, samples: np.ndarray,
                 rate: int) -> None:
    """Encode mono float samples into ``stream`` of ``out`` in 1024-sample frames, then flush the encoder."""
    for start in range(0, samples.size, 1024):
        frame = av.AudioFrame.from_ndarray(samples[None, start : start + 1024].astype(np.float32), format="flt",
                                           layout="mono")
        frame.sample_rate, frame.pts = rate, start
        for packet in stream.encode(frame):
            out.mux(packet)
    for packet in stream.encode():
        out.mux(packet)
