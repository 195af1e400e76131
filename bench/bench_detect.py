"""Face detectors compared on one check set: recall and precision per variant group, and ms per frame.

Usage, from the repository root: python -m bench.bench_detect [--detectors haar blazeface ...] [--quick]

The check set is built in code from the shared media (:func:`emotion.settings.shared_data`, ``media/``): the
stills and sampled video frames with their faces marked by hand (boxes below, checked by eye), and variants derived
from them whose face boxes follow the same transform:

- ``frontal``: the originals with frontal faces (stills and video frames);
- ``turned``: the turned-head disgust portrait and ``BWPictureHuman.jpg``, and their mirror images;
- ``small``: the stills shrunk so the largest face is 32, 48 or 72 px high and pasted on a 1920x1080 landscape;
- ``rotated``: the stills rotated by +-30, +-45 and +-60 degrees (the canvas grows to keep every corner);
- ``dark``: stills and frames at a quarter and a tenth of their brightness, with sensor noise;
- ``bw``: stills and frames in black and white;
- ``cropped``: close-ups (the face fills most of the frame) and crops that cut a third of the face off;
- ``no_face``: the landscape (also shrunk, rotated, darkened), the face-free video frames, noise images and
  face-free parts of the photos; every box found there is a false positive.

A found box matches a marked face when each box's centre lies inside the other (a criterion that does not favour
one detector's framing); a second box on the same face is a false positive; boxes on the small background faces
of ``BWPictureHuman.jpg`` count neither way. Every detector runs in this process, one after another, and its
figures are printed with ratios against Haar's.
"""

from __future__ import annotations

import argparse
import json
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field

import cv2
import numpy as np

from emotion.face.blazeface import BlazeFaceDetector
from emotion.face.detect import get_detector
from emotion.face.protocols import FaceDetector
from emotion.media import iter_video_frames, read_image
from emotion.settings import shared_data

Box = list[int]

STILLS: dict[str, tuple[list[Box], list[Box]]] = {
    # file: (faces [x, y, w, h], regions that count neither way)
    "single_face.jpg": ([[150, 150, 240, 240]], []),
    "multi_face.jpg": (
        [[675, 295, 123, 123], [305, 235, 118, 118], [208, 57, 117, 117], [522, 313, 115, 116], [427, 208, 102, 102]],
        [],
    ),
    "0-f1-su-ph.jpg": ([[87, 102, 359, 360]], []),
    "0-f15-hao-ph.jpg": ([[78, 110, 350, 350]], []),
    "15-f13-anc-ph.jpg": ([[60, 128, 335, 335]], []),
    "Image_with_alpha.png": ([[545, 190, 410, 410]], []),
    "45-m7-di-ph.jpg": ([[0, 150, 300, 310]], []),
    "BWPictureHuman.jpg": (
        [[770, 320, 280, 340]],
        [[1600, 1500, 250, 250], [2000, 1500, 250, 250], [350, 1650, 250, 262]],  # small helmeted faces far back
    ),
}
TURNED = ("45-m7-di-ph.jpg", "BWPictureHuman.jpg")
FRAMES: dict[str, list[tuple[float, list[Box]]]] = {
    # video: [(time in s, faces)]; the face-free frames are the no_face group's
    "single_face.mp4": [(0.5, [[188, 79, 206, 206]]), (1.5, [[184, 68, 214, 214]]), (2.2, [[186, 69, 214, 214]])],
    "WolfgangLanger_Pexels.mp4": [
        (2.0, [[311, 51, 267, 268]]),
        (6.0, [[286, 41, 293, 292]]),
        (10.0, [[308, 23, 287, 287]]),
        (14.0, [[312, 27, 297, 297]]),
        (18.0, [[288, 58, 268, 268]]),
    ],
    "face_noface.mov": [
        (0.5, [[282, 119, 309, 308]]),
        (1.5, [[276, 102, 321, 322]]),
        (2.5, []),
        (3.5, []),
        (4.5, []),
        (5.5, []),
    ],
    "noface_face.mov": [
        (0.5, []),
        (1.5, []),
        (2.5, []),
        (3.5, []),
        (4.5, [[283, 119, 308, 308]]),
        (5.5, [[276, 102, 321, 321]]),
    ],
    "no_face.mp4": [(0.5, []), (1.5, []), (2.5, []), (3.5, [])],
}
LANDSCAPE = "free-mountain-vector-01.jpg"


@dataclass
class Case:
    """One image of the check set with its marked faces."""

    group: str
    name: str
    image: np.ndarray
    faces: list[Box]
    ignore: list[Box] = field(default_factory=list)


def warp_boxes(boxes: list[Box], matrix: np.ndarray, scale: float = 1.0) -> list[Box]:
    """Move each box's centre by the 2x3 affine ``matrix``; its side is multiplied by ``scale``."""
    out = []
    for x, y, w, h in boxes:
        cx, cy = matrix @ np.array([x + w / 2, y + h / 2, 1.0])
        w2, h2 = w * scale, h * scale
        out.append([round(cx - w2 / 2), round(cy - h2 / 2), round(w2), round(h2)])
    return out


def rotate(image: np.ndarray, boxes: list[Box], degrees: float) -> tuple[np.ndarray, np.ndarray]:
    """Rotate ``image`` about its centre on a canvas grown to keep every corner; return it and the matrix."""
    h, w = image.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), degrees, 1.0)
    cos, sin = abs(m[0, 0]), abs(m[0, 1])
    nw, nh = int(h * sin + w * cos), int(h * cos + w * sin)
    m[0, 2] += nw / 2 - w / 2
    m[1, 2] += nh / 2 - h / 2
    return cv2.warpAffine(image, m, (nw, nh), borderMode=cv2.BORDER_CONSTANT), m  # a reflection would copy faces


def darken(image: np.ndarray, factor: float, rng: np.random.Generator) -> np.ndarray:
    """Scale brightness by ``factor`` (gamma 1.5 for dim light) and add sensor noise."""
    x = (image.astype(np.float32) / 255) ** 1.5 * factor * 255
    return np.clip(x + rng.normal(0, 2.0, x.shape), 0, 255).astype(np.uint8)


def gray(image: np.ndarray) -> np.ndarray:
    """Black and white, still 3 channels (as a decoded grayscale file is)."""
    return cv2.cvtColor(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)


def crop(image: np.ndarray, faces: list[Box], x0: int, y0: int, x1: int, y1: int) -> tuple[np.ndarray, list[Box]]:
    """Cut ``image`` to x0..x1, y0..y1; keep the faces whose centre stays inside, clipped to the cut."""
    h, w = image.shape[:2]
    x0, y0, x1, y1 = max(0, x0), max(0, y0), min(w, x1), min(h, y1)
    kept = []
    for x, y, bw, bh in faces:
        if x0 <= x + bw / 2 < x1 and y0 <= y + bh / 2 < y1:
            cx0, cy0 = max(x, x0), max(y, y0)
            kept.append([cx0 - x0, cy0 - y0, min(x + bw, x1) - cx0, min(y + bh, y1) - cy0])
    return image[y0:y1, x0:x1].copy(), kept


def check_set(quick: bool = False) -> Iterator[Case]:
    """Yield every case of the check set (``quick``: the originals and one variant of each kind)."""
    media = shared_data() / "media"
    rng = np.random.default_rng(0)
    stills = {name: read_image(media / name) for name in STILLS}
    frames: list[tuple[str, np.ndarray, list[Box]]] = []
    for video, samples in FRAMES.items():
        times = [t for t, _ in samples]
        for (t, faces), (_, _, image) in zip(samples, iter_video_frames(media / video, times), strict=True):
            frames.append((f"{video}@{t:g}", image, faces))
    landscape = read_image(media / LANDSCAPE)

    for name, image in stills.items():
        faces, ignore = STILLS[name]
        yield Case("turned" if name in TURNED else "frontal", name, image, faces, ignore)
        if name in TURNED:
            w = image.shape[1]
            flip = np.array([[-1.0, 0, w], [0, 1, 0]])
            yield Case(
                "turned", f"{name} mirrored", image[:, ::-1].copy(), warp_boxes(faces, flip), warp_boxes(ignore, flip)
            )
    with_face = [(n, i, f) for n, i, f in frames if f]
    for name, image, faces in frames:
        if faces:
            yield Case("frontal", name, image, faces)
        else:
            yield Case("no_face", name, image, [])

    frontal = {n: i for n, i in stills.items() if n not in TURNED}
    sizes = (48,) if quick else (32, 48, 72)
    for name, image in frontal.items():
        faces = STILLS[name][0]
        for size in sizes:
            scale = size / max(f[3] for f in faces)
            small = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
            canvas = landscape.copy()
            sh, sw = small.shape[:2]
            x = int(rng.integers(0, canvas.shape[1] - sw))
            y = int(rng.integers(0, canvas.shape[0] - sh))
            canvas[y : y + sh, x : x + sw] = small
            m = np.array([[scale, 0, x], [0, scale, y]])
            yield Case("small", f"{name} face {size}px on 1920x1080", canvas, warp_boxes(faces, m, scale))

    angles = (-45, 45) if quick else (-60, -45, -30, 30, 45, 60)
    for name, image in stills.items():
        faces, ignore = STILLS[name]
        for angle in angles:
            turned, m = rotate(image, faces, angle)
            yield Case("rotated", f"{name} rotated {angle}", turned, warp_boxes(faces, m), warp_boxes(ignore, m))

    sources = [(n, i, *STILLS[n]) for n, i in stills.items()] + [(n, i, f, []) for n, i, f in with_face[::2]]
    for name, image, faces, ignore in sources:
        for factor in (0.25,) if quick else (0.25, 0.1):
            yield Case("dark", f"{name} at {factor:g} brightness", darken(image, factor, rng), faces, ignore)
        yield Case("bw", f"{name} black and white", gray(image), faces, ignore)

    for name, image in stills.items():
        faces, ignore = STILLS[name]
        x, y, w, h = max(faces, key=lambda b: b[2] * b[3])
        cx, cy, side = x + w // 2, y + h // 2, max(w, h)
        close, kept = crop(
            image, faces, cx - side * 6 // 10, cy - side * 6 // 10, cx + side * 6 // 10, cy + side * 6 // 10
        )
        yield Case("cropped", f"{name} close-up", close, kept)
        cut, kept = crop(image, faces, x + w // 3, 0, image.shape[1], image.shape[0])
        yield Case(
            "cropped",
            f"{name} left third of the face cut off",
            cut,
            kept,
            [[a - x - w // 3, b, c, d] for a, b, c, d in ignore],
        )

    yield Case("no_face", LANDSCAPE, landscape, [])
    if not quick:
        yield Case("no_face", f"{LANDSCAPE} shrunk", cv2.resize(landscape, (640, 360)), [])
        for angle in (-45, 30):
            yield Case("no_face", f"{LANDSCAPE} rotated {angle}", rotate(landscape, [], angle)[0], [])
        yield Case("no_face", f"{LANDSCAPE} dark", darken(landscape, 0.2, rng), [])
        yield Case("no_face", f"{LANDSCAPE} black and white", gray(landscape), [])
    noise = {
        "gaussian noise": np.clip(rng.normal(128, 50, (720, 1280, 3)), 0, 255),
        "uniform noise": rng.integers(0, 256, (540, 960, 3)),
        "smooth noise": cv2.GaussianBlur(rng.integers(0, 256, (720, 1280, 3)).astype(np.uint8), (0, 0), 6) * 1.0,
        "blotches": cv2.resize(
            rng.integers(0, 256, (9, 16, 3)).astype(np.uint8), (1280, 720), interpolation=cv2.INTER_CUBIC
        )
        * 1.0,
    }
    for name, image in noise.items():
        if quick and name != "smooth noise":
            continue
        yield Case("no_face", name, np.ascontiguousarray(image.astype(np.uint8)), [])
    parts = [
        ("multi_face.jpg", 0, 440, 1000, 667),
        ("multi_face.jpg", 800, 0, 1000, 300),
        ("BWPictureHuman.jpg", 1300, 0, 2560, 1100),
        ("Image_with_alpha.png", 0, 650, 1524, 1036),
    ]
    for name, x0, y0, x1, y1 in parts if not quick else parts[:1]:
        yield Case("no_face", f"{name} part without faces", stills[name][y0:y1, x0:x1].copy(), [])


def contains(box: Box, point: tuple[float, float]) -> bool:
    """Whether ``point`` lies inside ``box``."""
    x, y, w, h = box
    return x <= point[0] <= x + w and y <= point[1] <= y + h


def centre(box: Box) -> tuple[float, float]:
    """The centre of a box."""
    return box[0] + box[2] / 2, box[1] + box[3] / 2


def score(found: list[Box], case: Case) -> tuple[int, int]:
    """Match ``found`` to the case's faces: return (true positives, false positives)."""
    free, tp, fp = list(case.faces), 0, 0
    for box in found:
        hit = next((f for f in free if contains(f, centre(box)) and contains(box, centre(f))), None)
        if hit is not None:
            free.remove(hit)
            tp += 1
        elif not any(contains(ig, centre(box)) for ig in case.ignore):
            fp += 1
    return tp, fp


@dataclass
class Tally:
    """Counts for one detector and group."""

    faces: int = 0
    tp: int = 0
    fp: int = 0
    images: int = 0
    seconds: float = 0.0

    def add(self, other: Tally) -> None:
        """Add another tally's counts to this one."""
        for k in ("faces", "tp", "fp", "images", "seconds"):
            setattr(self, k, getattr(self, k) + getattr(other, k))

    @property
    def recall(self) -> float | None:
        """Found faces over marked faces."""
        return self.tp / self.faces if self.faces else None

    @property
    def precision(self) -> float | None:
        """True boxes over all boxes found."""
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else None


def run(detector: FaceDetector, cases: list[Case], verbose: bool = False) -> dict[str, Tally]:
    """Run ``detector`` on every case (one warm-up first); return a tally per group and "all"."""
    detector.detect(cases[0].image)
    tallies: dict[str, Tally] = defaultdict(Tally)
    for case in cases:
        t0 = time.perf_counter()
        found = detector.detect(case.image)
        seconds = time.perf_counter() - t0
        tp, fp = score(found, case)
        if verbose and (tp < len(case.faces) or fp):
            print(f"  {detector.name}: {case.group:8s} {case.name}: {tp}/{len(case.faces)} found, {fp} false")
        one = Tally(len(case.faces), tp, fp, 1, seconds)
        tallies[case.group].add(one)
        tallies["all"].add(one)
    return dict(tallies)


VARIANTS = {
    "blaze_whole": lambda: BlazeFaceDetector(tile_above=0),
    "blaze_2lvl": lambda: BlazeFaceDetector(tile_levels=(1.0, 0.5)),
    "blaze_full": lambda: BlazeFaceDetector(close_ups=False),
}
"""Other settings of the BlazeFace detector, to compare (no tiles; two tile sizes)."""


def make(name: str) -> FaceDetector:
    """A detector by ``get_detector`` name, or one of :data:`VARIANTS`."""
    if name in VARIANTS:
        detector = VARIANTS[name]()
        detector.name = name
        return detector
    return get_detector(name)


def fmt(value: float | None, spec: str = ".3f") -> str:
    """A figure, or n/a."""
    return "n/a" if value is None else format(value, spec)


def main() -> None:
    """Build the check set, run each detector, print the table and a RESULT line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--detectors",
        nargs="+",
        default=["haar", "blazeface"],
        help="detector names for get_detector (haar is always run first, as the baseline)",
    )
    parser.add_argument("--quick", action="store_true", help="fewer variants")
    parser.add_argument("--verbose", action="store_true", help="list every miss and false positive")
    args = parser.parse_args()
    cases = list(check_set(args.quick))
    groups = sorted({c.group for c in cases}, key=lambda g: (g == "no_face", g))
    faces = sum(len(c.faces) for c in cases)
    print(f"check set: {len(cases)} images, {faces} marked faces, groups: {', '.join(groups)}")
    names = ["haar", *[d for d in args.detectors if d != "haar"]]
    results = {name: run(make(name), cases, args.verbose) for name in names}
    base = results["haar"]
    print(
        f"\n{'group':9s} {'detector':10s} {'images':>6s} {'faces':>5s} {'recall':>7s} {'precision':>9s} "
        f"{'false':>5s} {'ms/frame':>8s} {'x haar':>6s}"
    )
    for group in [*groups, "all"]:
        for name, res in results.items():
            t = res.get(group, Tally())
            ms = 1000 * t.seconds / max(t.images, 1)
            ratio = ms / (1000 * base[group].seconds / max(base[group].images, 1))
            print(
                f"{group:9s} {name:10s} {t.images:6d} {t.faces:5d} {fmt(t.recall):>7s} {fmt(t.precision):>9s} "
                f"{t.fp:5d} {ms:8.1f} {ratio:6.2f}"
            )
    summary = {
        name: {
            g: {
                "recall": t.recall,
                "precision": t.precision,
                "false": t.fp,
                "ms_per_frame": round(1000 * t.seconds / max(t.images, 1), 2),
            }
            for g, t in res.items()
        }
        for name, res in results.items()
    }
    print("RESULT " + json.dumps(summary))


if __name__ == "__main__":
    main()
