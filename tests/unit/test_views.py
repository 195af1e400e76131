"""Views, engagement, annotation, uploads and history on real media and real models."""

from __future__ import annotations

import base64
import io
import json
import sqlite3
import threading
from dataclasses import replace

import av
import cv2
import numpy as np
import pytest

from emotion.analysis import batch
from emotion.analysis.batch import Source
from emotion.analysis.pipeline import analyze_file
from emotion.analysis.uploads import private_copy, progress_value, safe_extension
from emotion.labels import FACE_LABELS, VOICE_LABELS, VOICE_TO_FACE
from emotion.record import AudioResult, Result, Segment
from emotion.report.annotate import annotate_video, draw_faces, face_thumbnails
from emotion.report.engagement import CONTEXTS, WEIGHTS, engagement_score
from emotion.report.views import (
    disagreements,
    distribution_figure,
    dropped_table,
    faces_table,
    overview_table,
    slice_result,
    timeline_figure,
    window_summaries,
)
from emotion.settings import Settings
from emotion.storage.history import History, data_dir
from tests.app_support import MEDIA

pytestmark = [pytest.mark.needs_data]


def need(path):
    if not path.exists():
        pytest.skip(f"shared test data not found: {path}")
    return path


@pytest.fixture(scope="module")
def faces_only(models):
    """WolfgangLanger_Pexels.mp4 (19.7 s, one face) analysed for faces only."""
    return analyze_file(need(MEDIA / "WolfgangLanger_Pexels.mp4"), Settings(audio=False), models)


@pytest.fixture(scope="module")
def group(models):
    return analyze_file(need(MEDIA / "multi_face.jpg"), Settings(), models)


def voice_track(result: Result, labels: list[str | None]) -> Result:
    """Return the result with a voice timeline of 3 s windows every 1.5 s carrying ``labels`` (None = silence).

    The face part stays the real analysis; the voice part is given, so the face/voice comparison is exact.
    """
    segments = []
    for i, lab in enumerate(labels):
        start, end = i * 1.5, i * 1.5 + 3.0
        if lab is None:
            segments.append(Segment(start, end, None, {}, False))
        else:
            scores = {v: (0.86 if v == lab else 0.02) for v in VOICE_LABELS}
            segments.append(Segment(start, end, lab, scores, True))
    return replace(result, audio=AudioResult(segments, {"dominant_emotion": labels[0]}))


def face_label_between(result: Result, start: float, end: float) -> str:
    faces = [f for fr in result.frames if start <= fr.t <= end for f in fr.faces]
    mean = np.mean([[f.scores[k] for k in FACE_LABELS] for f in faces], axis=0)
    return FACE_LABELS[int(np.argmax(mean))]


# --------------------------------------------------------------------------------------------------------------
# views


def test_timeline_face_modes(faces_only):
    top = timeline_figure(faces_only, "top")
    markers = [t for t in top.data if t.mode == "markers"]
    assert {t.name for t in markers} <= set(FACE_LABELS)
    assert sum(len(t.x) for t in markers) == faces_only.summary["faces"] >= 15
    assert all(0 <= y <= 1 for t in markers for y in t.y)
    assert max(x for t in markers for x in t.x) < faces_only.duration

    stacked = timeline_figure(faces_only, "stacked")
    assert [t.name for t in stacked.data] == list(FACE_LABELS)
    totals = np.nansum(np.array([[np.nan if v is None else v for v in t.y] for t in stacked.data], float), axis=0)
    ok = [fr.quality.ok for fr in faces_only.frames]
    assert np.allclose(totals[ok], 1.0, atol=0.01)
    with pytest.raises(ValueError):
        timeline_figure(faces_only, "pie")


def test_face_and_voice_share_one_axis_and_disagreements_are_flagged(faces_only):
    first = face_label_between(faces_only, 0.0, 3.0)  # the real face label of the first window
    agree = next(v for v, f in VOICE_TO_FACE.items() if f == first)
    other = next(v for v, f in VOICE_TO_FACE.items() if f != first)
    both = voice_track(faces_only, [agree, other, None] + ["calm"] * 10)
    clash = disagreements(both)
    expected = {
        (s.start, s.end)
        for s in both.audio.segments
        if s.speech and face_label_between(both, s.start, s.end) != VOICE_TO_FACE[s.emotion]
    }
    assert set(zip(clash.start, clash.end)) == expected and len(expected) >= 3
    assert (0.0, 3.0) not in expected  # the same emotion is not flagged
    calm = clash[clash.voice == "calm"]
    assert (calm.voice_as_face == "neutral").all() and (calm.face != "neutral").all()  # calm maps to neutral
    fig = timeline_figure(both)
    layout = fig.to_dict()["layout"]
    assert layout["xaxis"]["matches"] == "x2" or layout["xaxis2"].get("matches") == "x"  # one time axis
    bars = [t for t in fig.data if t.type == "bar"]
    assert sum(len(t.base) for t in bars) == 13 and {t.name for t in bars} >= {"no speech", "calm"}
    assert len(layout.get("shapes", [])) >= 1  # the disagreeing spans are shaded
    assert any(t.name == "face ≠ voice" for t in fig.data)


def test_audio_only_timeline_has_just_the_voice():
    result = Result("clip.flac", "audio", duration=6.0)
    result = voice_track(result, ["happy", "sad", "surprised"])
    fig = timeline_figure(result)
    assert {t.type for t in fig.data} == {"bar"} and len(disagreements(result)) == 0
    dist = distribution_figure(result)
    assert [t.name for t in dist.data] == ["voice"]
    assert dict(zip(dist.data[0].x, dist.data[0].y))["surprise"] == pytest.approx(1 / 3)


def test_distribution_matches_the_summary(faces_only):
    fig = distribution_figure(faces_only)
    assert dict(zip(fig.data[0].x, fig.data[0].y)) == faces_only.summary["emotion_shares"]


def test_faces_table_one_row_per_face_with_thumbnails(group, tmp_path):
    thumbs = face_thumbnails(MEDIA / "multi_face.jpg", group)
    table = faces_table(group, thumbs)
    assert list(table.face) == [0, 1, 2, 3, 4] and (table.frames == 1).all()
    assert set(table.emotion) <= set(FACE_LABELS)
    assert np.allclose(table.confidence, table[list(FACE_LABELS)].max(axis=1))
    img = cv2.imdecode(np.frombuffer(base64.b64decode(thumbs["2"]), np.uint8), cv2.IMREAD_COLOR)
    assert img.shape == (96, 96, 3)
    assert table.thumbnail.str.startswith("data:image/jpeg;base64,").all()


def test_dropped_table_lists_reasons(group, models):
    mixed = analyze_file(need(MEDIA / "face_noface.mov"), Settings(audio=False, max_frames=8), models)
    table = dropped_table(mixed)
    lost = [fr for fr in mixed.frames if not fr.quality.ok]
    assert list(table.t) == [fr.t for fr in lost] and not table.used.any()
    assert all(r.startswith("; ".join(fr.quality.reasons)) for r, fr in zip(table.reasons, lost))
    assert "no face detected" in set(table.reasons)
    sides = sorted(min(f.box[2:]) for f in group.frames[0].faces)
    limit = sides[-1]  # keep only the largest face
    strict = analyze_file(MEDIA / "multi_face.jpg", Settings(min_face=limit), models)
    table = dropped_table(strict)
    assert len(table) == 1 and table.used.iloc[0] and table.faces_dropped.iloc[0] == sum(s < limit for s in sides) >= 2
    assert table.reasons.iloc[0].count("face too small") == table.faces_dropped.iloc[0]


def test_window_summaries_cover_the_whole_file(faces_only):
    table = window_summaries(faces_only, sizes=(5.0, 10.0))
    total = faces_only.summary["faces"]
    for scope, n in (("5 s", 4), ("10 s", 2)):
        rows = table[table.window == scope]
        assert len(rows) == n and rows.faces.sum() == total
    cumulative = table[table.window == "cumulative"]
    assert list(cumulative.faces) == sorted(cumulative.faces) and cumulative.faces.iloc[-1] == total
    assert cumulative.face_emotion.iloc[-1] == faces_only.summary["dominant_emotion"]
    default = window_summaries(faces_only)
    assert list(default.window) == ["30 s", "1 min", "cumulative"] and default.end_s.max() == pytest.approx(19.68, 0.01)
    assert default.engagement.between(1, 5).all()


def test_slice_and_overview(faces_only, group):
    part = slice_result(faces_only, 0, 5)
    assert all(fr.t < 5 for fr in part.frames) and len(part.frames) == sum(fr.t < 5 for fr in faces_only.frames) > 0
    bad = Result("x.mp4", "video", error="not a readable video")
    table = overview_table([faces_only, group, bad])
    assert list(table.file) == ["WolfgangLanger_Pexels.mp4", "multi_face.jpg", "x.mp4"]
    assert table.error.iloc[2] == "not a readable video" and table.engagement.isna().iloc[2]


# --------------------------------------------------------------------------------------------------------------
# engagement


def test_engagement_formula_and_contexts(faces_only, group):
    e = engagement_score(faces_only, "classroom")
    mean = faces_only.summary["mean_scores"]
    affect = sum(WEIGHTS["classroom"][k] * mean[k] for k in FACE_LABELS)
    presence = faces_only.summary["frames_ok"] / faces_only.summary["frames"]
    assert e.affect == pytest.approx(affect, abs=1e-3) and e.presence == pytest.approx(presence, abs=1e-3)
    assert e.score == pytest.approx(round(1 + 4 * (0.7 * affect + 0.3 * presence), 1), abs=0.051)
    for context in CONTEXTS:
        assert 1.0 <= engagement_score(group, context).score <= 5.0
    # a smiling group scores higher than a sad-then-happy single face in every context
    assert all(engagement_score(group, c).score > engagement_score(faces_only, c).score for c in CONTEXTS)
    with pytest.raises(ValueError):
        engagement_score(group, "party")


def test_engagement_voice_blend_and_missing_signal(faces_only, models):
    happy_voice = voice_track(faces_only, ["happy"] * 12)
    sad_voice = voice_track(faces_only, ["sad"] * 12)
    assert engagement_score(happy_voice).score > engagement_score(sad_voice).score
    audio_only = voice_track(Result("a.wav", "audio", duration=18), ["happy"] * 12)
    e = engagement_score(audio_only, "general")
    # happy 0.86 x 1.0 + 0.02 x (neutral .5 + calm .5 + sad .2 + angry .3 + fearful .3 + disgust .1 + surprised .8)
    assert e.presence is None and e.affect == pytest.approx(0.914) and e.score == 4.7
    nothing = analyze_file(need(MEDIA / "free-mountain-vector-01.jpg"), Settings(), models)
    assert engagement_score(nothing).score is None and "cannot be scored" in engagement_score(nothing).explain()


# --------------------------------------------------------------------------------------------------------------
# annotate


def test_draw_faces_draws_inside_the_boxes_only(group):
    from emotion.media import read_image

    image = read_image(MEDIA / "multi_face.jpg")
    drawn = draw_faces(image, group.frames[0].faces)
    changed = np.any(drawn != image, axis=2)
    assert changed.sum() > 1000 and np.array_equal(image, read_image(MEDIA / "multi_face.jpg"))
    x, y, w, h = group.frames[0].faces[0].box
    assert changed[y : y + h + 1, x].mean() > 0.9  # the left edge of the first box
    assert not changed[:, : min(f.box[0] for f in group.frames[0].faces) - 40].any()  # nothing far left of them


def _streams(path):
    with av.open(str(path)) as c:
        video = c.streams.video[0]
        info = {
            "codec": video.codec_context.name,
            "pix_fmt": video.codec_context.pix_fmt,
            "audio": [a.codec_context.name for a in c.streams.audio],
            "frames": sum(1 for _ in c.decode(video=0)),
        }
    return info


def test_annotated_video_is_browser_h264_with_the_audio_kept(models, tmp_path):
    src = need(MEDIA / "single_face.mp4")  # its audio is MP3: re-encoded to AAC
    result = analyze_file(src, Settings(audio=False), models)
    out = annotate_video(src, result, tmp_path / "annotated.mp4")
    info = _streams(out)
    assert info["codec"] == "h264" and info["pix_fmt"] == "yuv420p" and info["audio"] == ["aac"]
    assert info["frames"] == _streams(src)["frames"]
    head = out.read_bytes()[:4096]
    assert head.find(b"moov") != -1 and (head.find(b"mdat") == -1 or head.find(b"moov") < head.find(b"mdat"))
    with av.open(str(out)) as c:  # the boxes are really drawn: the middle frame differs from the source's
        mid = [f.to_ndarray(format="bgr24") for i, f in enumerate(c.decode(video=0)) if i == 36][0]
    with av.open(str(src)) as c:
        orig = [f.to_ndarray(format="bgr24") for i, f in enumerate(c.decode(video=0)) if i == 36][0]
    x, y, w, h = result.frames[len(result.frames) // 2].faces[0].box
    edge = np.abs(mid[y : y + h, x - 1 : x + 3].astype(int) - orig[y : y + h, x - 1 : x + 3]).mean()
    assert edge > 20


@pytest.mark.slow
def test_annotated_video_without_audio_has_no_audio_stream(models, tmp_path):
    src = tmp_path / "silent.mp4"
    with av.open(str(need(MEDIA / "single_face.mp4"))) as inp, av.open(str(src), "w") as out:
        stream = out.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = 640, 360, "yuv420p"
        for i, frame in enumerate(inp.decode(video=0)):
            new = av.VideoFrame.from_ndarray(frame.to_ndarray(format="bgr24"), format="bgr24")
            new.pts = i
            out.mux(stream.encode(new))
        out.mux(stream.encode(None))
    result = analyze_file(src, Settings(audio=False), models)
    assert result.error is None and result.summary["faces"] > 0
    info = _streams(annotate_video(src, result, tmp_path / "out.mp4"))
    assert info["codec"] == "h264" and info["audio"] == []


# --------------------------------------------------------------------------------------------------------------
# uploads


def test_upload_names_are_never_paths():
    assert safe_extension("../../etc/passwd.MP4") == ".mp4"
    assert safe_extension("evil.sh") == "" and safe_extension("noext") == ""
    with private_copy(io.BytesIO(b"abc"), "../../x/y/../secret.jpg") as path:
        folder = path.parent
        assert path.name == "upload.jpg" and path.read_bytes() == b"abc"
        assert folder.stat().st_mode & 0o077 == 0  # private to this user
    assert not folder.exists()


def test_batch_of_uploads_reports_each_error_and_stops_on_cancel(models):
    data = need(MEDIA / "single_face.jpg").read_bytes()
    steps = []
    sources = [
        Source.upload(io.BytesIO(data), "me.jpg", "a"),
        Source.upload(io.BytesIO(b"not a picture"), "x.png", "b"),
        Source.upload(io.BytesIO(b"#!/bin/sh"), "run.sh", "c"),
    ]
    done, bad, odd = batch.run(sources, Settings(save=False), models, progress=steps.append)
    assert [done.key, bad.key, odd.key] == ["a", "b", "c"]
    assert done.result.error is None and done.result.file == "me.jpg"
    first = [s for s in steps if s.index == 0]
    assert set(done.extras) == {"thumbnails", "image"}
    assert {"faces", "summary", "thumbnails"} <= {s.stage for s in first}
    assert [s.value for s in first] == sorted(s.value for s in first)  # the bar only moves forward
    assert bad.result.error and "\n" not in bad.result.error
    assert odd.result.kind == "unknown" and "unsupported file type '.sh'" in odd.result.error
    stop = threading.Event()
    stop.set()
    video = Source.upload(io.BytesIO(need(MEDIA / "single_face.mp4").read_bytes()), "v.mp4")
    assert list(batch.run([video], Settings(save=False), models, cancel=stop)) == []


def test_progress_only_moves_forward():
    stages = [("decode", 0.5), ("faces", 1.0), ("audio", 0.0), ("audio", 1.0), ("summary", 1.0)]
    values = [progress_value("video", s, f) for s, f in stages + [("thumbnails", 0.0), ("video", 0.5), ("video", 1.0)]]
    assert values == sorted(values) and values[-1] == 1.0
    assert progress_value("video", "summary", 1.0, make_video=False) == 1.0
    assert progress_value("audio", "audio", 1.0) == 0.95


# --------------------------------------------------------------------------------------------------------------
# history


def test_history_wal_reopen_delete(tmp_path, monkeypatch, faces_only, group):
    monkeypatch.setenv("EMOTION_DATA_DIR", str(tmp_path / "d"))
    assert data_dir() == tmp_path / "d"
    history = History()
    assert history.path == tmp_path / "d" / "history.sqlite" and history.journal_mode() == "wal"
    first = history.add(faces_only, {"thumbnails": {"0": "abc"}})
    second = history.add(group)
    assert [e.id for e in history.list()] == [second, first] and len(history) == 2
    again, extras = history.get(first)
    assert again.to_dict() == faces_only.to_dict() and extras == {"thumbnails": {"0": "abc"}}
    entry = history.list()[1]
    assert (entry.file, entry.kind) == ("WolfgangLanger_Pexels.mp4", "video")
    assert entry.dominant_emotion == faces_only.summary["dominant_emotion"] in FACE_LABELS
    assert entry.duration == pytest.approx(faces_only.duration)
    with sqlite3.connect(history.path) as conn:  # the whole record is stored as JSON
        stored = json.loads(conn.execute("SELECT record FROM analyses WHERE id=?", (second,)).fetchone()[0])
    assert stored["summary"]["face_ids"] == [0, 1, 2, 3, 4]
    assert history.delete(first) and not history.delete(first)
    assert [e.id for e in history.list()] == [second]
    with pytest.raises(KeyError):
        history.get(first)
    assert len(History(tmp_path / "other.sqlite")) == 0  # an explicit path wins
