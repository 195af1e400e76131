"""Per-source macro-F1 of every shipped face model, alignment's effect alone, and the face calibration.

Reads the array sets :mod:`training.face_data` cached (FER2013's validation part, the Taiwanese posed portraits,
muxspace's web and film photos) and cuts every face through the app's own code: the model's ``crop`` on the
detector's box, or :func:`emotion.face.align.aligned_crop` on the eyes BlazeFace found (faces whose eyes were not
found keep the box crop, as in the app; FER2013's crops are already framed and stay as they are).

No shipped model trained on the Taiwanese or muxspace faces, so every subject there is held out; FER2013's
validation part was held out of ``fer_cnn``'s and ``fer_distilled``'s training (``fer_mini_xception``'s authors
trained on all of FER2013's training split, so its FER2013 figure is optimistic and it is not a candidate).
Selection uses the **mean macro-F1 over sources**. Macro-F1 averages the classes present in a source.

The calibration (a temperature per model, :meth:`emotion.face.model.OnnxFaceModel.calibrated`) is fitted on
every source at once, each source weighing the same. Its report is cross-fitted on held-out subjects: subjects
are split into two halves by a hash of their name, the temperature is fitted on one half and scored on the other,
and back. Writes ``models/face_sources.json`` and ``models/face_sources.md`` and the tables between the
``face-sources`` markers of the model cards and the README, and (``--write-calibration``) the fitted temperatures
into the models' sidecars::

    python -m training.face_sources --write-calibration
"""

from __future__ import annotations

import argparse
import json
import re
import zlib
from pathlib import Path
from typing import Any

import numpy as np
from scipy.optimize import minimize_scalar
from sklearn.metrics import accuracy_score, f1_score

from emotion.labels import FACE_LABELS
from emotion.settings import models_dir
from training.face_data import SOURCES, load_source

CANDIDATES = ("fer_distilled", "fer_cnn")
"""Models that may be chosen as the default (``fer_mini_xception`` saw FER2013's validation part in training)."""
THRESHOLDS = (0.4, 0.5, 0.6)
"""Calibrated confidence thresholds reported for the uncertain flag."""
ROOT = Path(__file__).resolve().parent.parent
BEGIN, END = "<!-- face-sources:begin -->", "<!-- face-sources:end -->"


def crops(model: Any, data: dict[str, np.ndarray], aligned: bool) -> list[np.ndarray]:  # noqa: ANN401
    """Cut each face of a source for ``model`` as the app does, aligned by the eyes or from the box."""
    from emotion.face.align import aligned_crop

    out = []
    for ctx, box, eyes in zip(data["ctx"], data["box"], data["eyes"], strict=True):
        if aligned and not bool(data["framed"]) and np.isfinite(eyes).all():
            out.append(aligned_crop(ctx, eyes, model.size))
        else:
            out.append(model.crop(ctx, [int(v) for v in box]))
    return out


def predict(model: Any, faces: list[np.ndarray], batch: int = 256) -> np.ndarray:  # noqa: ANN401
    """The model's probabilities for ``faces``, a batch at a time (a whole source at once would not fit in memory)."""
    if not faces:
        return np.zeros((0, len(FACE_LABELS)))
    return np.concatenate([model.predict_proba(faces[i : i + batch]) for i in range(0, len(faces), batch)])


def framing(data: dict[str, np.ndarray]) -> dict[str, Any] | None:
    """Where the eyes sit in the app's square crop of the detector box: median midpoint and distance (fractions)."""
    eyes, box = data["eyes"].astype(np.float64), data["box"].astype(np.float64)
    ok = np.isfinite(eyes).all(axis=(1, 2))
    if bool(data["framed"]) or not ok.any():
        return None
    side = np.maximum(box[ok, 2], box[ok, 3])
    x0 = box[ok, 0] + box[ok, 2] / 2 - side / 2
    y0 = box[ok, 1] + box[ok, 3] / 2 - side / 2
    rel = (eyes[ok] - np.stack([x0, y0], 1)[:, None, :]) / side[:, None, None]
    mid = np.median(rel.mean(axis=1), axis=0)
    return {"eye_midpoint": [round(float(v), 3) for v in mid],
            "eye_distance": round(float(np.median(np.linalg.norm(rel[:, 1] - rel[:, 0], axis=1))), 3)}


def folds(groups: np.ndarray) -> np.ndarray:
    """0 or 1 for each face: a stable hash of its subject, so a subject's faces share one half."""
    return np.array([zlib.crc32(str(g).encode()) % 2 for g in groups])


def scores(y: np.ndarray, probs: np.ndarray) -> dict[str, float]:
    """Accuracy and macro-F1 over the classes present in ``y``."""
    pred = probs.argmax(axis=1)
    return {"accuracy": round(float(accuracy_score(y, pred)), 4),
            "macro_f1": round(float(f1_score(y, pred, labels=np.unique(y), average="macro")), 4),
            "n": len(y)}


def fit_temperature(parts: list[tuple[np.ndarray, np.ndarray]]) -> float:
    """The temperature minimising the mean over parts of each part's mean negative log-likelihood."""
    logs = [(np.log(np.clip(p, 1e-7, 1.0)), y.astype(int)) for p, y in parts if len(y)]

    def nll(log_t: float) -> float:
        t = float(np.exp(log_t))
        total = 0.0
        for z, y in logs:
            s = z / t
            s = s - s.max(axis=1, keepdims=True)
            ls = s - np.log(np.exp(s).sum(axis=1, keepdims=True))
            total += -float(ls[np.arange(len(y)), y].mean())
        return total / len(logs)

    return float(np.exp(minimize_scalar(nll, bounds=(-3.0, 3.0), method="bounded").x))


def temper(probs: np.ndarray, t: float) -> np.ndarray:
    """Probabilities at temperature ``t`` (the softmax of log-probabilities over ``t``)."""
    z = np.log(np.clip(probs, 1e-7, 1.0)) / t
    z -= z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def ece(y: np.ndarray, probs: np.ndarray, bins: int = 10) -> float:
    """Expected calibration error of the top label's probability."""
    conf, right = probs.max(axis=1), probs.argmax(axis=1) == y
    edges = np.linspace(0, 1, bins + 1)
    total = 0.0
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        m = (conf > lo) & (conf <= hi)
        if m.any():
            total += m.mean() * abs(conf[m].mean() - right[m].mean())
    return round(float(total), 4)


def test_accuracy(model: Any) -> dict[str, float]:  # noqa: ANN401
    """FER2013 ``test.npz`` through the app's model (a figure reported once per finished model, never selected on)."""
    from emotion.settings import fer2013_file

    path = fer2013_file().with_name("test.npz")
    if not path.is_file():
        return {}
    with np.load(path) as data:
        images, labels = data["images"], data["labels"]
        names = [str(n) for n in data["label_names"]]
    order = np.array([FACE_LABELS.index(n) for n in names])
    y = order[labels]
    return scores(y, predict(model, list(images)))


def evaluate(names: list[str], sources: dict[str, dict[str, np.ndarray]], with_test: bool) -> dict[str, Any]:
    """Score every model on every source, box and aligned crops; fit and cross-fit the temperatures."""
    from emotion.face.model import OnnxFaceModel

    out: dict[str, Any] = {"sources": {}, "models": {}}
    for src, data in sources.items():
        y = data["y"].astype(int)
        out["sources"][src] = {
            "faces": len(y), "subjects": len(set(data["groups"].tolist())) if src != "fer2013_val" else None,
            "detected": int(data["found"].sum()), "eyes_found": int(np.isfinite(data["eyes"][:, 0, 0]).sum()),
            "labels": {FACE_LABELS[k]: int((y == k).sum()) for k in range(len(FACE_LABELS)) if (y == k).any()},
            "framing": framing(data),
        }
    for name in names:
        model = OnnxFaceModel(name)
        row: dict[str, Any] = {"box": {}, "aligned": {}}
        probs: dict[str, dict[str, np.ndarray]] = {"box": {}, "aligned": {}}
        for src, data in sources.items():
            y = data["y"].astype(int)
            for way in ("box", "aligned"):
                p = predict(model, crops(model, data, aligned=way == "aligned"))
                probs[way][src] = p
                row[way][src] = scores(y, p)
        for way in ("box", "aligned"):
            row[f"mean_{way}"] = round(float(np.mean([row[way][s]["macro_f1"] for s in sources])), 4)
        row["calibration"] = calibrate(sources, probs["box"], "box")  # the app's crop unless face_align is on
        if with_test:
            row["test"] = test_accuracy(model)
        out["models"][name] = row
    return out


def calibrate(sources: dict[str, dict[str, np.ndarray]], probs: dict[str, np.ndarray], way: str) -> dict[str, Any]:
    """Fit one temperature on all sources; report cross-fitted confident-vs-all accuracy per source."""
    ys = {s: sources[s]["y"].astype(int) for s in sources}
    half = {s: folds(sources[s]["groups"]) for s in sources}
    temperature = fit_temperature([(probs[s], ys[s]) for s in sources])
    crossed = {s: np.zeros_like(probs[s]) for s in sources}
    fold_t = []
    for k in (0, 1):
        t = fit_temperature([(probs[s][half[s] != k], ys[s][half[s] != k]) for s in sources])
        fold_t.append(round(t, 3))
        for s in sources:
            crossed[s][half[s] == k] = temper(probs[s][half[s] == k], t)
    report: dict[str, Any] = {"temperature": round(temperature, 4), "fold_temperatures": fold_t, "crop": way,
                              "per_source": {}}
    for s in sources:
        y, p = ys[s], crossed[s]
        right = p.argmax(axis=1) == y
        entry: dict[str, Any] = {"accuracy_all": round(float(right.mean()), 4), "ece_raw": ece(y, probs[s]),
                                 "ece_calibrated": ece(y, p)}
        for th in THRESHOLDS:
            sure = p.max(axis=1) >= th
            entry[f"at_{th}"] = {"confident_share": round(float(sure.mean()), 4),
                                 "accuracy_confident": round(float(right[sure].mean()), 4) if sure.any() else None}
        report["per_source"][s] = entry
    return report


def markdown(results: dict[str, Any]) -> str:
    """The results as Markdown tables (what the cards and README include)."""
    srcs = list(results["sources"])
    lines = ["Macro-F1 per source on held-out subjects (`python -m training.face_sources`; every Taiwanese and "
             "muxspace subject is unseen by every model but a head marked as trained on them; FER2013 is the "
             "validation part of `train.npz`). *box*: the app's crop of the detector box; *aligned*: rotated and "
             "scaled by BlazeFace's eye keypoints to FER2013's eye positions (FER2013's crops stay as they are).", "",
             "| model | crop | " + " | ".join(srcs) + " | **mean** | test.npz acc |",
             "| --- | --- | " + " | ".join("---" for _ in srcs) + " | --- | --- |"]
    for name, row in results["models"].items():
        note = row.get("note", "" if name in CANDIDATES else " (saw FER2013 val.)")
        test = row.get("test", {}).get("accuracy")
        for way in ("box", "aligned"):
            cells = " | ".join(f"{row[way][s]['macro_f1']:.3f}" for s in srcs)
            lines.append(f"| {name}{note} | {way} | {cells} | **{row[f'mean_{way}']:.3f}** | "
                         f"{f'{test:.4f}' if test is not None and way == 'box' else ''} |")
    lines += ["", "Sources: " + "; ".join(
        f"{s}: {v['faces']} faces" + (f", {v['subjects']} subjects" if v["subjects"] else "")
        + (f", face found in {v['detected']}, eyes in {v['eyes_found']}" if s != "fer2013_val" else "")
        for s, v in results["sources"].items()) + ".", ""]
    from emotion.face.align import CANONICAL_EYES

    mid, apart = CANONICAL_EYES.mean(axis=0), CANONICAL_EYES[1, 0] - CANONICAL_EYES[0, 0]
    seen = "; ".join(f"{s} ({v['framing']['eye_midpoint'][0]:.3f}, {v['framing']['eye_midpoint'][1]:.3f}), "
                     f"{v['framing']['eye_distance']:.3f} apart"
                     for s, v in results["sources"].items() if v.get("framing"))
    lines += [f"Framing: in FER2013's crops the eyes' midpoint is at ({mid[0]:.3f}, {mid[1]:.3f}) of the side and the "
              f"eyes are {apart:.3f} apart (the aligned crop's points); in the app's square crop of BlazeFace's box: "
              f"{seen}.", ""]
    lines += ["Calibration (one temperature per model, fitted on all sources with equal weight; the figures below are "
              "cross-fitted on held-out subjects: fitted on one half of the subjects, scored on the other). "
              "Accuracy of all readings vs readings whose calibrated confidence is at least the threshold, and the "
              "share of readings that are that confident:", "",
              "| model | T | source | ECE raw → calibrated | accuracy all | "
              + " | ".join(f"≥ {t}: share / accuracy" for t in THRESHOLDS) + " |",
              "| --- | --- | --- | --- | --- | " + " | ".join("---" for _ in THRESHOLDS) + " |"]
    for name, row in results["models"].items():
        cal = row["calibration"]
        for s, e in cal["per_source"].items():
            conf = " | ".join(
                f"{e[f'at_{t}']['confident_share']:.2f} / " + (
                    f"{e[f'at_{t}']['accuracy_confident']:.3f}" if e[f"at_{t}"]["accuracy_confident"] is not None
                    else "–") for t in THRESHOLDS)
            lines.append(f"| {name} | {cal['temperature']:.2f} ({cal['crop']}) | {s} | {e['ece_raw']:.3f} → "
                         f"{e['ece_calibrated']:.3f} | {e['accuracy_all']:.3f} | {conf} |")
    best = max(CANDIDATES, key=lambda n: max(results["models"][n]["mean_box"], results["models"][n]["mean_aligned"]))
    lines += ["", f"Best candidate by the mean over sources: **{best}**."]
    return "\n".join(lines) + "\n"


def include(path: Path, text: str) -> None:
    """Replace what lies between the face-sources markers of ``path`` with ``text`` (if it has the markers)."""
    if not path.is_file():
        return
    body = path.read_text()
    pattern = re.compile(re.escape(BEGIN) + ".*?" + re.escape(END), re.S)
    if pattern.search(body):
        path.write_text(pattern.sub(lambda _: f"{BEGIN}\n{text}{END}", body))


def write_calibration(results: dict[str, Any]) -> None:
    """Store each model's fitted temperature in its sidecar (the checksum there is the ONNX file's, unchanged)."""
    for name, row in results["models"].items():
        path = models_dir() / f"{name}.json"
        meta = json.loads(path.read_text())
        cal = row["calibration"]
        meta["calibration"] = {"temperature": cal["temperature"], "crop": cal["crop"],
                               "fitted_on": "held-out subjects of " + ", ".join(results["sources"])
                               + " (training/face_sources.py)"}
        path.write_text(json.dumps(meta, indent=1) + "\n")


def main() -> None:
    """Evaluate, write the results and include them in the cards and README."""
    from emotion.face.model import face_models

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="*", default=None, help="shipped model names (default: every face model)")
    parser.add_argument("--sources", type=Path, default=None, help="folder of the cached sources")
    parser.add_argument("--no-test", action="store_true", help="skip test.npz")
    parser.add_argument("--write-calibration", action="store_true", help="store the temperatures in the sidecars")
    args = parser.parse_args()
    names = args.models or [m for m in face_models() if m not in ("default", "deepface")]
    sources = {}
    for src in SOURCES:
        try:
            sources[src] = load_source(src, args.sources)
        except FileNotFoundError:
            print(f"{src}: not built; run python -m training.face_data build")
    results = evaluate(names, sources, with_test=not args.no_test)
    old = models_dir() / "face_sources.json"
    if args.models and old.is_file():  # some models again: keep the others' figures
        kept = json.loads(old.read_text())["models"]
        results["models"] = {**{n: r for n, r in kept.items() if n not in names}, **results["models"]}
    for name, row in results["models"].items():
        meta = json.loads((models_dir() / f"{name}.json").read_text())
        if meta.get("backbone"):  # a head trained on these sources' subjects (training/face_head.py)
            row["note"] = " (head trained on these subjects: held-out figures in its card)"
    text = markdown(results)
    (models_dir() / "face_sources.json").write_text(json.dumps(results, indent=1) + "\n")
    (models_dir() / "face_sources.md").write_text("# Face models across sources\n\n" + text)
    for path in [ROOT / "README.md", *(models_dir() / f"{n}.md" for n in names)]:
        include(path, text)
    if args.write_calibration:
        write_calibration(results)
    print(text)


if __name__ == "__main__":
    main()
