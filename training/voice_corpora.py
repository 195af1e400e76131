"""Extra speech corpora for training and the leave-one-corpus-out study: nEMO, ASED and TurEV-DB.

Usage (from the repository root, run as a module)::

    python -m training.voice_corpora --nemo SNAPSHOT --ased SNAPSHOT --turev SNAPSHOT [--max-clips 1500]

Each ``SNAPSHOT`` is a git directory (bare or not) of the corpus's public GitHub repository: ``amu-cai/nEMO``,
``Ethio2021/ASED_V1`` and ``Xeonen/TurEV-DB`` (only its ``Sound Source/`` folder; the "Model Output" folders are
filtered copies). The clips are read from the snapshot's blobs, mixed to mono, resampled to 16 kHz (the rate of the
shared RAVDESS and TESS copies and of every analysed window) and written as FLAC under
``<cache dir>/corpora/<corpus>/``; their features (variant "trim", the shipped model's) are cached beside RAVDESS's
and TESS's as ``<corpus>_trim_<key>.npz``. Nothing here is needed at run time or by the tests: the corpora are
optional extras for training, research use only (see :data:`emotion.voice.corpora.LICENCES`), and are never
committed.

Labels go through the one table :data:`emotion.voice.corpora.LABEL_MAP` onto the project's 7 voice classes (calm, in
RAVDESS and TurEV-DB, becomes neutral). That module also loads the cached tables
(:func:`emotion.voice.corpora.load_extra`): training reads them where they exist, and nothing else needs them.
"""

from __future__ import annotations

import argparse
import io
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from math import gcd
from pathlib import Path

import numpy as np

from emotion.voice import corpora
from emotion.voice.corpora import EXTRA, GROUP_BASE, LABEL_MAP, corpus_dir, extra_cache, index_file
from emotion.voice.levels import SR


@dataclass(frozen=True)
class Clip:
    """One clip in a snapshot: its blob, its path there, its corpus label and its speaker."""

    blob: str
    path: str
    label: str
    speaker: str


def _git(snapshot: Path, *args: str) -> bytes:
    return subprocess.run(["git", "--git-dir", str(_git_dir(snapshot)), *args], check=True, capture_output=True).stdout


def _git_dir(snapshot: Path) -> Path:
    return snapshot / ".git" if (snapshot / ".git").is_dir() else snapshot


def _tree(snapshot: Path, commit: str, under: str = "") -> list[tuple[str, str]]:
    """(blob, path) of every file in ``commit`` (under ``under``)."""
    out = _git(snapshot, "ls-tree", "-r", "-z", commit, *([under] if under else []))
    rows = []
    for entry in out.decode().split("\0"):
        if entry:
            meta, path = entry.split("\t", 1)
            rows.append((meta.split()[2], path))
    return rows


def parse_nemo(path: str) -> tuple[str, str]:
    """(label, speaker) of an nEMO file ``samples/{speaker}_{emotion}_{n}.wav``."""
    speaker, label, _ = Path(path).stem.split("_")
    return label, speaker


def parse_ased(path: str) -> tuple[str, str]:
    """(label, speaker) of an ASED file ``NNEmotion/xn-yy-aa-gg-bb.wav``.

    The fields are emotion letter, sentence, take, gender and speaker; the speaker is ``bb``, numbered 1-65 across
    both genders.
    """
    parts = Path(path).stem.lower().split("-")
    return parts[0][0], parts[4]


def parse_turev(path: str) -> tuple[str, str]:
    """(label, speaker) of a TurEV-DB file ``Sound Source/{Emotion}/{speaker}_{code}_{word}.wav``."""
    speaker, code = Path(path).stem.split("_")[:2]
    return code, speaker


PARSERS: dict[str, tuple[str, Callable[[str], tuple[str, str]]]] = {
    "nemo": ("samples", parse_nemo),
    "ased": ("", parse_ased),
    "turev": ("Sound Source", parse_turev),
}
"""Each extra corpus's folder in its snapshot and its file-name parser."""


def list_snapshot(corpus: str, snapshot: Path, commit: str = "HEAD") -> list[Clip]:
    """Every labelled clip of ``corpus`` in a snapshot, in path order, duplicate blobs dropped (the first kept).

    Raises:
        ValueError: If a file's label is not in :data:`LABEL_MAP`.
    """
    under, parse = PARSERS[corpus]
    seen: set[str] = set()
    clips = []
    for blob, path in sorted(_tree(snapshot, commit, under), key=lambda r: r[1]):
        if not path.lower().endswith(".wav") or blob in seen:
            continue
        seen.add(blob)
        label, speaker = parse(path)
        if label not in LABEL_MAP[corpus]:
            raise ValueError(f"{corpus}: unknown label {label!r} in {path}")
        clips.append(Clip(blob, path, label, speaker))
    return clips


def subsample(clips: list[Clip], max_clips: int, seed: int = 0) -> list[Clip]:
    """At most ``max_clips`` clips, stratified by speaker and label (each cell keeps its share), reproducibly."""
    if len(clips) <= max_clips:
        return clips
    rng = np.random.default_rng(seed)
    cells: dict[tuple[str, str], list[Clip]] = {}
    for c in clips:
        cells.setdefault((c.speaker, c.label), []).append(c)
    keep: list[Clip] = []
    for key in sorted(cells):
        cell = cells[key]
        n = max(1, round(len(cell) * max_clips / len(clips)))
        keep.extend(cell[i] for i in sorted(rng.choice(len(cell), size=min(n, len(cell)), replace=False)))
    return sorted(keep, key=lambda c: c.path)


def _resample(x: np.ndarray, sr: int) -> np.ndarray:
    from scipy.signal import resample_poly

    if sr == SR:
        return x
    g = gcd(sr, SR)
    return resample_poly(x, SR // g, sr // g).astype(np.float32)


def unpack(corpus: str, snapshot: Path, clips: list[Clip], dest: Path) -> list[Path]:
    """Write each clip as 16 kHz mono FLAC under ``dest`` (kept when already there); return their paths."""
    import soundfile as sf

    out = []
    for c in clips:
        target = dest / Path(c.path).with_suffix(".flac")
        if not target.exists():
            x, sr = sf.read(io.BytesIO(_git(snapshot, "cat-file", "blob", c.blob)), dtype="float32", always_2d=True)
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_suffix(".part.flac")
            sf.write(str(tmp), _resample(x.mean(axis=1), sr), SR, subtype="PCM_16")
            tmp.replace(target)
        out.append(target)
    return out


def prepare(
    corpus: str, snapshot: Path, max_clips: int, variant: str = "trim", workers: int = 2, commit: str = "HEAD"
) -> dict[str, np.ndarray]:
    """Choose, unpack and extract a corpus (each step skipped when already done); return its feature table.

    The table is :func:`emotion.voice.corpora.load_features`'s: ``y`` holds the corpus's own labels (map them with
    :func:`mapped`) and ``actor`` the speaker group id (:data:`GROUP_BASE` + the speaker's index).
    """
    clips = subsample(list_snapshot(corpus, snapshot, commit), max_clips)
    dest = corpus_dir(corpus)
    paths = unpack(corpus, snapshot, clips, dest)
    rel = [c.path for c in clips]
    index_file(corpus).write_text("".join(f"{c.path}\t{c.label}\t{c.speaker}\n" for c in clips))
    cache = extra_cache(corpus, rel, variant)
    if cache.exists():
        return dict(np.load(cache, allow_pickle=False))
    speakers = sorted({c.speaker for c in clips})
    groups = np.array([GROUP_BASE[corpus] + speakers.index(c.speaker) for c in clips])
    return corpora.extract_table(paths, rel, np.array([c.label for c in clips]), groups, cache, variant, workers)


def main(argv: list[str] | None = None) -> None:
    """Prepare the extra corpora named on the command line."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    for corpus in EXTRA:
        ap.add_argument(f"--{corpus}", type=Path, help=f"git snapshot of the {corpus} repository")
    ap.add_argument("--max-clips", type=int, default=1500, help="at most this many clips per corpus (stratified)")
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args(argv)
    for corpus in EXTRA:
        snapshot = getattr(args, corpus)
        if snapshot is not None:
            d = prepare(corpus, snapshot, args.max_clips, workers=args.workers)
            print(f"{corpus}: {len(d['y'])} clips, {len(set(d['actor'].tolist()))} speakers", flush=True)


if __name__ == "__main__":
    main()
