"""Degrade a clean studio clip the way real recordings differ from it, for training on more than one room and voice.

Each call draws one chain: speed perturbation (changes tempo and pitch together, as Kaldi's 0.9/1.1 speed
perturbation does), then at most one of room reverberation, a telephone band or nothing, then noise at a random SNR
or none. Everything is numpy/scipy on the signal itself: no data files, no downloads.
"""

from __future__ import annotations

import numpy as np
from scipy.signal import butter, fftconvolve, resample_poly, sosfilt

SPEEDS = (0.9, 0.95, 1.05, 1.1)
SNRS_DB = (5.0, 10.0, 20.0)
RT60S = (0.2, 0.4, 0.7)


def speed(x: np.ndarray, factor: float) -> np.ndarray:
    """Play ``x`` ``factor`` times faster (higher pitch too), by resampling."""
    up, down = 100, int(round(100 * factor))
    return resample_poly(x, up, down).astype(np.float32)


def reverb(x: np.ndarray, sr: int, rt60: float, rng: np.random.Generator) -> np.ndarray:
    """Convolve with a synthetic room response: decaying noise with the given RT60, plus the direct path."""
    n = int(rt60 * sr)
    t = np.arange(n) / sr
    rir = rng.standard_normal(n) * np.exp(-6.9 * t / rt60)
    rir[0] = 1.0 / 0.3  # direct path about 10 dB over the tail
    rir /= np.sqrt(np.sum(rir**2))
    y = fftconvolve(x, rir)[: len(x)]
    return (y * np.std(x) / (np.std(y) + 1e-9)).astype(np.float32)


def telephone(x: np.ndarray, sr: int) -> np.ndarray:
    """Band-limit to 300-3400 Hz, as a phone line does."""
    sos = butter(6, [300, 3400], btype="band", fs=sr, output="sos")
    return sosfilt(sos, x).astype(np.float32)


def noise(x: np.ndarray, snr_db: float, rng: np.random.Generator) -> np.ndarray:
    """Add white or pink noise at ``snr_db`` below the signal's power over its active part."""
    white = rng.standard_normal(len(x))
    if rng.random() < 0.5:  # pink: 1/f power, shaped in the frequency domain
        spec = np.fft.rfft(white)
        spec /= np.sqrt(np.arange(1, len(spec) + 1))
        white = np.fft.irfft(spec, len(x))
    power = np.mean(x[np.abs(x) > 0.1 * np.abs(x).max()] ** 2) if np.any(x) else 0.0
    white *= np.sqrt(power / 10 ** (snr_db / 10) / (np.mean(white**2) + 1e-12))
    return (x + white).astype(np.float32)


def augment(x: np.ndarray, sr: int, rng: np.random.Generator) -> np.ndarray:
    """Return one randomly degraded copy of a clip (see the module docstring for the chain)."""
    x = np.asarray(x, dtype=np.float32)
    if rng.random() < 0.7:
        x = speed(x, float(rng.choice(SPEEDS)))
    room = rng.random()
    if room < 0.35:
        x = reverb(x, sr, float(rng.choice(RT60S)), rng)
    elif room < 0.6:
        x = telephone(x, sr)
    if rng.random() < 0.6:
        x = noise(x, float(rng.choice(SNRS_DB)), rng)
    peak = np.abs(x).max()
    return x / peak * 0.9 if peak > 0.99 else x
