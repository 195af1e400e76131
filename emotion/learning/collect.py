"""Collecting for learning: the faces and voice segments of one analysis, as learning-store items.

:class:`Collector` gathers each face (a small JPEG crop and the base model's probabilities, which the face adapter
reads) and each voice segment (a 16 kHz WAV and the OpenSMILE features the voice model read). The batch flow
(:mod:`emotion.analysis.batch`) files them under the analysis's History entry, so forgetting the analysis
forgets them.
"""

from __future__ import annotations

import io
import threading

import cv2
import numpy as np

from emotion.face.protocols import FaceModel
from emotion.labels import FACE_LABELS
from emotion.record import Segment
from emotion.storage.learning_store import Item, LearningStore

CROP_SIDE = 112
"""Longest side of a kept face crop, in pixels."""



class Collector:
    """Gathers the faces and voice segments of one analysis as store items (thread-safe).

    Args:
        file: The analysed file's display name.
        base_face: The shipped face model, whose probabilities are the adapter's features; when the serving
            model is adapted, the crops are scored by it again.
        limit: Most items kept per modality from one file (the first ones), so a long video cannot flood the store.
    """

    def __init__(self, file: str, base_face: FaceModel | None = None, limit: int = 500) -> None:
        self.file, self.base_face, self.limit = file, base_face, limit
        self.items: list[Item] = []
        self.skipped = {"face": 0, "voice": 0}
        self._lock = threading.Lock()

    def _room(self, modality: str) -> bool:
        """Whether another item of ``modality`` may be kept (at most ``limit`` per file and modality)."""
        with self._lock:
            if sum(it.modality == modality for it in self.items) < self.limit:
                return True
            self.skipped[modality] += 1
            return False

    def face(self, image: np.ndarray, box: list[int], crop: np.ndarray, probs: np.ndarray, t: float, face_id: int):
        """Keep one face: a small JPEG of it and the base model's probabilities of its crop."""
        if not self._room("face"):
            return
        x, y, w, h = box
        pad = int(0.2 * max(w, h))
        region = image[max(0, y - pad) : y + h + pad, max(0, x - pad) : x + w + pad]
        scale = CROP_SIDE / max(region.shape[:2])
        if scale < 1:
            region = cv2.resize(region, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        ok, jpeg = cv2.imencode(".jpg", region, [cv2.IMWRITE_JPEG_QUALITY, 85])
        base = self.base_face.predict_proba([crop])[0] if self.base_face is not None else probs
        scores = {label: float(p) for label, p in zip(FACE_LABELS, probs)}
        item = Item("", "face", max(scores, key=scores.__getitem__), scores, np.asarray(base, np.float32),
                    jpeg.tobytes() if ok else None, t, t, face_id, self.file)
        with self._lock:
            self.items.append(item)

    def voice(self, samples: np.ndarray, segment: Segment, features: np.ndarray) -> None:
        """Keep one voice segment: a 16 kHz WAV of it and its features."""
        import soundfile as sf

        if not self._room("voice"):
            return
        buf = io.BytesIO()
        sf.write(buf, np.clip(samples, -1, 1), 16000, format="WAV", subtype="PCM_16")
        item = Item("", "voice", segment.emotion or "", dict(segment.scores), features, buf.getvalue(),
                    segment.start, segment.end, None, self.file)
        with self._lock:
            self.items.append(item)

    def save(self, store: LearningStore, source: str, content: str | None = None) -> int:
        """Add the gathered items to the store under ``source`` (e.g. ``history:12``). Returns how many.

        Args:
            store: The learning store.
            source: What the items belong to; deleting it deletes them.
            content: The analysed file's sha256, recorded on every item.
        """
        with self._lock:
            items, self.items = self.items, []
        for item in items:
            item.source, item.content = source, content
        return len(store.add(items)) if items else 0
