"""Sampling rate and signal levels: the frame loudness that both speech detection and the features read.

Its own module so that :mod:`emotion.voice.vad` and :mod:`emotion.voice.features` can both use it without
importing each other in a circle.
"""

from __future__ import annotations

import numpy as np

SR = 16000
"""The sampling rate (Hz) of every signal the voice path analyses."""
TARGET_DBFS = -23.0
"""Level (dBFS RMS over active frames) every signal is scaled to before feature extraction."""


def frame_db(signal: np.ndarray, sr: int = SR, frame: float = 0.025, hop: float = 0.010) -> np.ndarray:
    """Return the RMS level of each frame in dBFS.

    Args:
        signal: Mono float signal in [-1, 1].
        sr: Sampling rate in Hz.
        frame: Frame length in seconds.
        hop: Frame hop in seconds.

    Returns:
        One dB value per frame (-120 for digital silence); empty for signals shorter than a frame.
    """
    n, h = int(frame * sr), int(hop * sr)
    if len(signal) < n:
        return np.zeros(0, dtype=np.float32)
    count = (len(signal) - n) // h + 1
    power = np.empty(count, np.float32)
    block = 100_000  # frames (about 17 min at 10 ms) per step, so a long signal is never squared whole
    for f0 in range(0, count, block):
        f1 = min(count, f0 + block)
        part = signal[f0 * h : (f1 - 1) * h + n].astype(np.float32) ** 2
        power[f0:f1] = np.lib.stride_tricks.sliding_window_view(part, n)[::h].mean(axis=1)
    return (10.0 * np.log10(power + 1e-12)).astype(np.float32)


def normalise_loudness(signal: np.ndarray, sr: int = SR, target_dbfs: float = TARGET_DBFS) -> np.ndarray:
    """Scale a signal so its active frames have a fixed RMS level.

    Active frames are those within 30 dB of the loudest frame, so pauses do not lower the estimate.
    This removes the recording gain, which otherwise dominates the energy features.

    Args:
        signal: Mono float signal.
        sr: Sampling rate in Hz.
        target_dbfs: Level of the active frames after scaling.

    Returns:
        The scaled float32 signal (unchanged if it is silent), clipped to [-1, 1) because OpenSMILE converts it to
        16-bit integers, where larger values would wrap around.
    """
    db = frame_db(signal, sr)
    if db.size == 0 or db.max() < -100:
        return signal.astype(np.float32)
    active = db[db > db.max() - 30.0]
    level = 10.0 * np.log10(np.mean(10.0 ** (active / 10.0)))
    return np.clip(signal * 10.0 ** ((target_dbfs - level) / 20.0), -1.0, 32767 / 32768).astype(np.float32)
