"""The voice's calibrated confidence: uncertain windows keep their label but never vote, shade or hide in the CSV."""

from __future__ import annotations

from emotion.labels import FACE_LABELS
from emotion.record import AudioResult, Face, Frame, Result, Segment, voice_summary
from emotion.report.export import CSV_COLUMNS, csv_rows
from emotion.report.views import disagreements, timeline_figure
from emotion.settings import Settings, describe


def face(label: str) -> Face:
    scores = {k: (0.88 if k == label else 0.02) for k in FACE_LABELS}
    return Face(id=1, box=[10, 10, 50, 50], emotion=label, scores=scores)


def seg(start: float, label: str, conf: float, threshold: float = 0.4) -> Segment:
    scores = {label: conf, "neutral": 1.0 - conf} if label != "neutral" else {"neutral": conf, "sad": 1.0 - conf}
    return Segment(
        start, start + 3.0, label, scores, True, confidence=conf, uncertain=conf < threshold, arousal=0.8, valence=-0.5
    )


def happy_video(segments: list[Segment]) -> Result:
    """A 12 s video whose only face is happy throughout, with the given voice windows."""
    frames = [Frame(index=i, t=float(t), faces=[face("happy")]) for i, t in enumerate(range(0, 12))]
    audio = AudioResult(segments, voice_summary(segments, speech_seconds=9.0))
    return Result(file="clip.mp4", kind="video", duration=12.0, frames=frames, audio=audio)


def test_an_uncertain_window_never_shades_the_disagreement_band():
    sure_sad, unsure_angry, sure_happy = seg(0.0, "sad", 0.7), seg(3.0, "angry", 0.3), seg(6.0, "happy", 0.8)
    result = happy_video([sure_sad, unsure_angry, sure_happy])
    clash = disagreements(result)
    assert list(zip(clash.start, clash.end)) == [(0.0, 3.0)]  # the confident sad window only
    shapes = timeline_figure(result).to_dict()["layout"].get("shapes", [])
    spans = [(s["x0"], s["x1"]) for s in shapes]
    assert set(spans) == {(0.0, 3.0)}  # one shape per row, over the confident sad window only
    assert not any(x0 < 6.0 and x1 > 3.0 for x0, x1 in spans)  # nothing over the uncertain window
    # the same window, confident, does shade: the flag is what keeps it out
    assert (3.0, 6.0) in set(zip(*disagreements(happy_video([seg(3.0, "angry", 0.7)]))[["start", "end"]].T.values))


def test_the_summary_votes_with_confident_windows_and_reports_the_uncertain_share():
    segments = [
        seg(0.0, "angry", 0.3),
        seg(1.5, "angry", 0.35),
        seg(3.0, "sad", 0.6),
        Segment(4.5, 7.5, None, {}, False),
    ]
    summary = voice_summary(segments)
    assert summary["dominant_emotion"] == "sad"  # two uncertain angry windows do not outvote one confident sad one
    assert summary["uncertain_share"] == round(2 / 3, 4)
    assert summary["emotion_shares"]["sad"] == 1.0 and "angry" not in summary["emotion_shares"]
    assert summary["arousal"] == 0.8 and summary["valence"] == -0.5
    assert [s.emotion for s in segments[:2]] == ["angry", "angry"]  # the label is kept beside the flag
    none = voice_summary(segments[:2])
    assert none["dominant_emotion"] is None and none["uncertain_share"] == 1.0 and "uncertain" in none["message"]


def test_csv_rows_carry_confidence_uncertain_arousal_and_valence():
    result = happy_video([seg(0.0, "sad", 0.7), seg(3.0, "angry", 0.3)])
    assert {"voice_uncertain", "voice_arousal", "voice_valence"} <= set(CSV_COLUMNS)
    voice = [r for r in csv_rows(result) if r["modality"] == "voice"]
    assert [(r["emotion"], r["confidence"], r["voice_uncertain"]) for r in voice] == [
        ("sad", 0.7, False),
        ("angry", 0.3, True),
    ]
    assert all(r["voice_arousal"] == 0.8 and r["voice_valence"] == -0.5 for r in voice)


def test_the_threshold_is_a_setting_with_bounds():
    info = next(f for f in describe() if f.name == "voice_confidence")
    assert info.lo == 0.0 and info.hi == 1.0 and info.group == "Model" and info.help
    assert 0.0 < Settings().voice_confidence < 1.0
