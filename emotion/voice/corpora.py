"""Speech corpora (RAVDESS, TESS): the clips, their labels, and their OpenSMILE features, extracted once and cached.

Both ``training/train_audio.py`` and the retraining of the voice model read the base data through here, so a
retrain never extracts the features again once they are cached.

Labels follow RAVDESS's names. TESS's "pleasant surprise" is "surprised" (its folders already say so). The shipped
model reads 7 classes: RAVDESS's "calm" is merged into "neutral" (:func:`seven`), because TESS has no calm and a
calm/neutral split learnt from one corpus does not carry to another.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from emotion import settings
from emotion.files import atomic_write
from emotion.labels import VOICE_LABELS
from emotion.voice.augment import augment
from emotion.voice.features import extract_features, feature_names

FEATURE_VERSION = "1"
VARIANTS = {
    "trim": (("compare", "egemaps"), True, True),  # quiet lead-in and tail cut, loudness-normalised: the shipped model
    "norm": (("compare", "egemaps"), True, False),  # loudness-normalised whole clips: models before trimming
    "raw": (("compare", "egemaps"), False, False),  # as recorded: ablation only
    "aug": (("compare", "egemaps"), True, False),  # one randomly degraded copy of each clip (emotion.voice.augment)
}
"""Feature variants: (OpenSMILE sets, loudness-normalised, silence-trimmed)."""
AUGMENTED = {"aug": 1}
"""Variants that degrade each clip first, with their seed (mixed with the clip's name, so a copy is reproducible)."""
HELD_OUT_ACTOR = 24
"""Chosen before any result was seen: the last actor. The shipped model never saw it; it judges retrained models."""
TESS_SPEAKERS = {"OAF": 101, "YAF": 102}
"""TESS's two speakers and their group ids (RAVDESS actors are 1-24)."""
HELD_OUT_TESS = "YAF"
"""Chosen before any result was seen: the shipped model never hears this TESS speaker, so tests can check it on a
voice and recording it never met. OAF (aged 64) is kept for training because RAVDESS has no older voice."""
CORPORA = ("ravdess", "tess")

LABEL_MAP: dict[str, dict[str, str]] = {
    "ravdess": {
        "neutral": "neutral", "calm": "neutral", "happy": "happy", "sad": "sad", "angry": "angry",
        "fearful": "fearful", "disgust": "disgust", "surprised": "surprised",
    },
    "tess": {
        "neutral": "neutral", "happy": "happy", "sad": "sad", "angry": "angry", "fearful": "fearful",
        "disgust": "disgust", "surprised": "surprised",
    },
    "nemo": {
        "neutral": "neutral", "happiness": "happy", "sadness": "sad", "anger": "angry", "fear": "fearful",
        "surprised": "surprised",
    },
    "ased": {"n": "neutral", "h": "happy", "s": "sad", "a": "angry", "f": "fearful"},
    "turev": {"sk": "neutral", "mt": "happy", "hl": "sad", "kz": "angry"},
}  # fmt: skip
"""Every corpus's own label (as its files encode it) -> the project's voice class. The one mapping table: calm
(RAVDESS "calm", TurEV-DB "sk" = sakin) becomes neutral."""

GROUP_BASE = {"nemo": 200, "ased": 300, "turev": 400}
"""Speaker group ids of the extra corpora start here (RAVDESS actors are 1-24, TESS speakers 101-102)."""

LICENCES = {
    "ravdess": "CC BY-NC-SA 4.0; Livingstone & Russo (2018), PLoS ONE 13(5): e0196391",
    "tess": "CC BY-NC-ND 4.0; Dupuis & Pichora-Fuller (2010), University of Toronto",
    "nemo": "CC BY-NC-SA 4.0; Christop (2024), nEMO: Dataset of Emotional Speech in Polish, LREC-COLING 2024",
    "ased": "free for research, cite Retta et al. (2022), ACM TALLIP, doi:10.1145/3529759",
    "turev": "CC BY-NC-ND 4.0; Canpolat et al. (2020), TurEV-DB, Xeonen/TurEV-DB on GitHub",
}
"""Licence and citation of each corpus, for the model card. All are research / non-commercial use."""

LANGUAGE = {"ravdess": "English", "tess": "English", "nemo": "Polish", "ased": "Amharic", "turev": "Turkish"}
EXTRA = ("nemo", "ased", "turev")
"""The optional corpora read from public snapshots (``training/voice_corpora.py``), after RAVDESS and TESS."""


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


def tess_dir() -> Path:
    """The TESS folder: ``tess/`` under the shared data."""
    return settings.shared_data() / "tess"


def list_tess(data: Path) -> list[Path]:
    """Return the TESS clips (``<SPEAKER>_<label>/*.flac``) under ``data`` in a stable order.

    Raises:
        FileNotFoundError: If there are none.
    """
    clips = [c for c in sorted(data.glob("*_*/*.flac")) if c.parent.name.split("_")[0] in TESS_SPEAKERS]
    if not clips:
        raise FileNotFoundError(f"no TESS clips (SPEAKER_label/*.flac) under {data}")
    return clips


def parse_tess(path: Path | str) -> tuple[str, int]:
    """Return (emotion label, speaker group id) from a TESS clip's folder name."""
    speaker, label = Path(path).parent.name.split("_", 1)
    if label not in VOICE_LABELS:
        raise ValueError(f"unknown TESS label {label!r} in {path}")
    return label, TESS_SPEAKERS[speaker]


def seven(labels: np.ndarray) -> np.ndarray:
    """Map labels to the 7 classes shared by both corpora: "calm" becomes "neutral"."""
    return np.where(np.asarray(labels) == "calm", "neutral", np.asarray(labels))


def read(path: str | Path) -> tuple[np.ndarray, int]:
    """Return a clip's mono samples and rate."""
    import soundfile as sf

    x, sr = sf.read(str(path), dtype="float32", always_2d=True)
    return x.mean(axis=1), sr


def _extract_one(args: tuple[str, str, str]) -> np.ndarray:
    path, variant, name = args
    sets, normalise, trim = VARIANTS[variant]
    x, sr = read(path)
    if variant in AUGMENTED:
        seed = int(hashlib.sha256(f"{AUGMENTED[variant]}:{name}".encode()).hexdigest()[:8], 16)
        x = augment(x, sr, np.random.default_rng(seed))
    return extract_features(x, sr, sets, normalise, trim)


def variant_of(trim: bool) -> str:
    """The feature variant of a voice model's ``trim`` flag: "trim" (trained on trimmed clips) or "norm"."""
    return "trim" if trim else "norm"


def _cache_of(data: Path | None, variant: str, corpus: str) -> tuple[Path, Path, list[Path]]:
    if corpus not in CORPORA:
        raise ValueError(f"unknown corpus {corpus!r}; expected one of {', '.join(CORPORA)}")
    data = Path(data or (settings.ravdess_dir() if corpus == "ravdess" else tess_dir()))
    clips = list_clips(data) if corpus == "ravdess" else list_tess(data)
    rel = [str(c.relative_to(data)) for c in clips]
    key = hashlib.sha256(("\n".join(rel) + FEATURE_VERSION + variant).encode()).hexdigest()[:16]
    return settings.cache_dir() / f"{corpus}_{variant}_{key}.npz", data, clips


def cached(corpus: str, variant: str = "trim", data: Path | None = None) -> bool:
    """Whether a corpus's features are already in the cache (so :func:`load_features` extracts nothing)."""
    return _cache_of(data, variant, corpus)[0].exists()


def load_features(
    data: Path | None = None,
    variant: str = "trim",
    workers: int = 2,
    progress: Callable[[int, int], None] | None = None,
    corpus: str = "ravdess",
) -> dict[str, np.ndarray]:
    """Return features of every clip of a corpus, extracting them once and caching them.

    Args:
        data: The corpus folder (default :func:`emotion.settings.ravdess_dir` or :func:`tess_dir`).
        variant: A key of :data:`VARIANTS`.
        workers: Processes used for extraction.
        progress: Called as ``progress(done, total)`` every few clips while extracting (never when cached).
        corpus: "ravdess" or "tess".

    Returns:
        ``X`` (clips x features), ``y`` (labels), ``actor`` (speaker group: RAVDESS actor 1-24 or a
        :data:`TESS_SPEAKERS` id), ``files`` and ``names`` (feature names).
    """
    cache, data, clips = _cache_of(data, variant, corpus)
    parse = parse_name if corpus == "ravdess" else parse_tess
    rel = [str(c.relative_to(data)) for c in clips]
    if cache.exists():
        return dict(np.load(cache, allow_pickle=False))
    labels, actors = zip(*(parse(c) for c in clips))
    return extract_table(clips, rel, np.array(labels), np.array(actors), cache, variant, workers, progress)


def extract_table(
    clips: list[Path],
    rel: list[str],
    labels: np.ndarray,
    groups: np.ndarray,
    cache: Path,
    variant: str = "trim",
    workers: int = 2,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, np.ndarray]:
    """Extract the features of ``clips`` in a spawn pool and cache them with their labels (any corpus).

    Args:
        clips: The audio files.
        rel: Each clip's name as stored in the table (its path inside its corpus).
        labels: Each clip's label.
        groups: Each clip's speaker group id.
        cache: The ``.npz`` file to write (atomically).
        variant: A key of :data:`VARIANTS`.
        workers: Processes used for extraction.
        progress: Called as ``progress(done, total)`` every few clips.

    Returns:
        The table of :func:`load_features`.
    """
    cache.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    print(f"extracting {VARIANTS[variant][0]} ({variant}) from {len(clips)} clips with {workers} processes ...")
    rows = []
    # spawn, never fork: the caller may run PyAV, onnxruntime or Dask threads, and a forked child inherits their
    # locks held (a worker once deadlocked freeing an inherited FFmpeg filter graph)
    with multiprocessing.get_context("spawn").Pool(workers) as pool:
        for row in pool.imap(_extract_one, [(str(c), variant, r) for c, r in zip(clips, rel)], chunksize=8):
            rows.append(row)
            if progress and (len(rows) % 16 == 0 or len(rows) == len(clips)):
                progress(len(rows), len(clips))
    print(f"extracted in {time.perf_counter() - t0:.0f} s -> {cache}")
    out = {
        "X": np.vstack(rows).astype(np.float32),
        "y": np.asarray(labels),
        "actor": np.asarray(groups, dtype=np.int16),
        "files": np.array(rel),
        "names": np.array(feature_names(VARIANTS[variant][0])),
    }
    atomic_write(cache, lambda tmp: np.savez(tmp, **out))  # type: ignore[arg-type]  # a killed extraction never leaves half a cache
    return out


def columns(d: dict[str, np.ndarray], sets: tuple[str, ...]) -> np.ndarray:
    """Return the feature columns of the given OpenSMILE sets, in the order ``extract_features`` gives them."""
    names = d["names"]
    return np.concatenate([d["X"][:, np.char.startswith(names, f"{s}:")] for s in sets], axis=1)


def load_both(
    variant: str = "trim",
    sets: tuple[str, ...] = ("compare",),
    progress: Callable[[int, int], None] | None = None,
    extras: tuple[str, ...] = (),
) -> dict[str, np.ndarray]:
    """Return RAVDESS and TESS features in one table, labels mapped to the 7 shared classes (:func:`seven`).

    Args:
        variant: A key of :data:`VARIANTS`.
        sets: The OpenSMILE sets to keep (see :func:`columns`).
        progress: Called as ``progress(done, total)`` while extracting (clips of both corpora together).
        extras: Extra corpora (of :data:`EXTRA`) to append when they were prepared here (:func:`load_extra`); one
            that was not is left out, so a fresh install that has only the shared data reads RAVDESS and TESS.

    Returns:
        ``X``, ``y``, ``group`` (speaker: RAVDESS actor, :data:`TESS_SPEAKERS` id or :data:`GROUP_BASE` + index),
        ``cal`` (the groups a fit calibrates over, see :func:`calibration_groups`), ``corpus`` and ``files``.
    """
    n_r = len(list_clips(settings.ravdess_dir()))
    n_t = len(list_tess(tess_dir()))
    total = n_r + n_t
    r = load_features(None, variant, progress=progress and (lambda d, t: progress(d, total)), corpus="ravdess")
    t = load_features(None, variant, progress=progress and (lambda d, t: progress(n_r + d, total)), corpus="tess")
    parts = [("ravdess", r), ("tess", t)]
    parts += [(name, e) for name in extras if (e := load_extra(name, variant)) is not None]
    group = np.concatenate([p["actor"] for _, p in parts]).astype(np.int64)
    return {
        "X": np.vstack([columns(p, sets) for _, p in parts]),
        "y": np.concatenate([mapped(name, p["y"]) for name, p in parts]),
        "group": group,
        "cal": calibration_groups(group),
        "corpus": np.concatenate([np.array([name] * len(p["y"])) for name, p in parts]),
        "files": np.concatenate([p["files"] for _, p in parts]),
    }


def held_out(d: dict[str, np.ndarray]) -> np.ndarray:
    """Return the rows of the speakers the shipped model never hears (:data:`HELD_OUT_ACTOR`, :data:`HELD_OUT_TESS`)."""
    return (d["group"] == HELD_OUT_ACTOR) | (d["group"] == TESS_SPEAKERS[HELD_OUT_TESS])


TESS_GROUP = 100
"""The one calibration group of all TESS speakers (see :func:`calibration_groups`)."""


def calibration_groups(group: np.ndarray) -> np.ndarray:
    """Return the groups a fit's inner folds (grid, calibration) keep apart: RAVDESS actors, every other corpus as one.

    With TESS (and each extra corpus of :data:`GROUP_BASE`) as a single group, its out-of-fold decision values come
    from a model that saw no voice of that corpus at all, so the calibration also learns how sure the model may be on
    a corpus it never heard, not only on a new speaker.
    """
    group = np.asarray(group, dtype=np.int64)
    out = np.where(np.isin(group, list(TESS_SPEAKERS.values())), TESS_GROUP, group)
    for base in GROUP_BASE.values():
        out = np.where((group >= base) & (group < base + 100), base, out)
    return out


# ----------------------------------------------------------------------------------------------------------------
# Extra corpora (optional): tables cached by training/voice_corpora.py


def corpus_dir(corpus: str) -> Path:
    """Where a corpus's unpacked clips live: ``<cache dir>/corpora/<corpus>``."""
    return settings.cache_dir() / "corpora" / corpus


def extra_cache(corpus: str, rel: list[str], variant: str) -> Path:
    """The feature table file of an extra corpus's chosen clips ``rel``."""
    key = hashlib.sha256(("\n".join(rel) + FEATURE_VERSION + variant).encode()).hexdigest()[:16]
    return settings.cache_dir() / f"{corpus}_{variant}_{key}.npz"


def index_file(corpus: str) -> Path:
    """The chosen clips of a corpus, one tab-separated ``path label speaker`` a line, written when unpacked."""
    return corpus_dir(corpus) / "clips.tsv"


def load_extra(corpus: str, variant: str = "trim") -> dict[str, np.ndarray] | None:
    """A prepared extra corpus's feature table, or None when it was never prepared here (it is optional)."""
    index = index_file(corpus)
    if not index.exists():
        return None
    rel = [line.split("\t")[0] for line in index.read_text().splitlines() if line]
    cache = extra_cache(corpus, rel, variant)
    return dict(np.load(cache, allow_pickle=False)) if cache.exists() else None


def mapped(corpus: str, labels: np.ndarray) -> np.ndarray:
    """A corpus's own labels mapped onto the project's voice classes through :data:`LABEL_MAP`."""
    table = LABEL_MAP[corpus]
    return np.array([table[str(v)] for v in labels])
