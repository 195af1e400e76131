"""Evaluate an ONNX face-emotion model on FER2013's test split or on the seeded validation hold-out.

``--split test`` (the default) scores every face of ``test.npz`` (beside ``train.npz``), which no shipped model
trained on: the figure model cards lead with. ``--split holdout`` scores the 10% of ``train.npz`` picked by
``train_test_split(test_size=0.1, stratify=labels, random_state=42)``, the part used for model selection only. The
model must take NHWC float32 (N, S, S, 1), with S read from its input shape, and return 7 scores in the FER2013
label order. From the repository root::

    .venv/bin/python -m training.eval_face --model models/fer_mini_xception.onnx
    .venv/bin/python -m training.eval_face --model models/fer_cnn.onnx --scale zero1

The data defaults to :func:`emotion.settings.fer2013_file` (``$EMOTION_FER2013``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort
from sklearn.metrics import accuracy_score, classification_report, f1_score

from emotion.settings import fer2013_file
from training.common import fer_split


def holdout(path: Path) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Load the seeded 10% stratified hold-out of the FER2013 training split (:func:`training.common.fer_split`).

    Args:
        path: ``train.npz`` with ``images`` (N, 48, 48) uint8, ``labels`` and ``label_names``.

    Returns:
        Hold-out images, their labels and the label names.
    """
    data = np.load(path)
    labels = data["labels"].astype(np.int64)
    _, idx = fer_split(labels)
    return data["images"][idx], labels[idx], [str(n) for n in data["label_names"]]


def test_split(path: Path) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Load FER2013's test split, ``test.npz`` beside the training file ``path``."""
    data = np.load(Path(path).with_name("test.npz"))
    return data["images"], data["labels"].astype(np.int64), [str(n) for n in data["label_names"]]


def preprocess(images: np.ndarray, size: int, scale: str) -> np.ndarray:
    """Resize grayscale faces to ``size`` and scale them for the model.

    Args:
        images: Grayscale uint8 faces (N, H, W).
        size: Side length the model expects.
        scale: ``minus1to1`` for (x/255 - 0.5) * 2, ``zero1`` for x/255.

    Returns:
        Float32 array (N, size, size, 1).
    """
    x = np.stack([cv2.resize(im, (size, size), interpolation=cv2.INTER_LINEAR) for im in images])
    x = x.astype(np.float32) / 255.0
    if scale == "minus1to1":
        x = (x - 0.5) * 2.0
    return x[..., None]


def main() -> None:
    """Print accuracy, macro-F1 and a per-class report for an ONNX model."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--data", type=Path, default=None, help="FER2013 train.npz (default: from the settings)")
    parser.add_argument("--scale", choices=("minus1to1", "zero1"), default="minus1to1")
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--split", choices=("test", "holdout"), default="test")
    args = parser.parse_args()

    session = ort.InferenceSession(str(args.model), providers=["CPUExecutionProvider"])
    inp = session.get_inputs()[0]
    size = int(inp.shape[1])
    images, labels, names = (test_split if args.split == "test" else holdout)(args.data or fer2013_file())
    x = preprocess(images, size, args.scale)
    scores = np.concatenate(
        [session.run(None, {inp.name: x[i : i + args.batch]})[0] for i in range(0, len(x), args.batch)]
    )
    pred = scores.argmax(axis=1)
    print(f"model {args.model} | input {inp.name} {inp.shape} | {args.split} n={len(labels)}")
    print(f"accuracy {accuracy_score(labels, pred):.4f}")
    print(f"macro-F1 {f1_score(labels, pred, average='macro'):.4f}")
    print(classification_report(labels, pred, target_names=names, digits=4))


if __name__ == "__main__":
    main()
