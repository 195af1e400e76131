"""Voice path: decode any audio or video file, find speech, and classify the emotion of each window.

Public verbs (audinterface style)::

    signal, sr = load_audio(path)                       # float32 mono, 16 kHz
    result = process_signal(signal, sr, settings, model)  # AudioResult
    result = process_file(path, settings)                 # both of the above

Decoding uses PyAV (FFmpeg libraries bundled in its wheel); the ffmpeg binary of imageio-ffmpeg is the fallback.
No system ffmpeg is needed.
"""

from __future__ import annotations

import io
import subprocess
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, cast

import numpy as np

from emotion.errors import AudioError, MediaError, NoAudioTrackError
from emotion.labels import voice_order
from emotion.media import decode_reason, open_media, origin, probe_format
from emotion.record import AudioResult, Segment, rounded, voice_summary
from emotion.settings import AUDIO_RATES, MAX_AUDIO_SECONDS, describe
from emotion.voice import vad
from emotion.voice.features import extract_features
from emotion.voice.levels import SR
from emotion.voice.persistence import load_voice_model

AUDIO_EXTENSIONS = (".wav", ".mp3", ".m4a", ".flac", ".ogg", ".aac", ".opus")
VIDEO_EXTENSIONS = (".mp4", ".mov", ".webm", ".avi", ".mkv", ".m4v")
HOP = vad.HOP
"""Seconds between the frames of the speech detector."""
ABS_DB, REL_DB, FLOOR_DB = vad.ABS_DB, vad.REL_DB, vad.FLOOR_DB
"""Energy thresholds of :func:`emotion.voice.vad.energy_frames`."""
MIN_SPEECH = 0.25
"""A window needs at least this many seconds (and 15% of its length) of active frames to count as speech."""


# ----------------------------------------------------------------------------------------------------------------
# Decoding


def load_audio(path: str | Path, max_duration: float = 0.0) -> tuple[np.ndarray, int]:
    """Decode the audio (track) of a file to 16 kHz mono float32.

    The track's sample rate is read from its header before anything is decoded, and a rate outside
    :data:`~emotion.settings.AUDIO_RATES` is refused. At most ``max_duration`` + 1 s, or
    :data:`~emotion.settings.MAX_AUDIO_SECONDS` without a limit, is decoded, however long the file claims to be.
    Time counts from the container's start (:func:`emotion.media.origin`), as for the video: a track that starts
    late is preceded by as much silence, so voice and faces share one time axis.

    Args:
        path: An audio file (wav, mp3, m4a, flac, ogg, ...) or a video (mp4, mov, webm, avi, ...).
        max_duration: If > 0, stop decoding a little after this many seconds (the caller truncates and says so).

    Returns:
        ``(signal, 16000)`` with the signal in [-1, 1]. If the file breaks off part-way, the part decoded so far.

    Raises:
        NoAudioTrackError: The file has no audio track.
        AudioError: The file is missing, corrupt, not a media file, or its sample rate is out of range.
    """
    path = Path(path)
    if not path.is_file():
        raise AudioError("audio file not found")
    limit = max_duration + 1.0 if max_duration and max_duration > 0 else MAX_AUDIO_SECONDS
    try:  # a file PyAV refuses or cannot open is never handed to another demuxer
        fmt = probe_format(path)
    except MediaError as exc:
        raise AudioError(f"cannot read audio: {str(exc).replace('not a readable', 'corrupt or unsupported')}") from None
    try:
        signal = _decode_pyav(path, limit)
    except AudioError:
        raise
    except Exception as exc:  # PyAV failed to decode: try the bundled ffmpeg binary, pinned to the same demuxer
        try:
            signal = _decode_ffmpeg(path, limit, fmt)
        except AudioError:
            raise
        except Exception:
            raise AudioError(f"cannot read audio: corrupt or unsupported file ({decode_reason(exc)})") from exc
    if signal.size == 0:
        raise AudioError("cannot read audio: no audio samples could be decoded")
    return signal, SR


def _check_rate(rate: int) -> None:
    """Refuse a sample rate outside :data:`~emotion.settings.AUDIO_RATES` (0 is unknown yet, and passes)."""
    lo, hi = AUDIO_RATES
    if rate and not lo <= rate <= hi:
        raise AudioError(f"the audio's sample rate ({rate} Hz) is outside {lo}..{hi} Hz, so it is not decoded")


def _decode_pyav(path: Path, limit: float) -> np.ndarray:
    import av

    with open_media(path, "audio file") as container:
        if not container.streams.audio:
            raise NoAudioTrackError("the file has no audio track, so there is no voice to analyse")
        stream = container.streams.audio[0]
        _check_rate(int(stream.codec_context.sample_rate or 0))
        zero = origin(container)
        resampler = av.AudioResampler(format="flt", layout="mono", rate=SR)
        stop = int(limit * SR)
        claimed = float(container.duration or 0) / 1e6 or 60.0
        # sized from the header, never past the limit; untouched pages of a lying header cost no memory
        signal = np.zeros(min(stop, int(claimed * SR) + SR), np.float32)
        total = -1  # until the first frame says where the track starts

        def put(out: av.AudioFrame) -> None:  # into one growing array: a long track is held once, not in pieces
            nonlocal signal, total
            x = out.to_ndarray().reshape(-1)[: stop - total]
            if total + x.size > signal.size:
                grown = np.zeros(min(stop, max(2 * signal.size, total + x.size)), np.float32)
                keep = min(total, signal.size)
                grown[:keep] = signal[:keep]
                signal = grown
            signal[total : total + x.size] = x
            total += x.size

        try:
            for frame in container.decode(stream):
                _check_rate(frame.sample_rate)
                if total < 0:  # a track that starts late: silence from the container's start
                    lead = float(frame.time) - zero if frame.time is not None else 0.0
                    total = min(stop, max(0, round(lead * SR)))
                for out in resampler.resample(frame):
                    put(out)
                if total >= stop:
                    break
            total = max(0, total)
            for out in resampler.resample(None):
                put(out)
        except av.FFmpegError:
            if total <= 0:  # broken from the start: let the caller report it; otherwise keep what decoded
                raise
    return signal[: max(0, total)]


def _decode_ffmpeg(path: Path, limit: float, fmt: str) -> np.ndarray:
    """Decode with the ffmpeg binary, reading at most ``limit`` seconds of its output as it comes.

    The binary reads the file as the demuxer ``fmt`` (one of :data:`~emotion.media.MEDIA_FORMATS`, as PyAV found
    it) and no other file.
    """
    import imageio_ffmpeg

    cmd = [imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-nostdin", "-protocol_whitelist", "file", "-f", fmt]
    cmd += ["-i", f"file:{path}", "-t", f"{limit:.3f}"]
    cmd += ["-vn", "-ac", "1", "-ar", str(SR), "-f", "f32le", "-"]
    signal = np.zeros(int(limit * SR), np.float32)  # pages are used only as samples arrive
    view, got = signal.data.cast("B"), 0
    errors: deque[bytes] = deque(maxlen=20)  # the last lines only: a damaged file can print without end
    with subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as proc:
        out = cast(io.BufferedReader, proc.stdout)
        drain = threading.Thread(target=errors.extend, args=(proc.stderr,), daemon=True)
        drain.start()
        watchdog = threading.Timer(600, proc.kill)  # a decoder that hangs is stopped, as a bad file's would be
        watchdog.start()
        try:
            while got < len(view):
                n = out.readinto(view[got:])
                if not n:
                    break
                got += n
            if got >= len(view):
                proc.kill()  # the limit is reached: the rest is not wanted
            proc.wait(timeout=60)
        finally:
            watchdog.cancel()
            if proc.poll() is None:
                proc.kill()
        drain.join(timeout=10)
    err = b"".join(errors).decode(errors="replace")
    if "does not contain any stream" in err or "matches no streams" in err:
        raise NoAudioTrackError("the file has no audio track, so there is no voice to analyse")
    if proc.returncode not in (0, -9) and got < 4:
        raise RuntimeError(err.strip().splitlines()[-1] if err.strip() else "ffmpeg failed")
    return signal[: got // 4]


# ----------------------------------------------------------------------------------------------------------------
# Speech detection and windows


def speech_frames(signal: np.ndarray, sr: int = SR) -> np.ndarray:
    """Return one boolean per 10 ms frame: whether it is loud enough to be speech (energy only).

    See :func:`emotion.voice.vad.energy_frames`; :func:`speech_windows` adds the spectral cues.
    """
    return vad.energy_frames(signal, sr)


def speech_windows(
    signal: np.ndarray, spans: list[tuple[float, float]], active: np.ndarray | None = None
) -> list[bool]:
    """Return, for each (start, end) window of a 16 kHz signal, whether it holds speech.

    A window needs :data:`MIN_SPEECH` seconds (and 15% of its length) of loud frames, and its loud frames must look
    like speech rather than music, a tone, a laugh or noise (:func:`emotion.voice.vad.is_speech`).
    """
    active = speech_frames(signal) if active is None else active
    loud = [active[int(s / HOP) : int(e / HOP)].sum() * HOP >= max(MIN_SPEECH, 0.15 * (e - s)) for s, e in spans]
    if not any(loud):
        return loud
    power = vad.spectrum(signal)
    return [
        ok and vad.is_speech(vad.cues(power[int(s / HOP) : int(e / HOP)], active[int(s / HOP) : int(e / HOP)]))
        for ok, (s, e) in zip(loud, spans)
    ]


def windows(duration: float, length: float, hop: float) -> list[tuple[float, float]]:
    """Return (start, end) windows of ``length`` every ``hop`` seconds covering ``duration``.

    A clip shorter than one window gives one window; the last window is aligned to the end of the clip.
    """
    if duration <= length:
        return [(0.0, duration)]
    hop = hop if hop > 0 else length
    starts = list(np.arange(0.0, duration - length + 1e-9, hop))
    if starts[-1] + length < duration - 1e-3:
        starts.append(duration - length)
    return [(round(float(s), 3), round(float(s) + length, 3)) for s in starts]


# ----------------------------------------------------------------------------------------------------------------
# Analysis


VoiceSink = Callable[[np.ndarray, Segment, np.ndarray], None]
"""Receives each classified speech window: its 16 kHz samples, its segment and the features the model read."""
ModelSource = Callable[[], tuple[Any, str, str | None]]
"""Gives the voice model when the first speech window needs it: the model, the version that serves, and a note
(None when there is nothing to say); e.g. ``emotion.learning.active.load_active_voice_model``."""


def shipped_model() -> tuple[Any, str, str | None]:
    """The shipped voice model as a :data:`ModelSource`: version "base", no note."""
    return load_voice_model(), "base", None


class VoiceOptions(Protocol):
    """The few settings the voice reads (an ``emotion.settings.Settings`` has them, and so may any object)."""

    @property
    def max_duration(self) -> float: ...  # noqa: D102
    @property
    def denoise(self) -> bool: ...  # noqa: D102
    @property
    def segment_seconds(self) -> float: ...  # noqa: D102
    @property
    def segment_hop(self) -> float: ...  # noqa: D102
    @property
    def voice_confidence(self) -> float: ...  # noqa: D102


@dataclass(frozen=True)
class Defaults:
    """:class:`VoiceOptions` at their default values (read from the settings' descriptions, the one source)."""

    max_duration: float
    denoise: bool
    segment_seconds: float
    segment_hop: float
    voice_confidence: float

    @classmethod
    def make(cls) -> Defaults:
        """The defaults of today's settings."""
        values = {i.name: i.default for i in describe()}
        return cls(*(values[f] for f in ("max_duration", "denoise", "segment_seconds", "segment_hop",
                                          "voice_confidence")))  # fmt: skip


def process_signal(
    signal: np.ndarray,
    sr: int,
    settings: VoiceOptions | None = None,
    model: Any | None = None,
    collect: VoiceSink | None = None,
    source: ModelSource = shipped_model,
) -> AudioResult:
    """Classify the emotion in the voice of a signal, window by window.

    Args:
        signal: Mono or multichannel (channels first or last) samples.
        sr: Sampling rate in Hz; resampled to 16 kHz if different.
        settings: ``max_duration``, ``denoise``, ``segment_seconds`` and ``segment_hop`` are used.
        model: A fitted voice model (see :mod:`emotion.voice.classifier`); taken from ``source`` if None.
        collect: Called with each classified speech window (for the learning store).
        source: Where the model comes from when ``model`` is None, asked only once speech is found: the shipped
            model unless the caller knows which version serves.

    Returns:
        Segments (``speech=False`` and ``emotion=None`` where nobody speaks; each speech window keeps its top label,
        its calibrated ``confidence``, ``uncertain`` when that is under ``settings.voice_confidence``, and its
        ``arousal`` and ``valence``) and a summary (see :func:`emotion.record.voice_summary`) with
        ``dominant_emotion`` (confident windows only), ``confidence``, ``emotion_shares``, ``uncertain_share``,
        ``arousal``, ``valence``, ``speech_seconds`` and ``n_segments``.

    Also the entry point for live audio: call it on each rolling window's samples (e.g. the last 3 s at any rate).
    """
    settings = settings or Defaults.make()
    x = np.asarray(signal, dtype=np.float32)
    if x.ndim == 2:  # channels last (soundfile) or channels first (PyAV, librosa): average the short axis
        x = x.mean(axis=0 if x.shape[0] < x.shape[1] and x.shape[0] <= 8 else 1)
    x = x.reshape(-1)
    if sr != SR:
        from scipy.signal import resample_poly

        g = np.gcd(int(sr), SR)
        x = resample_poly(x, SR // g, int(sr) // g).astype(np.float32)
    notes = []
    full = x.size / SR
    if settings.max_duration and settings.max_duration > 0 and full > settings.max_duration + 1e-3:
        x = x[: int(settings.max_duration * SR)]
        notes.append(f"only the first {settings.max_duration:g} s of the audio were analysed (max_duration)")
    if settings.denoise and x.size >= SR // 10:
        import noisereduce

        x = noisereduce.reduce_noise(y=x, sr=SR, n_jobs=1).astype(np.float32)
    duration = x.size / SR
    active = speech_frames(x)
    spans = windows(duration, settings.segment_seconds, settings.segment_hop)
    is_speech = speech_windows(x, spans, active)

    segments = [Segment(s, e, None, {}, False) for s, e in spans]
    idx = [i for i, ok in enumerate(is_speech) if ok]
    version = getattr(model, "version", "given") if model is not None else None
    if idx:
        if model is None:
            model, version, message = source()
            notes += [message] if message else []
        sets = tuple(getattr(model, "feature_sets", ("compare",)))
        features = window_features(x, [spans[i] for i in idx], sets, trim=bool(getattr(model, "trim", False)))
        if hasattr(model, "label_and_proba"):  # the label the model gives, and the calibrated probabilities
            labels, proba = model.label_and_proba(features)
        else:
            proba = model.predict_proba(features)
            labels = np.asarray(model.classes_)[np.argmax(proba, axis=1)]
        classes = [str(c) for c in model.classes_]
        arousal = model.predict_arousal(features) if hasattr(model, "predict_arousal") else None
        valence = model.valence(proba) if hasattr(model, "valence") else None
        order = sorted(range(len(classes)), key=lambda k: voice_order(classes[k]))
        for n, (i, p, row) in enumerate(zip(idx, proba, features)):
            scores = rounded([classes[k] for k in order], p[order])
            top = str(labels[n])  # its confidence is the calibrated probability of this label, not the row's max
            segments[i] = Segment(
                spans[i][0],
                spans[i][1],
                top,
                scores,
                True,
                confidence=scores[top],
                uncertain=scores[top] < settings.voice_confidence,
                arousal=None if arousal is None else round(float(arousal[n]), 4),
                valence=None if valence is None else round(float(valence[n]), 4),
            )
            if collect is not None:
                collect(x[int(spans[i][0] * SR) : int(spans[i][1] * SR)], segments[i], row)
    summary = voice_summary(segments, speech_seconds=round(float(active.sum() * HOP), 2))
    if not idx:
        notes.append("no speech detected")
    return AudioResult(segments=segments, summary=summary, note="; ".join(notes) or None, model_version=version)


def window_features(
    signal: np.ndarray, spans: list[tuple[float, float]], feature_sets: tuple[str, ...], trim: bool = False
) -> np.ndarray:
    """Return the features of each (start, end) window of a 16 kHz signal, one row per window.

    Each window is (with ``trim``, the model's own flag) cut to its loud part, loudness-normalised and analysed on
    its own, exactly like a training clip. (Running windows in two threads gave no speed-up in the benchmark, so
    they run one after the other.)
    """
    return np.vstack(
        [extract_features(signal[int(s * SR) : int(e * SR)], SR, feature_sets, trim=trim) for s, e in spans]
    )


def process_file(
    path: str | Path,
    settings: VoiceOptions | None = None,
    model: Any | None = None,
    collect: VoiceSink | None = None,
    source: ModelSource = shipped_model,
) -> AudioResult:
    """Decode a file's audio and run :func:`process_signal` on it (``model`` and ``source`` as there).

    Raises:
        NoAudioTrackError: The video has no audio track.
        AudioError: The file cannot be decoded.
    """
    settings = settings or Defaults.make()
    signal, sr = load_audio(path, settings.max_duration)
    result = process_signal(signal, sr, settings, model, collect, source)
    if not settings.max_duration and signal.size >= int(MAX_AUDIO_SECONDS * SR):
        cut = f"only the first {MAX_AUDIO_SECONDS:g} s of the audio were analysed (the most that is decoded)"
        result.note = "; ".join(n for n in (cut, result.note) if n)
    return result
