"""The one result record that every analysis path produces and every view and export reads.

A :class:`Result` is plain data: dataclasses that turn into JSON-ready dicts with
:meth:`Result.to_dict` and back with :meth:`Result.from_dict`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

SCHEMA_VERSION = 1


@dataclass
class Quality:
    """Whether a sampled frame contributed faces, and why not if it did not."""

    ok: bool = True
    reasons: list[str] = field(default_factory=list)


@dataclass
class Face:
    """One face found in one frame.

    Attributes:
        id: Track id, stable across frames for the same person.
        box: [x, y, w, h] in pixels of the original frame.
        emotion: The most probable label.
        scores: Label to probability; sums to 1.
    """

    id: int
    box: list[int]
    emotion: str
    scores: dict[str, float]


@dataclass
class DroppedFace:
    """A detected face that failed a quality filter."""

    box: list[int]
    reason: str


@dataclass
class Frame:
    """One sampled frame of a video (or the single frame of an image)."""

    index: int
    t: float
    quality: Quality = field(default_factory=Quality)
    faces: list[Face] = field(default_factory=list)
    dropped_faces: list[DroppedFace] = field(default_factory=list)


@dataclass
class Segment:
    """One window of the voice timeline; ``emotion`` is None where there is no speech."""

    start: float
    end: float
    emotion: str | None
    scores: dict[str, float]
    speech: bool = True


@dataclass
class AudioResult:
    """The voice path's output for one file."""

    segments: list[Segment] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)
    note: str | None = None


@dataclass
class Result:
    """Everything known about one analysed file.

    Attributes:
        file: The file's display name (never used as a path).
        kind: "image", "video", "audio" or "unknown".
        error: None, or a one-line message saying why the file could not be analysed.
        duration: Seconds of media (0 for images).
        width: Frame width in pixels (0 when there is no picture).
        height: Frame height in pixels.
        fps: Native frame rate of a video (0 otherwise).
        frames: Sampled frames in time order.
        summary: ``dominant_emotion``, ``confidence``, ``emotion_shares`` and counts.
        audio: The voice result, or None when the voice was not analysed.
        settings: The settings the analysis ran with.
        notes: Human-readable notes (limits applied, fallbacks taken).
    """

    file: str
    kind: str
    error: str | None = None
    duration: float = 0.0
    width: int = 0
    height: int = 0
    fps: float = 0.0
    frames: list[Frame] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)
    audio: AudioResult | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    schema: int = SCHEMA_VERSION

    def to_dict(self) -> dict[str, Any]:
        """Return the record as JSON-ready plain data."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Result:
        """Rebuild a record from :meth:`to_dict` output.

        Raises:
            ValueError: If the data is not a result record.
        """
        if not isinstance(data, dict) or "file" not in data or "kind" not in data:
            raise ValueError("not an emotion result record (needs 'file' and 'kind')")
        try:
            frames = [
                Frame(
                    index=int(f["index"]),
                    t=float(f["t"]),
                    quality=Quality(**f.get("quality", {})),
                    faces=[Face(**x) for x in f.get("faces", [])],
                    dropped_faces=[DroppedFace(**x) for x in f.get("dropped_faces", [])],
                )
                for f in data.get("frames", [])
            ]
            audio = data.get("audio")
            if audio is not None:
                audio = AudioResult(
                    segments=[Segment(**s) for s in audio.get("segments", [])],
                    summary=dict(audio.get("summary", {})),
                    note=audio.get("note"),
                )
            known = {
                k: data[k]
                for k in ("error", "duration", "width", "height", "fps", "summary", "settings", "notes")
                if k in data
            }
            return cls(file=str(data["file"]), kind=str(data["kind"]), frames=frames, audio=audio, **known)
        except (TypeError, KeyError, AttributeError) as exc:
            raise ValueError(f"malformed result record: {exc}") from exc
