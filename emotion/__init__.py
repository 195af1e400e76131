"""Emotion analysis of faces and voices in media: all of the studio's logic lives here.

The main entry point is :func:`emotion.pipeline.analyze_file`, which returns one
:class:`emotion.record.Result` per file for every view and export to share.
"""

import os

os.environ.setdefault("DEEPFACE_BACKEND_ENGINE", "onnx")  # never let an installed TF or torch change deepface's engine

from emotion.labels import FACE_LABELS, VOICE_LABELS  # noqa: E402
from emotion.record import Result  # noqa: E402
from emotion.settings import Settings  # noqa: E402

__all__ = ["FACE_LABELS", "VOICE_LABELS", "Result", "Settings"]
