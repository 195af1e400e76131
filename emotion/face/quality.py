"""Quality filters: each returns a reason a user can read, or None when the input passes."""

from __future__ import annotations

import cv2
import numpy as np

from emotion.settings import Settings

BLUR_SIDE = 96
"""Face crops are resized to this side before measuring sharpness, so the threshold does not depend on face size."""


def brightness_reason(gray: np.ndarray, settings: Settings) -> str | None:
    """Return why a frame is too dark or too bright, or None."""
    mean = float(gray.mean())
    if mean < settings.min_brightness:
        return f"too dark (brightness {mean:.0f} < {settings.min_brightness:.0f})"
    if mean > settings.max_brightness:
        return f"too bright (brightness {mean:.0f} > {settings.max_brightness:.0f})"
    return None


def sharpness(gray_face: np.ndarray) -> float:
    """Variance of the Laplacian of a face crop at a fixed size; lower is blurrier."""
    face = cv2.resize(gray_face, (BLUR_SIDE, BLUR_SIDE), interpolation=cv2.INTER_AREA)
    return float(cv2.Laplacian(face, cv2.CV_64F).var())


def face_reason(gray: np.ndarray, box: list[int], settings: Settings) -> str | None:
    """Return why a detected face is rejected (too small or blurred), or None."""
    x, y, w, h = box
    if min(w, h) < settings.min_face:
        return f"face too small ({min(w, h)} px < {settings.min_face} px)"
    crop = gray[max(0, y) : y + h, max(0, x) : x + w]
    if crop.size == 0:
        return "face outside the frame"
    sharp = sharpness(crop)
    if sharp < settings.min_blur:
        return f"face blurred (sharpness {sharp:.0f} < {settings.min_blur:.0f})"
    return None
