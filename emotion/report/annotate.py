"""Drawing results onto pictures: annotated images, face thumbnails and annotated videos.

Annotated videos are H.264 (yuv420p, ``+faststart``) MP4 files that play in browsers. They are
written with PyAV, whose wheel bundles FFmpeg and libx264, so no system ffmpeg is needed; the
source's audio is copied when it is AAC and re-encoded to AAC otherwise.
"""

from __future__ import annotations

import base64
import bisect
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from emotion.media import MediaError, iter_video_frames, origin, read_image
from emotion.record import Face, Frame, Result
from emotion.settings import AUDIO_RATES

_BGR: dict[str, tuple[int, int, int]] = {
    "angry": (40, 39, 214),
    "disgust": (35, 142, 107),
    "fear": (189, 103, 148),
    "happy": (1, 183, 242),
    "sad": (180, 119, 31),
    "surprise": (14, 127, 255),
    "neutral": (140, 140, 140),
}
H264_ENCODERS = ("libx264", "h264", "libopenh264")
"""Encoders tried in order for annotated videos."""
AAC_RATES = (96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350)
"""Sample rates AAC can hold; sound at another rate is re-encoded at 48 kHz."""


def draw_faces(bgr: np.ndarray, faces: list[Face]) -> np.ndarray:
    """Return a copy of a BGR image with each face's box and "#id emotion NN%" label drawn on.

    Line width and text size follow the image and face sizes, so labels stay readable on small and 4K
    frames. A label goes above its box, or below it when that would cover another face's label.
    """
    out = bgr.copy()
    side = max(out.shape[:2])
    thick = max(1, round(side / 500))
    placed: list[tuple[int, int, int, int]] = []
    for face in faces:  # boxes first, so no box line crosses a label
        x, y, w, h = (int(v) for v in face.box)
        cv2.rectangle(out, (x, y), (x + w, y + h), _BGR.get(face.emotion, (255, 255, 255)), thick + 1, cv2.LINE_AA)
    for face in faces:
        x, y, w, h = (int(v) for v in face.box)
        col = _BGR.get(face.emotion, (255, 255, 255))
        text = f"#{face.id} {face.emotion} {face.scores.get(face.emotion, 0.0):.0%}"
        scale = min(max(0.45, side / 1100), max(0.4, w / 190))
        (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thick)
        above = (x, y - th - base - 6, x + tw + 6, y)
        below = (x, y + h, x + tw + 6, y + h + th + base + 6)
        box = above if above[1] >= 0 and not any(_overlap(above, p) for p in placed) else below
        placed.append(box)
        cv2.rectangle(out, box[:2], box[2:], col, -1)
        lum = 0.114 * col[0] + 0.587 * col[1] + 0.299 * col[2]
        ink = (0, 0, 0) if lum > 150 else (255, 255, 255)
        cv2.putText(out, text, (x + 3, box[3] - base - 2), cv2.FONT_HERSHEY_SIMPLEX, scale, ink, thick, cv2.LINE_AA)
    return out


GROW = 0.35
"""Anonymised faces: each box grows by this share of its size on every side before it is pixelated."""


def pixelate(bgr: np.ndarray, boxes: list[list[int]], grow: float = GROW, blocks: int = 0) -> np.ndarray:
    """Return a copy of a BGR image with each box (grown by ``grow``) hidden.

    With ``blocks`` 0 (faces) each region is filled with its own average colour: a coarse mosaic (5 cells across,
    blurred) still left head-shaped blobs that BlazeFace took for faces, a flat patch leaves none. With ``blocks``
    > 0 the region becomes a blurred mosaic of that many cells across (whole frames that no sample covers).
    """
    out = bgr.copy()
    height, width = out.shape[:2]
    for box in boxes:
        x, y, w, h = (float(v) for v in box)
        x0, y0 = max(0, int(x - grow * w)), max(0, int(y - grow * h))
        x1, y1 = min(width, int(x + w + grow * w) + 1), min(height, int(y + h + grow * h) + 1)
        if x1 <= x0 or y1 <= y0:
            continue
        region = out[y0:y1, x0:x1]
        if blocks <= 0:
            out[y0:y1, x0:x1] = region.reshape(-1, region.shape[-1]).mean(axis=0).astype(out.dtype)
            continue
        cells = (blocks, max(1, round(blocks * (y1 - y0) / max(1, x1 - x0))))
        small = cv2.resize(region, cells, interpolation=cv2.INTER_AREA)
        big = cv2.resize(small, (x1 - x0, y1 - y0), interpolation=cv2.INTER_NEAREST)
        k = max(3, (min(x1 - x0, y1 - y0) // 6) | 1)
        out[y0:y1, x0:x1] = cv2.GaussianBlur(big, (k, k), 0)
    return out


def anonymised(result: Result) -> bool:
    """Whether the analysis ran with the ``anonymise`` setting (faces blurred in every export)."""
    return bool((result.settings or {}).get("anonymise"))


def _overlap(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def jpeg_base64(bgr: np.ndarray, max_side: int = 0, quality: int = 85) -> str:
    """Return a BGR image as a base64 JPEG, shrunk so its longer side is at most ``max_side`` (0: as is)."""
    if max_side and max(bgr.shape[:2]) > max_side:
        s = max_side / max(bgr.shape[:2])
        size = (max(1, round(bgr.shape[1] * s)), max(1, round(bgr.shape[0] * s)))
        bgr = cv2.resize(bgr, size, interpolation=cv2.INTER_AREA)
    ok, buf = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError("could not encode the image as JPEG")
    return base64.b64encode(buf.tobytes()).decode("ascii")


def annotated_image(path: str | Path, result: Result, max_side: int = 1280) -> str:
    """Return the analysed image with its faces drawn on, as a base64 JPEG."""
    faces = result.frames[0].faces if result.frames else []
    img = read_image(path)
    if anonymised(result) and result.frames:
        img = pixelate(img, _all_boxes(result.frames[0]))
    return jpeg_base64(draw_faces(img, faces), max_side)


def face_thumbnails(path: str | Path, result: Result, size: int = 96) -> dict[str, str]:
    """Crop one square thumbnail per tracked face id from the media file, as base64 JPEGs.

    Each id's thumbnail comes from the sampled frame where its box is largest. Video frames are
    re-read with :func:`emotion.media.iter_video_frames` in one pass.

    Returns:
        Face id (as a string, JSON-friendly) to base64 JPEG; empty when no face was kept.
    """
    best: dict[int, tuple[float, Face]] = {}
    for fr in result.frames:
        for face in fr.faces:
            if face.id not in best or face.box[2] * face.box[3] > best[face.id][1].box[2] * best[face.id][1].box[3]:
                best[face.id] = (fr.t, face)
    if not best:
        return {}
    if result.kind == "image":
        images = {0.0: read_image(path)}
    else:
        times = sorted({t for t, _ in best.values()})
        images = {t: img for t, (_, _, img) in zip(times, iter_video_frames(path, times))}
    thumbs = {}
    for face_id, (t, face) in sorted(best.items()):
        img = images.get(t if result.kind != "image" else 0.0)
        if img is None:
            continue
        if anonymised(result):
            img = pixelate(img, [face.box])
        thumbs[str(face_id)] = jpeg_base64(_square(img, face.box, size), 0, 90)
    return thumbs


def _square(img: np.ndarray, box: list[int], size: int) -> np.ndarray:
    """Return a square crop around a box with a 15% margin, resized to ``size``."""
    x, y, w, h = box
    side = round(max(w, h) * 1.3)
    cx, cy = x + w / 2, y + h / 2
    x0, y0 = max(0, round(cx - side / 2)), max(0, round(cy - side / 2))
    crop = img[y0 : y0 + side, x0 : x0 + side]
    if crop.size == 0:
        crop = img
    return cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA)


def _faces_at(result: Result) -> Callable[[float], list[Face]]:
    """Return a lookup time -> faces of the nearest sampled frame, or none when no sample is near.

    A sample counts for the frames up to one sampling step away, so frames past the analysed part of a
    video (``max_duration``) get no boxes.
    """
    frames = sorted(result.frames, key=lambda fr: fr.t)
    times = [fr.t for fr in frames]
    steps = np.diff(times)
    reach = float(np.median(steps)) if len(steps) else float("inf")

    def lookup(t: float) -> list[Face]:
        if not times:
            return []
        i = bisect.bisect_left(times, t)
        near = min((j for j in (i - 1, i) if 0 <= j < len(times)), key=lambda j: abs(times[j] - t))
        return frames[near].faces if abs(times[near] - t) <= reach else []

    return lookup


def _boxes_near(result: Result) -> Callable[[float], list[list[int]] | None]:
    """Return a lookup time -> the boxes of the samples just before and after it (faces move between samples).

    None means no sample is near (past the analysed part): an anonymised video hides that whole frame.
    """
    frames = sorted(result.frames, key=lambda fr: fr.t)
    times = [fr.t for fr in frames]
    steps = np.diff(times)
    reach = float(np.median(steps)) if len(steps) else 1.0

    def lookup(t: float) -> list[list[int]] | None:
        i = bisect.bisect_left(times, t)
        near = [j for j in (i - 1, i) if 0 <= j < len(times) and abs(times[j] - t) <= reach * 1.01]
        if not near:
            return None
        return [box for j in near for box in _all_boxes(frames[j])]

    return lookup


def _all_boxes(frame: Frame) -> list[list[int]]:
    """Every face box found in a frame: the analysed faces and the ones a quality filter dropped."""
    return [f.box for f in frame.faces] + [d.box for d in frame.dropped_faces]


def h264_encoder() -> str:
    """Return the first H.264 encoder that PyAV's FFmpeg has.

    Raises:
        MediaError: If none of :data:`H264_ENCODERS` is available.
    """
    import av

    for name in H264_ENCODERS:
        try:
            av.codec.Codec(name, "w")
            return name
        except Exception:  # noqa: BLE001, S112 - av raises UnknownCodecError or ValueError by version
            continue
    raise MediaError("no H.264 encoder in PyAV's FFmpeg (tried " + ", ".join(H264_ENCODERS) + ")")


def annotate_video(
    src_path: str | Path,
    result: Result,
    dst_path: str | Path,
    max_side: int = 0,
    progress: Callable[[float], None] | None = None,
    anonymise: bool | None = None,
    labels: bool = True,
) -> Path:
    """Write a copy of a video with each face's box and label drawn on every frame.

    Every frame shows the faces of the nearest sampled frame (so the boxes hold between samples).
    With the ``anonymise`` setting in the record, every face of the samples
    around each frame is hidden first (:func:`pixelate`), and a frame far from every sample is pixelated whole.
    The output is H.264 in yuv420p with the index at the front (``+faststart``), so browsers can
    play it while it downloads. The first audio stream is copied when it is AAC and re-encoded to
    AAC otherwise. Picture and sound keep their timestamps from the container's start
    (:func:`emotion.media.origin`), as the record's times do: a picture that starts late still
    starts late, in step with the sound.

    Args:
        src_path: The analysed video.
        result: Its result record.
        dst_path: The MP4 file to write.
        max_side: If > 0, frames larger than this are shrunk to it (smaller, faster files).
        progress: Called with the fraction of frames written.
        anonymise: Pixelate the faces; None follows the record's ``anonymise`` setting.
        labels: Draw boxes and labels (False for a blurred copy of an already annotated video).

    Returns:
        ``dst_path``.

    Raises:
        MediaError: If the source cannot be decoded or no H.264 encoder exists.
    """
    import av

    from emotion.media import frame_to_bgr, open_media

    src_path, dst_path = Path(src_path), Path(dst_path)
    faces_at = _faces_at(result)
    hide = _boxes_near(result) if (anonymised(result) if anonymise is None else anonymise) else None
    first = next(iter(iter_video_frames(src_path, [0.0], max_side)), None)
    if first is None:
        raise MediaError("the video holds no decodable frames")
    src = open_media(src_path, "video")  # only an allowed container, reading no other file
    with src:
        if not src.streams.video:
            raise MediaError("the file has no video stream")
        vin = src.streams.video[0]
        vin.thread_type = "AUTO"
        ain = src.streams.audio[0] if src.streams.audio else None
        if ain is not None and not AUDIO_RATES[0] <= (ain.codec_context.sample_rate or 44100) <= AUDIO_RATES[1]:
            ain = None  # a rate the voice path refuses too (1 Hz would decode to gigabytes): a silent copy
        zero = origin(src)
        rate = vin.average_rate or vin.guessed_rate or Fraction(25)
        total = max(1, int(vin.frames or float(result.duration or 0) * float(rate)))
        with av.open(str(dst_path), "w", format="mp4", options={"movflags": "+faststart"}) as dst:
            vout = _video_stream(dst, first[2], rate, vin.time_base)
            tick = vout.codec_context.time_base
            aout, resampler, copy_audio, next_sample = None, None, False, None
            if ain is not None:
                copy_audio = ain.codec_context.name == "aac"
                if copy_audio:
                    aout = dst.add_stream_from_template(ain)
                else:
                    rate_in = ain.codec_context.sample_rate or 44100
                    aout = dst.add_stream("aac", rate=rate_in if rate_in in AAC_RATES else 48000)
                    aout.layout = "stereo" if (ain.codec_context.channels or 1) > 1 else "mono"
                    resampler = av.AudioResampler(format="fltp", layout=aout.layout, rate=aout.rate)
            shift = round(zero / ain.time_base) if ain is not None and ain.time_base is not None else 0
            streams = [vin] + ([ain] if ain is not None else [])
            written, last_pts = 0, -1
            for packet in src.demux(*streams):
                if packet.stream is ain:
                    assert aout is not None  # ain has an output stream
                    if copy_audio:
                        if packet.dts is not None:
                            packet.dts -= shift
                            packet.pts = packet.pts - shift if packet.pts is not None else None
                            packet.stream = aout
                            dst.mux(packet)
                        continue
                    assert resampler is not None  # made when the audio is not copied
                    for frame in _decode(packet):
                        if next_sample is None:  # where the sound starts, from the container's start
                            lead = float(frame.time) - zero if frame.time is not None else 0.0
                            next_sample = max(0, round(lead * aout.rate))
                        for sound in resampler.resample(frame):
                            sound.pts, sound.time_base = next_sample, Fraction(1, aout.rate)
                            next_sample += sound.samples
                            dst.mux(aout.encode(sound))
                    continue
                for frame in _decode(packet):
                    img = frame_to_bgr(frame, max_side)
                    t = float(frame.time) - zero if frame.time is not None else written / float(rate)
                    if hide is not None:
                        img = _hidden(img, hide(t), result)
                    if labels:
                        img = draw_faces(img, faces_at(t))
                    h, w = vout.codec_context.height, vout.codec_context.width
                    if img.shape[:2] != (h, w):
                        img = img[:h, :w]
                    out = av.VideoFrame.from_ndarray(np.ascontiguousarray(img), format="bgr24")
                    out.pts = last_pts = max(last_pts + 1, round(max(0.0, t) / tick))  # its own time, in order
                    out.time_base = tick
                    dst.mux(vout.encode(out))
                    written += 1
                    if progress is not None and written % 10 == 0:
                        progress(min(1.0, written / total))
            dst.mux(vout.encode(None))
            if resampler is not None and aout is not None:
                dst.mux(aout.encode(None))
    if progress is not None:
        progress(1.0)
    return dst_path


def _hidden(img: np.ndarray, boxes: list[list[int]] | None, result: Result) -> np.ndarray:
    """The frame with the faces near it pixelated (boxes scaled to the frame), or all of it when none is known."""
    if boxes is None:
        return pixelate(img, [[0, 0, img.shape[1], img.shape[0]]], grow=0.0, blocks=12)
    sx = img.shape[1] / result.width if result.width else 1.0
    sy = img.shape[0] / result.height if result.height else 1.0
    return pixelate(img, [[round(b[0] * sx), round(b[1] * sy), round(b[2] * sx), round(b[3] * sy)] for b in boxes])


def _decode(packet):  # noqa: ANN001, ANN202 - av types
    import av

    try:
        return packet.decode()
    except av.error.FFmpegError:  # a damaged packet: skip it, keep the rest of the video
        return []


def _video_stream(dst, img: np.ndarray, rate: Fraction, tick: Fraction | None = None):  # noqa: ANN001, ANN202
    """Add the H.264 output stream.

    Its time base is the source's (``tick``) when finer than a frame, so frames keep their own times (a variable
    frame rate, a late start).
    """
    stream = dst.add_stream(h264_encoder(), rate=rate)
    stream.width, stream.height = img.shape[1] // 2 * 2, img.shape[0] // 2 * 2
    stream.pix_fmt = "yuv420p"
    frame = Fraction(1, 1) / rate
    fine = tick is not None and 0 < tick < frame and tick.denominator <= 10**6
    stream.codec_context.time_base = tick if fine else frame
    stream.options = {"crf": "23", "preset": "veryfast"}
    return stream
