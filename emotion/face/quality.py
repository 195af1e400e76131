"""Quality filters and light correction.

Faces are judged one by one: size, brightness and sharpness are measured on each face's own box, so a lit face on a
dark stage is kept. A frame that is too dark or too bright as a whole is contrast-enhanced (:func:`enhance`) before
faces are searched and read, and it is dropped only when no face can be found in it even then. Every reason says
which setting would have kept the face.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from emotion.settings import describe

BLUR_SIDE = 96
"""Face crops are resized to this side before measuring sharpness, so the threshold does not depend on face size."""
DARK_GAMMA = 0.6
"""Gamma applied to the luminance of a dark frame before CLAHE (below 1 lifts the shadows)."""


@dataclass(frozen=True)
class Limits:
    """The thresholds a face (and a frame's light) is judged by: the few settings this module needs."""

    min_face: int
    """Smallest face side, in pixels of the original frame."""
    min_brightness: float
    max_brightness: float
    min_blur: float
    """Lowest sharpness (:func:`sharpness`) kept."""

    @classmethod
    def of(cls, settings: Any) -> Limits:
        """The limits held by settings (any object with these four attributes, e.g. ``emotion.settings.Settings``)."""
        return cls(int(settings.min_face), float(settings.min_brightness), float(settings.max_brightness),
                   float(settings.min_blur))  # fmt: skip


def hint(name: str, value: float, lower: bool = True) -> str:
    """Say which control keeps an item: "set Smallest face (px) (--min-face) to 31 or less to keep it"."""
    info = next(i for i in describe() if i.name == name)
    bound = math.floor(value) if lower else math.ceil(value)
    return f"set {info.control} (--{info.flag}) to {bound} or {'less' if lower else 'more'} to keep it"


def frame_light(gray: np.ndarray, limits: Limits) -> str | None:
    """Say why a whole frame is too dark or too bright to search as it is ("dark frame (brightness 20 < 40)")."""
    mean = float(gray.mean())
    if mean < limits.min_brightness:
        return f"dark frame (brightness {mean:.0f} < {limits.min_brightness:.0f})"
    if mean > limits.max_brightness:
        return f"bright frame (brightness {mean:.0f} > {limits.max_brightness:.0f})"
    return None


def enhance(image: np.ndarray, dark: bool) -> np.ndarray:
    """Even out a badly lit BGR frame: a gamma lift of the luminance when ``dark``, then CLAHE on it.

    Only the L channel of Lab changes, so colours keep their hue. Returns a new frame.
    """
    lab = cv2.cvtColor(image, cv2.COLOR_BGR2LAB)
    light = lab[..., 0]
    if dark:
        table = (255 * (np.arange(256) / 255) ** DARK_GAMMA).astype(np.uint8)
        light = cv2.LUT(light, table)
    lab[..., 0] = cv2.createCLAHE(clipLimit=2.0, tileGridSize=(8, 8)).apply(light)
    return cv2.cvtColor(lab, cv2.COLOR_LAB2BGR)


def sharpness(gray_face: np.ndarray) -> float:
    """Variance of the Laplacian of a face crop at a fixed size; lower is blurrier."""
    face = cv2.resize(gray_face, (BLUR_SIDE, BLUR_SIDE), interpolation=cv2.INTER_AREA)
    return float(cv2.Laplacian(face, cv2.CV_64F).var())


def face_reason(gray: np.ndarray, box: list[int], limits: Limits, scale: float = 1.0) -> str | None:
    """Return why a detected face is rejected (too small, too dark or bright, blurred), or None.

    Args:
        gray: The grayscale frame the face was found in (the enhanced one, when the frame was enhanced).
        box: The face's [x, y, w, h] in ``gray``.
        limits: The thresholds.
        scale: ``gray``'s size over the original frame's (below 1 for a shrunk frame); face sizes are judged and
            reported in the original frame's pixels.
    """
    x, y, w, h = box
    side = round(min(w, h) / scale)
    if side < limits.min_face:
        return f"face too small ({side} px < {limits.min_face} px; {hint('min_face', side)})"
    crop = gray[max(0, y) : y + h, max(0, x) : x + w]
    if crop.size == 0:
        return "face outside the frame"
    mean = float(crop.mean())
    if mean < limits.min_brightness:
        return f"face too dark (brightness {mean:.0f} < {limits.min_brightness:.0f}; {hint('min_brightness', mean)})"
    if mean > limits.max_brightness:
        return (
            f"face too bright (brightness {mean:.0f} > {limits.max_brightness:.0f}; "
            f"{hint('max_brightness', mean, lower=False)})"
        )
    sharp = sharpness(crop)
    if sharp < limits.min_blur:
        return f"face blurred (sharpness {sharp:.0f} < {limits.min_blur:.0f}; {hint('min_blur', sharp)})"
    return None
