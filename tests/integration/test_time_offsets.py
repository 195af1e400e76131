"""Streams that start late: times count from the container's start everywhere (sampling, records, voice, drawing).

Phone and web recordings often start the picture a little after the sound. The clips here are real videos copied
with one stream, or both, moved later (``tests/media_tools.offset_streams``; no re-encoding, so every frame and
sample is the source's), plus ``face_noface.mov`` from the shared media, whose sound starts at 2.43 s.
"""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from emotion.analysis.pipeline import analyze_file
from emotion.media import iter_video_frames, probe_video
from emotion.settings import Settings
from emotion.voice.process import load_audio
from tests import media_tools as mt
from tests.conftest import MEDIA, need

pytestmark = [pytest.mark.needs_data]

LATE = 0.852
"""Seconds the picture starts after the sound in the late-video clips (as in a phone recording)."""


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("offsets")
    long, loud, mp3 = (need(MEDIA / n) for n in ("WolfgangLanger_Pexels.mp4", "no_face.mp4", "single_face.mp4"))
    return {
        "long": long,
        "long_late_video": mt.offset_streams(long, d / "long_late_video.mp4", video=LATE),
        "loud": loud,
        "loud_late_video": mt.offset_streams(loud, d / "loud_late_video.mp4", video=LATE),
        "loud_late_audio": mt.offset_streams(loud, d / "loud_late_audio.mp4", audio=0.6),
        "loud_both_late": mt.offset_streams(loud, d / "loud_both_late.mp4", video=1.2, audio=1.2),
        "mp3_late_video": mt.offset_streams(mp3, d / "mp3_late_video.mp4", video=0.5),
        # the long clip's picture with the loud clip's sound as PCM: every stream starts exactly where it is told
        **{
            f"pcm_{name}": mt.offset_streams(long, d / f"pcm_{name}.mkv", v, a, sound=loud, audio_codec="pcm_s16le")
            for name, v, a in (("base", 0, 0), ("late_video", LATE, 0), ("late_audio", 0, 0.6), ("both_late", 1.2, 1.2))
        },
    }


def frame_times(path: Path) -> np.ndarray:
    """Every video frame's time in seconds from the container's start, as the file's own timestamps say."""
    with av.open(str(path)) as container:
        video, audio = container.streams.video[0], container.streams.audio[:1]
        zero = min(float(s.start_time * s.time_base) for s in (video, *audio) if s.start_time is not None)
        return np.array(sorted(float(f.time) - zero for f in container.decode(video)))


def test_probe_counts_from_the_container_start(clips):
    """The picture's start and end as the container's clock has them (where its first frame really is)."""
    late = probe_video(clips["long_late_video"])
    assert late.start == pytest.approx(LATE, abs=1e-3) == frame_times(clips["long_late_video"])[0]
    assert late.duration == pytest.approx(probe_video(clips["long"]).duration + LATE, abs=0.02)
    # no_face.mp4 hides three B-frame lead-in frames behind an edit list that a stream copy drops, so its copies
    # show them: their pictures start 3 frames (0.125 s) before the offset given
    for name, start in (("loud_late_video", LATE - 0.125), ("loud_both_late", 0.0), ("loud_late_audio", 0.0)):
        info, stamps = probe_video(clips[name]), frame_times(clips[name])
        assert info.start == pytest.approx(start, abs=1e-3) and info.start == pytest.approx(stamps[0]), name
        assert info.duration == pytest.approx(stamps[-1] + 1 / info.fps, abs=0.1), name  # where the picture ends
        assert info.note is None


@pytest.mark.slow
def test_samples_cover_a_video_stream_that_starts_late(clips):
    """21 distinct frames spread over the picture's own span, the last second included; each is the source's
    frame at the same point of the picture."""
    r = analyze_file(clips["long_late_video"], Settings(audio=False))
    times = [f.t for f in r.frames]
    assert r.error is None and len(times) == 21 and not any("distinct frames" in n for n in r.notes), r.notes
    stamps = frame_times(clips["long_late_video"])
    assert len(stamps) == 472 and stamps[0] == pytest.approx(LATE, abs=1e-3)
    assert all(np.abs(stamps - t).min() < 1e-3 for t in times)  # real frames, on the container's clock
    assert times[0] > LATE and times[-1] > r.duration - 1.0
    ours = [img for _, _, img in iter_video_frames(clips["long_late_video"], times)]
    source = [img for _, _, img in iter_video_frames(clips["long"], [round(t - LATE, 4) for t in times])]
    assert len(ours) == len(source) == 21 and all(np.array_equal(a, b) for a, b in zip(ours, source))


@pytest.mark.slow
def test_sampling_by_fps_spans_the_late_stream(clips):
    r = analyze_file(clips["long_late_video"], Settings(audio=False, fps=5.0))
    times = [f.t for f in r.frames]
    assert len(times) == int((r.duration - LATE) * 5) == 98
    assert LATE <= times[0] < LATE + 0.2 and r.duration - 0.2 < times[-1] <= r.duration


def test_voice_counts_from_the_container_start(clips):
    """A late sound is preceded by as much silence, so voice windows and faces share one time axis."""
    src, _ = load_audio(clips["pcm_base"])
    late, _ = load_audio(clips["pcm_late_audio"])
    lead = round(0.6 * 16000)
    assert np.abs(late[: lead - 16]).max() == 0.0 and late.size == pytest.approx(lead + src.size, abs=16)
    assert _lag(src, late) == pytest.approx(lead, abs=16)  # within 1 ms
    for name in ("pcm_late_video", "pcm_both_late"):  # the sound starts with the container: where it was
        same, _ = load_audio(clips[name])
        assert same.size == pytest.approx(src.size, abs=16) and abs(_lag(src, same)) <= 16, name
    real, _ = load_audio(need(MEDIA / "face_noface.mov"))  # recorded so: its sound starts at 2.43 s
    assert np.abs(real[: int(2.4 * 16000)]).max() == 0.0 and np.abs(real[int(2.45 * 16000) :]).max() > 0.1


@pytest.mark.slow
def test_record_times_of_picture_and_voice_agree(clips):
    """In one record, the sampled frames and the voice windows are both on the container's clock."""
    end, sound = probe_video(clips["long"]).duration, load_audio(clips["pcm_base"])[0].size / 16000
    late_video = analyze_file(clips["pcm_late_video"], Settings(max_frames=5))
    assert late_video.frames[0].t > LATE and late_video.duration == pytest.approx(end + LATE, abs=0.02)
    assert late_video.audio.segments[-1].end == pytest.approx(sound, abs=0.01)  # the sound, where it was
    late_audio = analyze_file(clips["pcm_late_audio"], Settings(max_frames=5))
    assert late_audio.frames[0].t < 2.0 and late_audio.duration == pytest.approx(end, abs=0.02)
    assert late_audio.audio.segments[-1].end == pytest.approx(0.6 + sound, abs=0.01)  # after 0.6 s of silence


def _lag(a: np.ndarray, b: np.ndarray) -> int:
    """Samples by which ``b`` is behind ``a`` (cross-correlation of their first 2 s of level)."""
    n = 2 * 16000
    x, y = np.abs(a[:n]) - np.abs(a[:n]).mean(), np.abs(b[: n + 16000])
    scores = np.correlate(y - y.mean(), x, mode="valid")
    return int(np.argmax(scores))


@pytest.mark.slow
@pytest.mark.parametrize("name", ["loud_late_video", "mp3_late_video", "loud_both_late"])
def test_annotated_copy_keeps_picture_and_sound_in_step(clips, tmp_path, name):
    """The annotated copy starts its picture where the source does, frame for frame, and its sound where the
    source's is (copied AAC, or MP3 re-encoded to AAC)."""
    from emotion.report.annotate import annotate_video

    src = clips[name]
    r = analyze_file(src, Settings())
    out = annotate_video(src, r, tmp_path / "annotated.mp4")
    want, got = frame_times(src), frame_times(out)
    assert len(got) == len(want) and np.abs(got - want).max() < 0.002, (got[:3], want[:3])
    sound, _ = load_audio(src)
    copied, _ = load_audio(out)
    assert abs(_lag(sound, copied)) < 800  # within 50 ms (AAC priming), where the picture was 0.85 s off
    assert probe_video(out).start == pytest.approx(probe_video(src).start, abs=0.002)
