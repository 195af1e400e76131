"""Is a window speech? Energy first, then three spectral cues that tell speech from music, tones and noise.

Energy alone (:func:`energy_frames`) accepts any loud sound. A window that is loud enough is then kept only if it
looks like speech over its active frames:

- **syllable rhythm**: speech's loudness rises and falls 2-8 times a second, so that band carries a large share of
  the loudness envelope's modulation (held notes, chords, hum and steady noise carry little);
- **changing spectrum**: consonants and vowels alternate, so the log spectrum changes a lot from frame to frame
  between pauses, and it stays *voiced* only for short stretches; a held musical note keeps one spectral shape;
- **not noise-like**: white, pink or brown noise has a flat (or smoothly tilted) spectrum whatever its level, so
  its spectral flatness over 300-4000 Hz stays high; voiced speech has harmonics and formants.

The thresholds were set on synthetic melodies, chords, drums, noises and RAVDESS/TESS speech, and measured on
clips drawn with another seed (see ``training/train_audio.py --vad`` and the model card). All of it is numpy on one
short-time spectrum of the signal: well under 1% of real time.
"""

from __future__ import annotations

import numpy as np

from emotion.voice.levels import SR, frame_db

HOP = 0.010
"""Seconds between frames."""
ABS_DB = -60.0
"""Frames quieter than this (dBFS RMS) are never speech."""
REL_DB = 35.0
"""Frames more than this below the loudest frames are never speech."""
FLOOR_DB = 5.0
"""Frames must be this far above the noise floor (5th percentile level) to count as speech."""
MIN_RHYTHM = 0.1
"""Least share of the loudness envelope's modulation (0.5-16 Hz) that lies at syllable rates (2-8 Hz)."""
LAUGH_RHYTHM, LAUGH_FLATNESS = 0.8, 0.15
"""A laugh: bursts as regular as "ha-ha-ha" (over 0.8 of the modulation at syllable rates, as short words also reach)
*and* breathy (flatness over 0.15, where clean voiced speech stays under 0.05)."""
MAX_FLATNESS = 0.3
"""Highest spectral flatness (300-4000 Hz; 25th percentile of the active frames): above it the window is noise."""
MIN_FLUX = 0.9
"""Least median spectral change between active frames (mean absolute difference of log spectra, in nepers)."""
MIN_VOICED = 0.4
"""Least share of active frames with a clear pitch (window-corrected autocorrelation peak over 0.6 inside 70-500 Hz).
Harsh or creaky emotional speech (a RAVDESS disgust clip: 0.44) sits low; synthetic drums reach 0.5 and pass."""


def energy_frames(signal: np.ndarray, sr: int = SR) -> np.ndarray:
    """Return one boolean per 10 ms frame: whether it is loud enough to be speech.

    A frame is active when it is above an absolute level (:data:`ABS_DB`), within :data:`REL_DB` of the loudest
    frames, and :data:`FLOOR_DB` above the recording's noise floor. Energy only: loud music or noise also counts.
    """
    db = frame_db(signal, sr, hop=HOP)
    if db.size == 0:
        return np.zeros(0, dtype=bool)
    peak, floor = np.percentile(db, 99), np.percentile(db, 5)
    return (db > ABS_DB) & (db > peak - REL_DB) & (db > floor + FLOOR_DB)


TRIM_MARGIN = 0.15
"""Seconds of sound kept before the first and after the last loud frame by :func:`trim`."""


def trim(signal: np.ndarray, sr: int = SR, margin: float = TRIM_MARGIN) -> np.ndarray:
    """Cut the quiet lead-in and tail of a signal, keeping ``margin`` seconds around its loud frames.

    OpenSMILE's functionals average over the whole signal, so the share of silence around the speech moves many of
    them: a model trained on padded clips read tightly cut speech, and continuous speech, as another emotion (see the
    voice model card). Trimming both the training clips and every analysed window makes the features depend on the
    speech, not on how much silence surrounds it. A signal with no loud frame is returned unchanged.
    """
    active = energy_frames(signal, sr)
    if not active.any():
        return signal
    loud = np.flatnonzero(active)
    start = max(0, int((loud[0] * HOP - margin) * sr))
    end = min(len(signal), int(((loud[-1] + 1) * HOP + margin) * sr))
    return signal[start:end]


def spectrum(signal: np.ndarray, sr: int = SR) -> np.ndarray:
    """Return the power spectrum of 32 ms Hann frames every 10 ms (frames x 257 bins at 16 kHz)."""
    n, h = 512, int(HOP * sr)
    if len(signal) < n:
        return np.zeros((0, n // 2 + 1), np.float32)
    count = (len(signal) - n) // h + 1
    out = np.empty((count, n // 2 + 1), np.float32)
    win = np.hanning(n).astype(np.float32)
    for f0 in range(0, count, 4096):  # blocks, so a long signal is never framed whole
        f1 = min(count, f0 + 4096)
        part = np.asarray(signal[f0 * h : (f1 - 1) * h + n], dtype=np.float32)
        frames = np.lib.stride_tricks.sliding_window_view(part, n)[::h]
        out[f0:f1] = np.abs(np.fft.rfft(frames * win, axis=1)) ** 2
    return out


def cues(power: np.ndarray, active: np.ndarray, sr: int = SR) -> dict[str, float]:
    """Return the three cues of one window: ``rhythm``, ``flatness`` and ``flux`` (see the module docstring).

    Args:
        power: The window's frames of :func:`spectrum`.
        active: The window's frames of :func:`energy_frames` (same length or longer; cut to ``power``).
        sr: Sampling rate in Hz.
    """
    active = active[: len(power)]
    if len(power) < 20 or active.sum() < 5:
        return {"rhythm": 0.0, "regular": 1.0, "flatness": 1.0, "flux": 0.0, "voiced": 0.0}
    freqs = np.fft.rfftfreq(2 * (power.shape[1] - 1), 1 / sr)
    band = (freqs >= 300) & (freqs <= 4000)
    p = power[:, band] + 1e-10
    flatness = np.exp(np.mean(np.log(p), axis=1)) / np.mean(p, axis=1)
    env = np.sqrt(power[:, (freqs >= 100) & (freqs <= 4000)].sum(axis=1))
    env = env - env.mean()
    mod = np.abs(np.fft.rfft(env * np.hanning(len(env)), n=max(512, len(env)))) ** 2
    mf = np.fft.rfftfreq(max(512, len(env)), HOP)
    total = mod[(mf >= 0.5) & (mf <= 16)].sum() + 1e-12
    rhythm = mod[(mf >= 2) & (mf <= 8)].sum() / total
    inband = np.flatnonzero((mf >= 1) & (mf <= 10))
    top = inband[np.argmax(mod[inband])]
    regular = mod[(mf >= mf[top] - 0.4) & (mf <= mf[top] + 0.4)].sum() / total
    logp = np.log(power[:, (freqs >= 100) & (freqs <= 4000)] + 1e-10)
    step = np.abs(np.diff(logp, axis=0)).mean(axis=1)
    voice = power * ((freqs >= 100) & (freqs <= 2000))  # autocorrelation of the band that carries the pitch
    ac = np.fft.irfft(voice[active], axis=1)
    lags = slice(sr // 500, sr // 70)
    window_ac = np.fft.irfft(np.abs(np.fft.rfft(np.hanning(ac.shape[1]))) ** 2)
    r = ac[:, lags] / (window_ac[lags] / window_ac[0]) / (ac[:, 0, None] + 1e-12)  # Boersma's window correction
    best = r.argmax(axis=1)
    inside = (best > 0) & (best < r.shape[1] - 1)  # a peak at the range's edge is a slope (e.g. a low drum), no pitch
    voiced = float(np.mean((r.max(axis=1) > 0.6) & inside))
    both = active[1:] & active[:-1]
    flux = float(np.median(step[both])) if both.any() else 0.0
    return {
        "rhythm": float(rhythm),
        "regular": float(regular),
        "flatness": float(np.percentile(flatness[active], 25)),
        "flux": flux,
        "voiced": voiced,
    }


def is_speech(c: dict[str, float]) -> bool:
    """Whether a window's cues (see :func:`cues`) look like speech."""
    return (
        c["rhythm"] >= MIN_RHYTHM
        and c["flatness"] <= MAX_FLATNESS
        and not (c["rhythm"] >= LAUGH_RHYTHM and c["flatness"] >= LAUGH_FLATNESS)
        and c["flux"] >= MIN_FLUX
        and c["voiced"] >= MIN_VOICED
    )
