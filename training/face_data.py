"""Face sources beyond FER2013 as cached arrays, cut by the app's own detector and crop code.

Each source becomes one ``.npz`` under ``<cache dir>/face_sources/`` (:func:`emotion.settings.cache_dir`,
``$EMOTION_CACHE_DIR``), never in the repository:

- ``fer2013_val``: the seeded 10% validation part of FER2013's ``train.npz`` (:func:`training.common.fer_split`).
  Its 48x48 crops are already framed and stay as they are.
- ``taiwanese``: the Taiwan Corpora of Chinese Emotions portraits (``Taiwanese/faces_256x256/`` of a snapshot of
  ``lai-wei-cheng/b12207073``; 29 performers, posed; academic use).
- ``muxspace``: ``muxspace/facial_expressions`` (``images/`` and ``data/legend.csv``; web and film photos, crowd
  labels, identities from the file names; research use).

For a full portrait, the app's detector (:class:`emotion.face.blazeface.BlazeFaceDetector`) finds the largest face
and :class:`emotion.face.align.EyeFinder` its eyes, as in the app. Each face is stored as a gray context square
(the box grown by half its side on every side, :data:`CTX` pixels), with the box and eyes in its pixels, so any
model's own ``crop`` (or the aligned crop) can be cut from it later exactly as the app cuts it. Also stored:
``crop48`` (the 48x48 square crop the default model sees), the label index in :data:`emotion.labels.FACE_LABELS`,
the subject/identity group, whether the detector found the face, and the source name. A portrait where no face
is found keeps the whole image as its box (what the app's "images are face crops" mode reads) with
``found`` False.

The snapshots are bare git directories (the ``fetch`` of a GitHub repository) given as flags::

    python -m training.face_data build --taiwan SNAPSHOT_GIT_DIR --muxspace SNAPSHOT_GIT_DIR
    python -m training.face_data framing   # FER2013's eye positions: emotion.face.align.CANONICAL_EYES
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import re
import subprocess
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from emotion.labels import FACE_LABELS
from emotion.settings import cache_dir, fer2013_file

CTX = 112
"""Side in pixels of the stored context square (the face box is half of it)."""
CTX_MARGIN = 0.5
"""The context square is the box grown by this fraction of its side on every side."""
SOURCES = ("fer2013_val", "taiwanese", "muxspace")
"""Every source, in the order results list them."""

TAIWAN_LETTERS = {"a": "neutral", "b": "happy", "c": "sad", "d": "angry", "e": "disgust", "f": "fear", "g": "surprise"}
"""The 5th character of a Taiwanese portrait's name (``PPTVeNN``) and the posed expression."""
MUX_LABELS = {"anger": "angry", "disgust": "disgust", "fear": "fear", "happiness": "happy", "neutral": "neutral",
              "sadness": "sad", "surprise": "surprise"}
"""muxspace's lowercased labels and ours; ``contempt`` has no counterpart and is dropped."""


def source_file(name: str, folder: Path | None = None) -> Path:
    """The cached array set of a source."""
    return Path(folder or cache_dir() / "face_sources") / f"{name}.npz"


def load_source(name: str, folder: Path | None = None) -> dict[str, np.ndarray]:
    """Read a cached source: ``ctx``, ``box``, ``eyes``, ``crop48``, ``y``, ``groups``, ``found``, ``framed``.

    Raises:
        FileNotFoundError: The source was never built (run ``build``).
    """
    with np.load(source_file(name, folder), allow_pickle=False) as data:
        return {key: data[key] for key in data.files}


def git_files(git_dir: Path, prefix: str, rev: str = "HEAD") -> dict[str, str]:
    """Path to blob id of every file under ``prefix`` in a bare git snapshot."""
    out = subprocess.run(["git", "--git-dir", str(git_dir), "ls-tree", "-r", rev, "--", prefix],
                         check=True, capture_output=True, text=True).stdout
    files = {}
    for line in out.splitlines():
        meta, path = line.split("\t", 1)
        _, kind, blob = meta.split()
        if kind == "blob":
            files[path] = blob
    return files


def git_blobs(git_dir: Path, blobs: list[str]) -> Iterator[bytes]:
    """The contents of ``blobs``, in order, read through one ``git cat-file --batch``."""
    proc = subprocess.Popen(["git", "--git-dir", str(git_dir), "cat-file", "--batch"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert proc.stdin is not None and proc.stdout is not None
    try:
        for blob in blobs:
            proc.stdin.write(f"{blob}\n".encode())
            proc.stdin.flush()
            header = proc.stdout.readline().split()
            if len(header) != 3:
                raise ValueError(f"git cat-file has no blob {blob}")
            data = proc.stdout.read(int(header[2]))
            proc.stdout.read(1)
            yield data
    finally:
        proc.stdin.close()
        proc.wait()


@dataclass
class Item:
    """One labelled picture of a source before it is cut."""

    blob: str
    label: str
    group: str


class Cutter:
    """Cuts faces as the app does: BlazeFace's largest box, its eyes, a context square around it."""

    def __init__(self) -> None:
        from emotion.face.align import EyeFinder
        from emotion.face.blazeface import BlazeFaceDetector

        self.detector = BlazeFaceDetector()
        self.finder = EyeFinder()

    def cut(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, bool]:
        """Return the context square, the box and eyes in its pixels, the 48x48 crop and whether a face was found."""
        from emotion.face.align import CONTEXT
        from emotion.face.base import square_crop

        boxes = self.detector.detect(image)
        found = bool(boxes)
        box = boxes[0] if boxes else [0, 0, image.shape[1], image.shape[0]]
        eyes = self.finder.eyes(image, box) if found else None
        assert CONTEXT == CTX_MARGIN  # the stored square holds everything the eye search saw
        gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 else image
        region = square_crop(gray, box, CTX_MARGIN)
        side = max(box[2], box[3]) * (1 + 2 * CTX_MARGIN)
        x0 = round(box[0] + box[2] / 2 - side / 2)
        y0 = round(box[1] + box[3] / 2 - side / 2)
        f = CTX / region.shape[0]
        ctx = cv2.resize(region, (CTX, CTX), interpolation=cv2.INTER_AREA if f < 1 else cv2.INTER_LINEAR)
        local_box = np.array([(box[0] - x0) * f, (box[1] - y0) * f, box[2] * f, box[3] * f])
        local_eyes = np.full((2, 2), np.nan) if eyes is None else (eyes - np.array([x0, y0])) * f
        crop = cv2.resize(square_crop(gray, box, 0.0), (48, 48), interpolation=cv2.INTER_AREA)
        return ctx, np.round(local_box).astype(np.int32), local_eyes, crop, found


def taiwanese_items(git_dir: Path, rev: str = "HEAD") -> list[Item]:
    """The Taiwanese portraits with a posed label; the performer (first two digits) is the group."""
    items = []
    for path, blob in sorted(git_files(git_dir, "Taiwanese/faces_256x256/", rev).items()):
        name = Path(path).stem
        if len(name) >= 5 and name[4] in TAIWAN_LETTERS and path.lower().endswith(".jpg"):
            items.append(Item(blob, TAIWAN_LETTERS[name[4]], f"tw{name[:2]}"))
    return items


def mux_identity(image_name: str) -> str:
    """The person in a muxspace picture: the file name without its trailing number (``George_W_Bush_0001``)."""
    stem = re.sub(r"\.[A-Za-z]+$", "", image_name)
    return re.sub(r"[_-]?\d+[a-z]?$", "", stem).lower() or stem.lower()


def muxspace_items(git_dir: Path, rev: str = "HEAD") -> list[Item]:
    """The muxspace labelled pictures: contempt dropped, one copy of each image content, conflicting labels dropped."""
    legend = subprocess.run(["git", "--git-dir", str(git_dir), "show", f"{rev}:data/legend.csv"],
                            check=True, capture_output=True, text=True).stdout
    files = {Path(p).name: b for p, b in git_files(git_dir, "images/", rev).items()}
    labels: dict[str, set[str]] = defaultdict(set)
    names: dict[str, str] = {}
    for row in csv.DictReader(io.StringIO(legend)):
        blob = files.get(row["image"].strip())
        label = MUX_LABELS.get(row["emotion"].strip().lower())
        if blob is None or label is None:
            continue
        labels[blob].add(label)
        names.setdefault(blob, row["image"].strip())
    return [Item(blob, next(iter(found)), mux_identity(names[blob]))
            for blob, found in sorted(labels.items(), key=lambda kv: names[kv[0]]) if len(found) == 1]


def build_portraits(name: str, git_dir: Path, items: list[Item], out: Path) -> dict[str, object]:
    """Cut every picture of a source and write its array set; return counts."""
    cutter = Cutter()
    ctxs, boxes, eyes, crops, ys, groups, founds = [], [], [], [], [], [], []
    for item, data in zip(items, git_blobs(git_dir, [i.blob for i in items]), strict=True):
        image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
        if image is None:
            continue
        ctx, box, eye, crop, found = cutter.cut(image)
        ctxs.append(ctx)
        boxes.append(box)
        eyes.append(eye)
        crops.append(crop)
        ys.append(FACE_LABELS.index(item.label))
        groups.append(item.group)
        founds.append(found)
    out.parent.mkdir(parents=True, exist_ok=True)
    found_arr = np.array(founds)
    eyes_arr = np.array(eyes, np.float32)
    np.savez_compressed(out, ctx=np.array(ctxs, np.uint8), box=np.array(boxes, np.int32), eyes=eyes_arr,
                        crop48=np.array(crops, np.uint8), y=np.array(ys, np.int8), groups=np.array(groups),
                        found=found_arr, framed=np.array(False), source=np.array(name))
    return {"images": len(ys), "found": int(found_arr.sum()), "eyes": int(np.isfinite(eyes_arr[:, 0, 0]).sum()),
            "subjects": len(set(groups)), "labels": dict(Counter(FACE_LABELS[y] for y in ys))}


def build_fer(path: Path, out: Path) -> dict[str, object]:
    """Write FER2013's validation part as a source: the framed crops as they are, each face its own group."""
    from training.common import fer_split

    with np.load(path) as data:
        images, labels = data["images"], data["labels"].astype(np.int64)
        names = [str(n) for n in data["label_names"]]
    _, idx = fer_split(labels)
    order = [FACE_LABELS.index(n) for n in names]
    y = np.array([order[v] for v in labels[idx]], np.int8)
    n = len(idx)
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out, ctx=images[idx], box=np.tile(np.array([0, 0, 48, 48], np.int32), (n, 1)),
                        eyes=np.full((n, 2, 2), np.nan, np.float32), crop48=images[idx], y=y,
                        groups=np.array([f"fer{i}" for i in idx]), found=np.ones(n, bool), framed=np.array(True),
                        source=np.array("fer2013_val"))
    return {"images": n, "labels": dict(Counter(FACE_LABELS[v] for v in y))}


def framing(path: Path, n: int = 2000, seed: int = 0) -> dict[str, object]:
    """Measure where BlazeFace puts the eyes of FER2013 faces (fractions of the 48x48 crop).

    Each face is upscaled to 192 px and searched as a whole-image box with :class:`emotion.face.align.EyeFinder`.
    """
    from emotion.face.align import EyeFinder

    with np.load(path) as data:
        images = data["images"]
    finder = EyeFinder()
    found = []
    for i in np.random.default_rng(seed).choice(len(images), n, replace=False):
        face = cv2.resize(images[i], (192, 192), interpolation=cv2.INTER_CUBIC)
        eyes = finder.eyes(face, [0, 0, 192, 192])
        if eyes is not None:
            found.append(eyes / 192)
    e = np.array(found)
    mid = np.median((e[:, 0] + e[:, 1]) / 2, axis=0)
    dist = float(np.median(np.linalg.norm(e[:, 1] - e[:, 0], axis=1)))
    return {"tried": n, "found": len(e), "midpoint": [round(float(v), 3) for v in mid], "eye_distance": round(dist, 3),
            "canonical_eyes": [[round(float(mid[0] - dist / 2), 3), round(float(mid[1]), 3)],
                               [round(float(mid[0] + dist / 2), 3), round(float(mid[1]), 3)]]}


def main() -> None:
    """Build the cached sources, or measure FER2013's framing."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=("build", "framing"))
    parser.add_argument("--taiwan", type=Path, help="bare git snapshot of lai-wei-cheng/b12207073")
    parser.add_argument("--muxspace", type=Path, help="bare git snapshot of muxspace/facial_expressions")
    parser.add_argument("--rev", default="HEAD", help="the snapshot commit to read")
    parser.add_argument("--fer", type=Path, default=None, help="FER2013 train.npz (default: from the settings)")
    parser.add_argument("--out", type=Path, default=None, help="folder (default <cache dir>/face_sources)")
    parser.add_argument("--only", nargs="*", choices=SOURCES, default=list(SOURCES))
    args = parser.parse_args()
    fer = args.fer or fer2013_file()
    if args.command == "framing":
        print(json.dumps(framing(fer), indent=1))
        return
    report: dict[str, object] = {}
    if "fer2013_val" in args.only:
        report["fer2013_val"] = build_fer(fer, source_file("fer2013_val", args.out))
    if "taiwanese" in args.only and args.taiwan:
        items = taiwanese_items(args.taiwan, args.rev)
        report["taiwanese"] = build_portraits("taiwanese", args.taiwan, items, source_file("taiwanese", args.out))
    if "muxspace" in args.only and args.muxspace:
        items = muxspace_items(args.muxspace, args.rev)
        report["muxspace"] = build_portraits("muxspace", args.muxspace, items, source_file("muxspace", args.out))
    for name, counts in report.items():
        print(name, json.dumps(counts))


if __name__ == "__main__":
    main()
