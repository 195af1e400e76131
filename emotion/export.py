"""Exports of result records: JSON and CSV (one row per face and per voice segment)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable

from emotion.labels import FACE_LABELS, VOICE_LABELS
from emotion.record import Result

CSV_COLUMNS = (
    [
        "file",
        "kind",
        "modality",
        "t",
        "end",
        "frame",
        "face_id",
        "x",
        "y",
        "w",
        "h",
        "emotion",
        "confidence",
        "quality_ok",
        "reasons",
    ]
    + [f"face_{label}" for label in FACE_LABELS]
    + [f"voice_{label}" for label in VOICE_LABELS]
    + ["error"]
)


def to_json(results: Iterable[Result], indent: int | None = 2) -> str:
    """Return the records as a JSON list."""
    return json.dumps([r.to_dict() for r in results], indent=indent, ensure_ascii=False)


def csv_rows(result: Result) -> list[dict]:
    """Return one CSV row per face, per dropped frame, and per voice segment of a record."""
    base = {"file": result.file, "kind": result.kind}
    if result.error:
        return [{**base, "error": result.error}]
    rows = []
    for fr in result.frames:
        frame = {
            **base,
            "modality": "face",
            "t": fr.t,
            "frame": fr.index,
            "quality_ok": fr.quality.ok,
            "reasons": "; ".join(fr.quality.reasons),
        }
        if not fr.faces:
            rows.append(frame)
        for face in fr.faces:
            x, y, w, h = face.box
            rows.append(
                {
                    **frame,
                    "face_id": face.id,
                    "x": x,
                    "y": y,
                    "w": w,
                    "h": h,
                    "emotion": face.emotion,
                    "confidence": face.scores[face.emotion],
                }
                | {f"face_{k}": v for k, v in face.scores.items()}
            )
    for seg in result.audio.segments if result.audio else []:
        rows.append(
            {
                **base,
                "modality": "voice",
                "t": seg.start,
                "end": seg.end,
                "emotion": seg.emotion or "",
                "quality_ok": seg.speech,
            }
            | {
                "confidence": seg.scores.get(seg.emotion, "") if seg.emotion else "",
                "reasons": "" if seg.speech else "no speech",
            }
            | {f"voice_{k}": v for k, v in seg.scores.items()}
        )
    return rows


def to_csv(results: Iterable[Result]) -> str:
    """Return the records as CSV text with the columns in :data:`CSV_COLUMNS`."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_COLUMNS, extrasaction="ignore")
    writer.writeheader()
    for result in results:
        writer.writerows(csv_rows(result))
    return buf.getvalue()


def write_atomic(path: str, text: str) -> None:
    """Write text to ``path`` through a temporary file and a rename, so no half-written file is left."""
    import os
    import tempfile

    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=os.path.basename(path))
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
