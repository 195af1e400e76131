"""Clips for measuring speech detection: held-out speech, synthetic music, noises and synthetic laughter (3 s each).

Everything but the speech and ``no_face.mp4`` is synthesised with numpy from a seed, so the set is rebuilt, never
stored. ``build(0)`` is the set the thresholds of :mod:`emotion.voice.vad` were set on; other seeds measure them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

from emotion.settings import ravdess_dir, shared_data
from emotion.voice.corpora import tess_dir
from emotion.voice.process import load_audio

SR = 16000


def tone_melody(rng: np.random.Generator, dur: float = 3.0, vib: bool = False) -> np.ndarray:
    """A melody of plucked harmonic notes (120-500 ms each); ``vib`` adds a singer's 5.5 Hz vibrato."""
    out = np.zeros(int(dur * SR), np.float32)
    t0 = 0
    scale = 220 * 2 ** (np.array([0, 2, 4, 7, 9, 12, 14, 16]) / 12)
    while t0 < len(out):
        n = int(rng.uniform(0.12, 0.5) * SR)
        f = rng.choice(scale) * rng.choice([0.5, 1, 2])
        t = np.arange(n) / SR
        f_t = f * (1 + (0.01 * np.sin(2 * np.pi * 5.5 * t) if vib else 0))
        ph = 2 * np.pi * np.cumsum(f_t) / SR
        sig = sum((0.6**k) * np.sin((k + 1) * ph) for k in range(6))
        env = np.minimum(1, t / 0.01) * np.exp(-t * rng.uniform(1, 6))
        seg = (sig * env)[: len(out) - t0]
        out[t0 : t0 + len(seg)] += seg
        t0 += n
    return out / np.abs(out).max() * 0.3


def chords(rng: np.random.Generator, dur: float = 3.0) -> np.ndarray:
    """One held three-note chord."""
    t = np.arange(int(dur * SR)) / SR
    out = np.zeros_like(t)
    for _ in range(3):
        f = 110 * 2 ** (rng.integers(0, 24) / 12)
        out += sum(0.5**h * np.sin(2 * np.pi * f * (h + 1) * t) for h in range(5))
    return (out / np.abs(out).max() * 0.3).astype(np.float32)


def drums(rng: np.random.Generator, dur: float = 3.0) -> np.ndarray:
    """Kick and noise-snare hits at 90-140 bpm."""
    out = np.zeros(int(dur * SR), np.float32)
    bpm = rng.uniform(90, 140)
    step = int(60 / bpm / 2 * SR)
    for i in range(0, len(out), step):
        n = min(int(0.15 * SR), len(out) - i)
        t = np.arange(n) / SR
        hit = (np.sin(2 * np.pi * 60 * t) if (i // step) % 2 == 0 else rng.standard_normal(n) * 0.5) * np.exp(-t * 30)
        out[i : i + n] += hit
    return out / np.abs(out).max() * 0.3


def noise(rng: np.random.Generator, kind: str, dur: float = 3.0) -> np.ndarray:
    """White, pink or brown noise at a random level."""
    w = rng.standard_normal(int(dur * SR))
    if kind != "white":
        spec = np.fft.rfft(w)
        f = np.arange(1, len(spec) + 1)
        spec /= np.sqrt(f) if kind == "pink" else f
        w = np.fft.irfft(spec, len(w))
    return (w / np.abs(w).max() * rng.uniform(0.05, 0.3)).astype(np.float32)


def hum(rng: np.random.Generator, dur: float = 3.0) -> np.ndarray:
    """Mains hum (50 or 60 Hz and harmonics) over faint noise."""
    t = np.arange(int(dur * SR)) / SR
    f = rng.choice([50, 60])
    return (
        0.1 * sum(np.sin(2 * np.pi * f * h * t) / h for h in range(1, 8)) + 0.005 * rng.standard_normal(len(t))
    ).astype(np.float32)


def laughter(rng: np.random.Generator, dur: float = 3.0) -> np.ndarray:
    """Synthetic laughter: breathy voiced "ha" bursts, 4-6 a second, falling in pitch."""
    out = np.zeros(int(dur * SR), np.float32)
    i = int(rng.uniform(0, 0.3) * SR)
    f0 = rng.uniform(220, 380)
    while i < len(out):
        n = int(rng.uniform(0.08, 0.14) * SR)
        t = np.arange(n) / SR
        f = f0 * (1 - 0.3 * t / t[-1])
        ph = 2 * np.pi * np.cumsum(f) / SR
        voiced = sum(np.sin((k + 1) * ph) / (k + 1) for k in range(10))
        breath = rng.standard_normal(n) * 0.4
        env = np.sin(np.pi * t / t[-1])
        seg = ((voiced + breath) * env)[: len(out) - i]
        out[i : i + len(seg)] += seg
        i += n + int(rng.uniform(0.08, 0.15) * SR)
        f0 *= rng.uniform(0.93, 1.0)
    return out / np.abs(out).max() * 0.3


def speech_clips() -> list[Path]:
    """Held-out speech: RAVDESS actors 24 and 23, TESS speaker YAF."""
    r = (
        sorted((ravdess_dir() / "Actor_24").glob("*.flac"))[::3]
        + sorted((ravdess_dir() / "Actor_23").glob("*.flac"))[::6]
    )
    return r + sorted(tess_dir().glob("YAF_*/*.flac"))[::70]


def after_pause(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Replace the first 0.8-1.2 s by near-silence, so that a steady sound starts after a pause.

    As in a recording: the energy stage alone then cannot reject it.
    """
    n = int(rng.uniform(0.8, 1.2) * SR)
    y = x.copy()
    y[:n] = 3e-4 * rng.standard_normal(n)
    return y


def build(seed: int = 0) -> list[tuple[str, np.ndarray]]:
    """Return (kind, 3 s of 16 kHz samples) pairs; the synthetic ones drawn from ``seed``."""
    rng = np.random.default_rng(seed)
    clips = []
    for p in speech_clips():
        x, _ = sf.read(p, dtype="float32")
        x = x[: 3 * SR] if len(x) >= 3 * SR else np.pad(x, (0, 3 * SR - len(x)))
        clips.append(("speech", x))
    for p in speech_clips()[::2]:
        x, _ = sf.read(p, dtype="float32")
        x = x[: 3 * SR] if len(x) >= 3 * SR else np.pad(x, (0, 3 * SR - len(x)))
        n = rng.standard_normal(len(x)).astype(np.float32)
        n *= np.sqrt(np.mean(x[np.abs(x) > 0.1 * np.abs(x).max()] ** 2) / 10 / np.mean(n**2))  # 10 dB SNR
        clips.append(("speech+noise10dB", x + n))
    for _ in range(10):
        clips.append(("music: melody", tone_melody(rng)))
    for _ in range(10):
        clips.append(("music: sung-like vibrato", tone_melody(rng, vib=True)))
    for _ in range(6):
        clips.append(("music: chords", after_pause(chords(rng), rng)))
    for _ in range(6):
        clips.append(("music: drums", drums(rng)))
    x, _ = load_audio(shared_data() / "media" / "no_face.mp4")
    clips.append(("music: no_face.mp4", x))  # 3.97 s, ~1 s of a high voiced sound
    for k in ("white", "pink", "brown"):
        for _ in range(4):
            clips.append((f"noise: {k}", after_pause(noise(rng, k), rng)))
    for _ in range(4):
        clips.append(("noise: mains hum", after_pause(hum(rng), rng)))
    for _ in range(10):
        clips.append(("laughter (synthetic)", laughter(rng)))
    return clips
