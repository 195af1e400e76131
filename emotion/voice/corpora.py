"""RAVDESS speech: the clips, their labels, and their OpenSMILE features, extracted once and cached.

Both ``training/train_audio.py`` and the retraining of the voice model read the base data through here, so a
retrain never extracts the RAVDESS features again once they are cached.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from multiprocessing import Pool
from pathlib import Path

import numpy as np

from emotion import settings
from emotion.files import atomic_write
from emotion.labels import VOICE_LABELS
from emotion.voice.model import extract_features, feature_names

FEATURE_VERSION = "1"
VARIANTS = {
    "norm": (("compare", "egemaps"), True),  # loudness-normalised: what the shipped model reads
    "raw": (("compare", "egemaps"), False),  # as recorded: ablation only
}
HELD_OUT_ACTOR = 24
"""Chosen before any result was seen: the last actor. The shipped model never saw it; it judges retrained models."""


def list_clips(data: Path) -> list[Path]:
    """Return the RAVDESS speech clips under ``data`` in a stable order.

    Raises:
        FileNotFoundError: If there are none.
    """
    clips = sorted(data.glob("Actor_*/03-01-*.flac")) or sorted(data.glob("Actor_*/03-01-*.wav"))
    if not clips:
        raise FileNotFoundError(f"no RAVDESS clips (Actor_NN/03-01-*.flac) under {data}")
    return clips


def parse_name(path: Path | str) -> tuple[str, int]:
    """Return (emotion label, actor id) from a RAVDESS file name."""
    parts = Path(path).stem.split("-")
    return VOICE_LABELS[int(parts[2]) - 1], int(parts[6])


def read(path: str | Path) -> tuple[np.ndarray, int]:
    """Return a clip's mono samples and rate."""
    import soundfile as sf

    x, sr = sf.read(str(path), dtype="float32", always_2d=True)
    return x.mean(axis=1), sr


def _extract_one(args: tuple[str, str]) -> np.ndarray:
    path, variant = args
    sets, normalise = VARIANTS[variant]
    return extract_features(*read(path), sets, normalise)


def load_features(
    data: Path | None = None,
    variant: str = "norm",
    workers: int = 2,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, np.ndarray]:
    """Return features of every clip, extracting them once and caching them.

    Args:
        data: The RAVDESS folder (default :func:`emotion.settings.ravdess_dir`).
        variant: A key of :data:`VARIANTS`.
        workers: Processes used for extraction.
        progress: Called as ``progress(done, total)`` every few clips while extracting (never when cached).

    Returns:
        ``X`` (clips x features), ``y`` (labels), ``actor``, ``files`` and ``names`` (feature names).
    """
    data = Path(data or settings.ravdess_dir())
    clips = list_clips(data)
    rel = [str(c.relative_to(data)) for c in clips]
    key = hashlib.sha256(("\n".join(rel) + FEATURE_VERSION + variant).encode()).hexdigest()[:16]
    cache = settings.cache_dir() / f"ravdess_{variant}_{key}.npz"
    if cache.exists():
        return dict(np.load(cache, allow_pickle=False))
    cache.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    print(f"extracting {VARIANTS[variant][0]} ({variant}) from {len(clips)} clips with {workers} processes ...")
    rows = []
    with Pool(workers) as pool:
        for row in pool.imap(_extract_one, [(str(c), variant) for c in clips], chunksize=8):
            rows.append(row)
            if progress and (len(rows) % 16 == 0 or len(rows) == len(clips)):
                progress(len(rows), len(clips))
    print(f"extracted in {time.perf_counter() - t0:.0f} s -> {cache}")
    labels, actors = zip(*(parse_name(c) for c in clips))
    out = {
        "X": np.vstack(rows).astype(np.float32),
        "y": np.array(labels),
        "actor": np.array(actors, dtype=np.int16),
        "files": np.array(rel),
        "names": np.array(feature_names(VARIANTS[variant][0])),
    }
    atomic_write(cache, lambda tmp: np.savez(tmp, **out))  # type: ignore[arg-type]  # a killed extraction never leaves half a cache
    return out


def columns(d: dict[str, np.ndarray], sets: tuple[str, ...]) -> np.ndarray:
    """Return the feature columns of the given OpenSMILE sets, in the order ``extract_features`` gives them."""
    names = d["names"]
    return np.concatenate([d["X"][:, np.char.startswith(names, f"{s}:")] for s in sets], axis=1)
