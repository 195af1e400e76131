"""Segments, markers and comparisons on records built here: the arc of a file, span statistics, the CSVs."""

from __future__ import annotations

import pytest

from emotion.face.smooth import smooth_faces
from emotion.labels import FACE_LABELS
from emotion.record import AudioResult, Face, Frame, Result, Segment, face_summary
from emotion.report import compare, markers, segments


def probs(top: str, p: float = 0.7) -> dict[str, float]:
    rest = (1 - p) / (len(FACE_LABELS) - 1)
    return {k: (p if k == top else rest) for k in FACE_LABELS}


def arc_result(name: str = "cry_then_laugh.mp4", second_face: bool = False, speech: bool = False) -> Result:
    """A woman sad for 0-6 s (one odd happy sample at 3 s), afraid 7-9 s, happy 10-18 s, sampled every 0.5 s."""
    frames = []
    for k in range(37):
        t = k * 0.5
        top = "sad" if t <= 6 else "fear" if t <= 9 else "happy"
        if t == 3.0:
            top = "happy"
        faces = [Face(1, [10, 10, 80, 80], top, probs(top))]
        if second_face:
            faces.append(Face(2, [200, 10, 80, 80], "neutral", probs("neutral")))
        frames.append(Frame(k, t, faces=faces))
    smooth_faces(frames, 0.25)
    audio = None
    if speech:
        audio = AudioResult(segments=[Segment(10.0, 13.0, "happy", {"happy": 0.9, "sad": 0.1}, confidence=0.9)])
    return Result(file=name, kind="video", duration=18.5, width=320, height=240, frames=frames,
                  summary=face_summary(frames), audio=audio)


def test_segments_follow_the_arc_and_fold_an_odd_sample():
    spans = segments.result_segments(arc_result())
    assert segments.arc(spans) == "sad → fear → happy"
    assert segments.arc_text(spans) == "sad 0–6 s, fear 6.5–9 s, happy 9.5–18 s"
    sad, fear, happy = spans
    assert sad.valence < 0 < happy.valence
    assert fear.arousal > sad.arousal


def test_headline_keeps_engagement_beside_positivity():
    head = segments.headline(arc_result())
    assert head["arc"] == "sad → fear → happy"
    assert head["positivity"] is not None and head["engagement"] is not None
    assert -1 <= head["positivity"] <= 1 and 1 <= head["engagement"] <= 5


def test_speaker_rule_and_fused_lane():
    one = arc_result(speech=True)
    assert segments.speaker(one) == (1, "the only face")
    assert segments.speaker(arc_result()) == (None, "no speech")
    two = arc_result(second_face=True, speech=True)
    assert segments.speaker(two)[0] is None
    assert segments.speaker(two, {1: 6.0, 2: 1.0}) == (1, "the face whose mouth moves most")
    assert segments.speaker(two, {1: 2.0, 2: 1.8})[0] is None  # no mouth clearly moving more
    fused = segments.fused_course(one, 1)
    plain = segments.course(one, 1)
    at = [i for i, p in enumerate(plain) if p.t == 11.0][0]
    assert fused[at].probs["happy"] != plain[at].probs["happy"]  # the voice weighs in where it speaks
    assert fused[0].probs == plain[0].probs  # and nowhere else


def test_lanes_figure_has_one_lane_per_face_and_marks_the_moment():
    result = arc_result(second_face=True, speech=True)
    fig = segments.lanes_figure(result, {"1": "AAAA"}, at=4.0, spans=[markers.marker(2, 5, "question")],
                                speaking=1)
    lanes = {y for trace in fig.data for y in trace.y}
    assert lanes == {"face 1", "face 2", "face 1 + voice", "voice"}
    assert len(fig.layout.images) == 1
    assert any(s.x0 == 4.0 for s in fig.layout.shapes)
    for trace in fig.data:  # every point carries its time first, for click-to-seek
        assert all(isinstance(c[0], float | int) for c in trace.customdata)
    event = {"selection": {"points": [{"x": 7.0, "customdata": [7.0, "fear", 0.7]}]}}
    assert segments.picked_time(event) == 7.0
    assert segments.picked_time({"selection": {"points": []}}) is None


def test_markers_from_csv_and_their_statistics():
    spans = markers.read_csv(b"start,end,label\n0,6,crying\n10,18,laughing\n7,,a question\n")
    assert [m.label for m in spans] == ["crying", "laughing", "a question"]
    assert spans[2].start == spans[2].end == 7
    assert markers.read_csv(markers.to_csv(spans)) == spans
    table = markers.span_stats(arc_result(speech=True), spans)
    assert list(table["dominant"]) == ["sad", "happy", "fear"]
    assert table.loc[0, "valence"] < 0 < table.loc[1, "valence"]
    assert table.loc[1, "voice"] == "happy" and table.loc[0, "voice"] == ""
    assert table["engagement"].notna().all()
    assert table.loc[1, "engagement"] > table.loc[0, "engagement"]


@pytest.mark.parametrize("text, why", [
    ("0,1", "line 1: needs start,end,label"),
    ("a,b,c\n", "line 1: start and end must be seconds"),
    ("start,end,label\n5,2,back", "line 2: 'back': needs 0 <= start <= end"),
    ("1,2,", "line 1: a marker needs a label"),
    (b"\xff\xfe\x00", "not UTF-8"),
])
def test_bad_marker_files_say_why_in_one_line(text, why):
    with pytest.raises(markers.MarkerError, match=why):
        markers.read_csv(text)


def test_compare_two_files_on_normalised_time_and_csv():
    a, b = arc_result("a.mp4"), arc_result("b.mp4", second_face=True)
    fig = compare.curves_figure([a, b], "valence", normalised=True)
    assert len(fig.data) == 2 and max(fig.data[0].x) <= 1.0
    table = compare.summaries([a, b])
    assert table.loc[0, "arc"] == "sad → fear → happy" and list(table["faces"]) == [1, 2]
    text = compare.to_csv([a, b], [markers.marker(0, 6, "crying")])
    assert text.startswith("section,file,") and "\nspans,a.mp4,crying" in text.replace("\r", "")
