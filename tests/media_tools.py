"""Make small real test media at test time (never committed): transcodes of the shared videos."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av


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
