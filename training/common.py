"""Helpers shared by the training scripts: the FER2013 hold-out split and the confusion-matrix figure."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from sklearn.model_selection import train_test_split

HOLDOUT_SEED = 42
"""Seed of the FER2013 hold-out (``random_state`` of the split), fixed before any model was trained."""


def fer_split(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Split FER2013's training faces into a training part and the fixed, stratified 10% hold-out.

    ``training/train_face.py`` never trains on the hold-out, and ``training/eval_face.py`` scores models on it.

    Args:
        labels: The class of every face in ``train.npz``.

    Returns:
        Indices of the training part and of the hold-out.
    """
    return train_test_split(np.arange(len(labels)), test_size=0.1, stratify=labels, random_state=HOLDOUT_SEED)


def plot_confusion(cm: np.ndarray, labels: Sequence[str], path: str | Path, title: str) -> Path:
    """Draw a confusion matrix as a PNG: each cell's share of its true class, with the count below it.

    Args:
        cm: Counts, rows the true classes and columns the predicted ones, in the order of ``labels``.
        labels: The class names.
        path: The PNG file to write.
        title: The figure's title.

    Returns:
        The path written.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    n = len(labels)
    norm = cm / cm.sum(axis=1, keepdims=True).clip(1)
    fig, ax = plt.subplots(figsize=(6.4, 5.6), dpi=110)
    im = ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(n), labels, rotation=45, ha="right")
    ax.set_yticks(range(n), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title, fontsize=10)
    for i in range(n):
        for j in range(n):
            color = "white" if norm[i, j] > 0.5 else "black"
            ax.text(j, i, f"{norm[i, j]:.2f}\n({cm[i, j]})", ha="center", va="center", fontsize=7, color=color)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="share of the true class")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path
