"""The two helpers every face network shares: an onnxruntime session and a square crop around a box.

They live apart from :mod:`emotion.face.model` so that the detector (:mod:`emotion.face.blazeface`) and the eye
alignment (:mod:`emotion.face.align`), which the face model uses, need not import the face model.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np


def onnx_session(path: Path, threads: int = 1):  # noqa: ANN201 - onnxruntime is imported lazily
    """An onnxruntime CPU session over ``path`` with ``threads`` intra-op threads and one inter-op thread."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def square_crop(image: np.ndarray, box: list[int], margin: float) -> np.ndarray:
    """Cut a square around ``box`` grown by ``margin`` of its side, padding past the edges.

    Args:
        image: BGR or gray image.
        box: [x, y, w, h].
        margin: Fraction of the box side added on every side.
    """
    x, y, w, h = box
    side = max(w, h) * (1 + 2 * margin)
    cx, cy = x + w / 2, y + h / 2
    x0, y0 = round(cx - side / 2), round(cy - side / 2)
    x1, y1 = x0 + round(side), y0 + round(side)
    pad = max(0, -x0, -y0, x1 - image.shape[1], y1 - image.shape[0])
    if pad:
        image = cv2.copyMakeBorder(image, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
    return image[y0 + pad : y1 + pad, x0 + pad : x1 + pad]
