"""The one result record that every analysis path produces and every view and export reads.

A :class:`Result` is plain data: dataclasses that turn into JSON-ready dicts with
:meth:`Result.to_dict` and back with :meth:`Result.from_dict`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from emotion.labels import FACE_LABELS, voice_order

SCHEMA_VERSION = 4
"""2 added ``produced_by`` and ``sha256``; 3 added smoothed face scores, valence and arousal, and the voice's
calibrated confidence and ``uncertain`` flag; 4 added each face's calibrated ``confidence`` and ``uncertain`` flag.
Older records read with the new fields empty."""


@dataclass
class Quality:
    """Whether a sampled frame contributed faces, and why not if it did not.

    Attributes:
        ok: Whether at least one face passed the filters.
        reasons: Why not, when not ok.
        enhanced: Why the frame was contrast-enhanced before faces were searched ("dark frame (brightness 20 <
            40)"), or None when it was read as it was.
    """

    ok: bool = True
    reasons: list[str] = field(default_factory=list)
    enhanced: str | None = None


@dataclass
class Face:
    """One face found in one frame.

    Attributes:
        id: Track id, stable across frames for the same person.
        box: [x, y, w, h] in pixels of the original frame.
        emotion: The most probable label (of the smoothed scores when smoothing ran, else of the raw ones).
        scores: Label to probability for this frame alone, as the model gave it; sums to 1.
        smoothed: Label to probability after temporal smoothing over the face's track; None when not smoothed.
        valence: Pleasant (+1) to unpleasant (-1), from the probabilities in ``emotion.face.affect``.
        arousal: Calm (0) to activated (+1), from the same probabilities.
        confidence: The calibrated probability of ``emotion`` (the model's temperature applied to the smoothed, else
            raw, scores; see ``models/face_sources.md``); None for records made before calibration.
        uncertain: True when ``confidence`` is below the threshold the analysis ran with (``face_confidence``). A
            flag beside the label, never a replacement: summaries count only confident faces.
    """

    id: int
    box: list[int]
    emotion: str
    scores: dict[str, float]
    smoothed: dict[str, float] | None = None
    valence: float | None = None
    arousal: float | None = None
    confidence: float | None = None
    uncertain: bool = False


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
    """One window of the voice timeline; ``emotion`` is None where there is no speech.

    Attributes:
        emotion: The top label, always kept, however unsure.
        scores: Label to (calibrated) probability.
        speech: Whether the window holds speech.
        confidence: The calibrated probability of ``emotion``; None for records made before calibration.
        uncertain: True when ``confidence`` is below the threshold the analysis ran with. A flag beside the label,
            never a replacement: views and the disagreement band skip uncertain windows; tools may re-threshold.
        arousal: Calm (0) to activated (+1), None where not estimated.
        valence: Unpleasant (-1) to pleasant (+1), None where not estimated.
    """

    start: float
    end: float
    emotion: str | None
    scores: dict[str, float]
    speech: bool = True
    confidence: float | None = None
    uncertain: bool = False
    arousal: float | None = None
    valence: float | None = None


@dataclass
class AudioResult:
    """The voice path's output for one file."""

    segments: list[Segment] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)
    note: str | None = None
    model_version: str | None = None
    """The voice model version that read the speech ("base" for the shipped one); None when none was needed."""


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
        produced_by: What made the record: ``project`` version, ``face_model`` and ``face_model_version``
            ("base" or the learned version), ``detector``, ``voice_model`` and ``voice_model_version``.
        sha256: The analysed file's content hash (re-analyses of one file share it).
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
    produced_by: dict[str, Any] = field(default_factory=dict)
    sha256: str | None = None
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
                    model_version=audio.get("model_version"),
                )
            known = {
                k: data[k]
                for k in ("error", "duration", "width", "height", "fps", "summary", "settings", "notes", "produced_by",
                          "sha256")
                if k in data
            }
            return cls(file=str(data["file"]), kind=str(data["kind"]), frames=frames, audio=audio, **known)
        except (TypeError, KeyError, AttributeError) as exc:
            raise ValueError(f"malformed result record: {exc}") from exc


# ----------------------------------------------------------------------------------------------------------------
# Summaries


def rounded(labels: Iterable[str], values: Iterable[float], digits: int = 4) -> dict[str, float]:
    """Label -> value, rounded the way every record stores scores."""
    return {label: round(float(v), digits) for label, v in zip(labels, values)}


def face_summary(frames: list[Frame]) -> dict[str, Any]:
    """Summarise the accepted faces: dominant emotion, its confidence and the shares.

    Only confident faces (``uncertain`` False) vote: the dominant emotion is the label with the highest mean
    probability over them, and ``emotion_shares`` counts their top labels. ``uncertain_share`` is the share of
    accepted faces under the confidence threshold; when every face is uncertain there is no dominant label and
    ``message`` says why. ``faces`` counts every accepted face.
    """
    every = [f for fr in frames for f in fr.faces]
    faces = [f for f in every if not f.uncertain]
    summary: dict[str, Any] = {
        "frames": len(frames),
        "frames_ok": sum(fr.quality.ok for fr in frames),
        "faces": len(every),
        "face_ids": sorted({f.id for f in every}),
        "uncertain_share": round(1.0 - len(faces) / len(every), 4) if every else 0.0,
        "dominant_emotion": None,
        "confidence": 0.0,
        "emotion_shares": {label: 0.0 for label in FACE_LABELS},
        "mean_scores": {label: 0.0 for label in FACE_LABELS},
    }
    if every and not faces:
        summary["message"] = "the face is uncertain in every reading"
    if faces:
        mean = np.mean([[f.scores[label] for label in FACE_LABELS] for f in faces], axis=0)
        top = [f.emotion for f in faces]
        summary["dominant_emotion"] = FACE_LABELS[int(np.argmax(mean))]
        summary["confidence"] = round(float(mean.max()), 4)
        summary["mean_scores"] = rounded(FACE_LABELS, mean)
        summary["emotion_shares"] = {label: round(top.count(label) / len(top), 4) for label in FACE_LABELS}
    return summary


def voice_summary(segments: list[Segment], speech_seconds: float = 0.0) -> dict[str, Any]:
    """Return the summary of a voice timeline.

    Only confident speech windows (``uncertain`` False) vote: ``emotion_shares`` is each label's share of them,
    ``dominant_emotion`` the largest share (ties go to the higher mean score) and ``confidence`` its mean score over
    them. ``uncertain_share`` is the share of speech windows whose confidence was under the threshold; when every
    window is uncertain there is no dominant label. ``arousal`` and ``valence`` are means over the speech windows
    that carry them (None where none do).
    """
    speech = [s for s in segments if s.speech and s.emotion]
    sure = [s for s in speech if not s.uncertain]
    summary: dict[str, Any] = {
        "dominant_emotion": None,
        "confidence": 0.0,
        "emotion_shares": {},
        "speech_seconds": speech_seconds,
        "n_segments": len(segments),
        "n_speech_segments": len(speech),
        "uncertain_share": round(1.0 - len(sure) / len(speech), 4) if speech else 0.0,
    }
    for key in ("arousal", "valence"):
        values = [getattr(s, key) for s in speech if getattr(s, key) is not None]
        summary[key] = round(float(np.mean(values)), 4) if values else None
    if not speech:
        summary["message"] = "no speech"
        return summary
    if not sure:
        summary["message"] = "the voice is uncertain in every speech window"
        return summary
    labels = sorted({lab for s in sure for lab in s.scores} | {s.emotion for s in sure if s.emotion}, key=voice_order)
    shares = {lab: sum(s.emotion == lab for s in sure) / len(sure) for lab in labels}
    mean = {lab: float(np.mean([s.scores.get(lab, 0.0) for s in sure])) for lab in labels}
    top = max(labels, key=lambda lab: (shares[lab], mean[lab]))
    summary.update(
        dominant_emotion=top,
        confidence=round(mean[top], 4),
        emotion_shares={lab: round(v, 4) for lab, v in shares.items()},
    )
    return summary
