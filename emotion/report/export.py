"""Exports of result records: JSON and CSV (one row per face and per voice segment).

CSV text cells that a spreadsheet would run as a formula (starting with ``=``, ``+``, ``-``, ``@``, a tab or a
carriage return, as a file named ``=HYPERLINK(...).jpg`` would) get a leading ``'``, as OWASP recommends.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path

from emotion.files import write_text
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
    + [f"face_smoothed_{label}" for label in FACE_LABELS]
    + ["face_uncertain", "face_valence", "face_arousal", "enhanced"]
    + [f"voice_{label}" for label in VOICE_LABELS]
    + ["voice_uncertain", "voice_arousal", "voice_valence"]
    + ["error"]
)


def to_json(results: Iterable[Result], indent: int | None = 2) -> str:
    """Return the records as a JSON list."""
    return json.dumps([r.to_dict() for r in results], indent=indent, ensure_ascii=False)


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\n", "＝", "＋", "－", "＠")
"""First characters (after any spaces) that make a spreadsheet read a cell as a formula (full-width forms too)."""


def cell(value: object) -> object:
    """A CSV cell that no spreadsheet runs as a formula: text starting like one gets a leading ``'`` (OWASP)."""
    if isinstance(value, str) and value.lstrip(" ").startswith(FORMULA_STARTS):
        return "'" + value
    return value


def csv_rows(result: Result) -> list[dict]:
    """Return one CSV row per face, per dropped frame, and per voice segment of a record (cells made safe)."""
    return [{k: cell(v) for k, v in row.items()} for row in _rows(result)]


def _rows(result: Result) -> list[dict]:
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
                    "confidence": face.confidence if face.confidence is not None
                    else (face.smoothed or face.scores)[face.emotion],
                    "face_uncertain": face.uncertain if face.confidence is not None else "",
                    "face_valence": "" if face.valence is None else face.valence,
                    "face_arousal": "" if face.arousal is None else face.arousal,
                    "enhanced": fr.quality.enhanced or "",
                }
                | {f"face_{k}": v for k, v in face.scores.items()}
                | {f"face_smoothed_{k}": v for k, v in (face.smoothed or {}).items()}
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
                "confidence": (seg.confidence if seg.confidence is not None else seg.scores.get(seg.emotion, ""))
                if seg.emotion
                else "",
                "reasons": "" if seg.speech else "no speech",
                "voice_uncertain": seg.uncertain if seg.emotion else "",
                "voice_arousal": "" if seg.arousal is None else seg.arousal,
                "voice_valence": "" if seg.valence is None else seg.valence,
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


def export_stem(prefix: str, file: str) -> str:
    """Return a safe file-name stem: the prefix and the display name, letters, digits, '-' and '_' only."""
    stem = re.sub(r"[^A-Za-z0-9_-]+", "_", Path(file).stem).strip("_") or "result"
    prefix = re.sub(r"[^A-Za-z0-9_-]+", "_", prefix or "")
    return (prefix + stem)[:100]


def export_files(result: Result, folder: Path, prefix: str) -> list[Path]:
    """Write a result's JSON and CSV into ``folder`` atomically, named by prefix, file and time; return the paths."""
    stem = f"{export_stem(prefix, result.file)}-{datetime.now():%Y%m%d-%H%M%S}"
    paths = [folder / f"{stem}.json", folder / f"{stem}.csv"]
    write_text(paths[0], to_json([result]))
    write_text(paths[1], to_csv([result]))
    return paths
