"""A new linear head on a shipped face network's frozen features, trained on the mix of sources.

The network's last layer (global average pooling, then one linear layer and a softmax, the face and its mirror
image averaged inside the graph) is refitted as a class-balanced multinomial logistic regression on the pooled
features of FER2013's training part (a stratified sample; its validation part stays held out), the Taiwanese
posed portraits and muxspace's web and film photos (cut by the app's detector and crop code,
:mod:`training.face_data`), each source weighing the same. Only the head's weights change, so the ONNX graph, its
input and its cost are the backbone's.

Selection is on the **mean macro-F1 over sources**, cross-fitted on held-out subjects: the head is fitted with the
Taiwanese and muxspace subjects of one half (:func:`training.face_sources.folds`) and scored on the other half,
and back; FER2013's validation part is never fitted. The chosen setting is then refitted on every subject and
written as ``models/<out>.onnx`` with its sidecar only when it passes the gate (beats ``fer_cnn``'s mean, no source
more than 0.02 below ``fer_cnn``'s, ``test.npz`` accuracy at least 0.69, measured once for the finished model)::

    python -m training.face_head --backbones fer_cnn fer_distilled
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score

from emotion.labels import FACE_LABELS
from emotion.settings import fer2013_file, models_dir
from training.common import fer_split
from training.face_data import load_source
from training.face_sources import folds

GRID = (0.01, 0.1, 1.0)
"""Inverse regularisation strengths tried (on standardised features)."""
GATE = {"mean_over": "fer_cnn", "max_drop": 0.02, "test_accuracy": 0.69}


def head_node(model: Any) -> Any:  # noqa: ANN401 - an onnx.ModelProto
    """The graph's last Gemm: the head whose input is the pooled features."""
    gemms = [n for n in model.graph.node if n.op_type == "Gemm"]
    if not gemms:
        raise ValueError("the graph has no Gemm head")
    return gemms[-1]


def feature_session(path: Path) -> Any:  # noqa: ANN401 - an onnxruntime session
    """A session over the network that also outputs the head's input features (2N rows: faces, then mirrors)."""
    import onnx
    import onnxruntime as ort

    model = onnx.load(str(path))
    feats = head_node(model).input[0]
    model.graph.output.append(onnx.helper.make_tensor_value_info(feats, onnx.TensorProto.FLOAT, None))
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    return ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])


def features(session: Any, faces: np.ndarray, batch: int = 256) -> np.ndarray:  # noqa: ANN401
    """(N, 2, D) pooled features of 48x48 gray faces (uint8): each face and its mirror image."""
    out = []
    for i in range(0, len(faces), batch):
        x = faces[i : i + batch].astype(np.float32)[..., None] / 255.0
        f = session.run(None, {session.get_inputs()[0].name: x})[1]
        out.append(np.stack([f[: len(x)], f[len(x) :]], axis=1))
    return np.concatenate(out)


def weights(y: np.ndarray, source: np.ndarray, cap: float = 20.0) -> np.ndarray:
    """Each source sums to one; within it every present class weighs the same (a rare class at most ``cap``x)."""
    w = np.zeros(len(y))
    for s in np.unique(source):
        m = source == s
        counts = np.bincount(y[m], minlength=len(FACE_LABELS))
        present = (counts > 0).sum()
        cw = np.where(counts > 0, m.sum() / (present * np.maximum(counts, 1)), 0.0)
        cw = np.minimum(cw, cap)
        w[m] = cw[y[m]]
        w[m] /= w[m].sum()
    return w * len(np.unique(source))


class Head:
    """Standardise, then a multinomial logistic regression; folds back into the graph's Gemm weights."""

    def __init__(self, c: float) -> None:
        self.c = c

    def fit(self, x: np.ndarray, y: np.ndarray, w: np.ndarray) -> Head:
        """Fit on (N, 2, D) features (both views of a face get its label and half its weight)."""
        flat = x.reshape(-1, x.shape[-1])
        self.mu, self.sd = flat.mean(0), flat.std(0) + 1e-6
        self.lr = LogisticRegression(C=self.c, max_iter=1000)
        self.lr.fit((flat - self.mu) / self.sd, np.repeat(y, 2), sample_weight=np.repeat(w / 2, 2))
        return self

    def gemm(self) -> tuple[np.ndarray, np.ndarray]:
        """(7, D) weight and (7,) bias on raw features, in FACE_LABELS order."""
        coef = np.zeros((len(FACE_LABELS), len(self.mu)))
        bias = np.full(len(FACE_LABELS), -30.0)  # a class no source had never wins
        coef[self.lr.classes_] = self.lr.coef_ / self.sd
        bias[self.lr.classes_] = self.lr.intercept_ - (self.lr.coef_ / self.sd) @ self.mu
        return coef, bias

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """The mean of the two views' softmaxes, as the graph computes it."""
        coef, bias = self.gemm()
        z = x @ coef.T + bias
        z -= z.max(-1, keepdims=True)
        p = np.exp(z) / np.exp(z).sum(-1, keepdims=True)
        return p.mean(1)


def macro(y: np.ndarray, p: np.ndarray) -> float:
    """Macro-F1 over the classes present."""
    return float(f1_score(y, p.argmax(1), labels=np.unique(y), average="macro"))


def write_model(backbone: Path, head: Head, out: Path, meta: dict[str, Any]) -> None:
    """Copy ``backbone`` with the head's weights in its Gemm and write the sidecar with the sha256."""
    import onnx
    from onnx import numpy_helper

    from emotion.files import sha256

    model = onnx.load(str(backbone))
    node = head_node(model)
    coef, bias = head.gemm()
    names = {"weight": f"{out.stem}.head.weight", "bias": f"{out.stem}.head.bias"}
    model.graph.initializer.extend([numpy_helper.from_array(coef.astype(np.float32), names["weight"]),
                                    numpy_helper.from_array(bias.astype(np.float32), names["bias"])])
    old = set(node.input[1:3])
    node.input[1], node.input[2] = names["weight"], names["bias"]
    used = {i for n in model.graph.node for i in n.input}
    casts = [n for n in model.graph.node if n.op_type == "Cast" and n.output[0] in old and n.output[0] not in used]
    for n in casts:
        old |= set(n.input)
        model.graph.node.remove(n)
    used = {i for n in model.graph.node for i in n.input}
    for init in [i for i in model.graph.initializer if i.name in old and i.name not in used]:
        model.graph.initializer.remove(init)
    onnx.checker.check_model(model)
    onnx.save(model, str(out))
    meta = {**json.loads(backbone.with_suffix(".json").read_text()), **meta, "sha256": sha256(out)}
    meta.pop("calibration", None)  # fitted again for this model by training/face_sources.py
    out.with_suffix(".json").write_text(json.dumps(meta, indent=1) + "\n")


def write_card(study: dict[str, Any], out: str) -> Path:
    """Write ``models/<out>.md`` from the study: data, selection, held-out figures, gate, limits, licences."""
    chosen = study["chosen"]
    rows = study["backbones"][chosen["backbone"]][str(chosen["C"])]["macro_f1"]
    srcs = list(rows)
    test = chosen.get("test", {})
    grid = "\n".join(f"| {b} | {c} | " + " | ".join(f"{r['macro_f1'][s]:.3f}" for s in srcs) + f" | {r['mean']:.3f} |"
                     for b, per in study["backbones"].items() for c, r in per.items())
    text = f"""# Model card: `{out}.onnx`

`{chosen['backbone']}`'s network with a new last layer (`training/face_head.py`): a class-balanced multinomial
logistic regression on its frozen pooled features, fitted on a mix of sources. Only the head's weights differ from
`{chosen['backbone']}`; input, output, preprocessing and cost are the same (a 48x48 gray face in 0..1, NHWC; softmax
scores over angry, disgust, fear, happy, sad, surprise, neutral, averaged over the face and its mirror image inside
the graph). Research use.

## Data

- FER2013's training part (a stratified sample of {study['fer_sample']:,} faces; its validation part is held out).
- The Taiwan Corpora of Chinese Emotions posed portraits (`Taiwanese/faces_256x256` of the GitHub repository
  lai-wei-cheng/b12207073, an unofficial re-upload; academic use), every subject.
- muxspace/facial_expressions web and film photos (repository Apache-2.0; the images are LFW web photos and film
  stills: research use), every identity.

The portraits were cut by the app's own detector and crop code (`python -m training.face_data build`). Each source
weighs the same; within it every class weighs the same (a rare class at most 20x). None of this data is in the
repository.

## Selection and held-out figures

Macro-F1 per source, cross-fitted on held-out subjects: the head was fitted with the Taiwanese and muxspace subjects
of one half and scored on the other half, and back; FER2013's validation part was never fitted. Chosen on the mean:

| backbone | C | {' | '.join(srcs)} | mean |
| --- | --- | {' | '.join('---' for _ in srcs)} | --- |
{grid}

Chosen: `{chosen['backbone']}`, C = {chosen['C']}, mean {chosen['mean']:.3f} against `fer_cnn`'s
{chosen['fer_cnn_mean']:.3f}; per source, `fer_cnn` minus this model: {', '.join(f'{s} {v:+.3f}' for s, v in
chosen['drop_vs_fer_cnn'].items())} (the gate allows at most +0.02). The shipped head was then refitted on every
subject with that setting. FER2013 `test.npz`, measured once for the finished model: accuracy
{test.get('accuracy', float('nan')):.4f}, macro-F1 {test.get('macro_f1', float('nan')):.4f} (the gate asks 0.69).

## Limits

- The figures for the Taiwanese and muxspace sources in the table at the end of this card are on the subjects the
  shipped head was fitted on: only the cross-fitted figures above are held out.
- muxspace is mostly neutral and happy and has 21 fear faces; its macro-F1 is noisy for the rare classes.
- The selection grid was small (three strengths) and the best was its largest: a wider search may do better.

## Across sources

Written by `python -m training.face_sources` from `models/face_sources.json`; do not edit by hand.

<!-- face-sources:begin -->
<!-- face-sources:end -->
"""
    path = models_dir() / f"{out}.md"
    path.write_text(text)
    return path


def main() -> None:
    """Cross-fit, select on the mean over sources, refit, gate and (if it passes) ship."""
    from emotion.face.model import OnnxFaceModel

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbones", nargs="+", default=["fer_cnn", "fer_distilled"])
    parser.add_argument("--fer-sample", type=int, default=8000, help="FER2013 training faces in the mix")
    parser.add_argument("--out", default="fer_mix")
    parser.add_argument("--card-only", action="store_true", help="write the card from the study JSON and stop")
    parser.add_argument("--results", type=Path, default=None,
                        help="JSON of the study (default: models/<out>_study.json)")
    args = parser.parse_args()
    study_path = args.results or models_dir() / f"{args.out}_study.json"
    if args.card_only:
        print(write_card(json.loads(study_path.read_text()), args.out))
        return

    with np.load(fer2013_file()) as data:
        fer_x, fer_y = data["images"], data["labels"].astype(np.int64)
        order = np.array([FACE_LABELS.index(str(n)) for n in data["label_names"]])
    train_idx, _ = fer_split(fer_y)  # the file's own label codes, so the split is the one every script uses
    fer_y = order[fer_y]
    rng = np.random.default_rng(0)
    sample = np.sort(rng.choice(train_idx, min(args.fer_sample, len(train_idx)), replace=False))
    sources = {s: load_source(s) for s in ("fer2013_val", "taiwanese", "muxspace")}
    study: dict[str, Any] = {"grid": GRID, "fer_sample": len(sample), "backbones": {}}
    best: tuple[float, str, float] | None = None
    cache: dict[str, dict[str, np.ndarray]] = {}
    for name in args.backbones:
        model = OnnxFaceModel(name)
        session = feature_session(models_dir() / f"{name}.onnx")
        feats = {"fer_train": features(session, fer_x[sample])}
        for s, d in sources.items():
            crops = np.stack([model.crop(c, [int(v) for v in b]) for c, b in zip(d["ctx"], d["box"], strict=True)])
            feats[s] = features(session, crops)
        cache[name] = feats
        rows = {}
        for c in GRID:
            per = {s: np.zeros((len(d["y"]), len(FACE_LABELS))) for s, d in sources.items()}
            for k in (0, 1):
                x = [feats["fer_train"]]
                y = [fer_y[sample]]
                src = [np.zeros(len(sample), int)]
                for j, s in enumerate(("taiwanese", "muxspace"), start=1):
                    m = folds(sources[s]["groups"]) != k
                    x.append(feats[s][m])
                    y.append(sources[s]["y"][m].astype(int))
                    src.append(np.full(m.sum(), j))
                yy, ss = np.concatenate(y), np.concatenate(src)
                head = Head(c).fit(np.concatenate(x), yy, weights(yy, ss))
                for s in ("taiwanese", "muxspace"):
                    m = folds(sources[s]["groups"]) == k
                    per[s][m] = head.predict_proba(feats[s][m])
                per["fer2013_val"] += head.predict_proba(feats["fer2013_val"]) / 2  # never fitted: both halves' mean
            f1 = {s: round(macro(sources[s]["y"].astype(int), per[s]), 4) for s in sources}
            rows[str(c)] = {"macro_f1": f1, "mean": round(float(np.mean(list(f1.values()))), 4)}
            print(name, c, rows[str(c)], flush=True)
            if best is None or rows[str(c)]["mean"] > best[0]:
                best = (rows[str(c)]["mean"], name, c)
        study["backbones"][name] = rows
    assert best is not None
    baseline = json.loads((models_dir() / "face_sources.json").read_text())["models"]
    mean, name, c = best
    chosen = study["backbones"][name][str(c)]["macro_f1"]
    ref = baseline[GATE["mean_over"]]["box"]
    drops = {s: round(ref[s]["macro_f1"] - chosen[s], 4) for s in chosen}
    study["chosen"] = {"backbone": name, "C": c, "mean": mean, "drop_vs_fer_cnn": drops,
                       "fer_cnn_mean": baseline[GATE["mean_over"]]["mean_box"]}
    passes = mean > baseline[GATE["mean_over"]]["mean_box"] and max(drops.values()) <= GATE["max_drop"]
    if passes:  # refit on every subject, then test.npz once for the finished model
        feats = cache[name]
        x = np.concatenate([feats["fer_train"], feats["taiwanese"], feats["muxspace"]])
        yy = np.concatenate([fer_y[sample], *(sources[s]["y"].astype(int) for s in ("taiwanese", "muxspace"))])
        ss = np.concatenate([np.zeros(len(sample), int), np.full(len(sources["taiwanese"]["y"]), 1),
                             np.full(len(sources["muxspace"]["y"]), 2)])
        out = models_dir() / f"{args.out}.onnx"
        write_model(models_dir() / f"{name}.onnx", Head(c).fit(x, yy, weights(yy, ss)), out,
                    {"backbone": name, "head_C": c})
        from training.face_sources import test_accuracy

        study["chosen"]["test"] = test_accuracy(OnnxFaceModel(args.out))
        passes = study["chosen"]["test"]["accuracy"] >= GATE["test_accuracy"]
        if not passes:
            out.unlink()
            out.with_suffix(".json").unlink()
    study["chosen"]["passes_gate"] = passes
    study_path.write_text(json.dumps(study, indent=1) + "\n")
    if passes:
        write_card(study, args.out)
    print(json.dumps(study["chosen"], indent=1))


if __name__ == "__main__":
    main()
