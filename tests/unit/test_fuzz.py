"""Fuzzing the media readers and the result-record loader: bad bytes give a clear error, never a crash."""

from __future__ import annotations

import json
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from emotion.analysis.pipeline import analyze_file
from emotion.media import MediaError, probe_video, read_image
from emotion.record import Result
from emotion.settings import Settings
from emotion.voice.process import AudioError, load_audio

pytestmark = [pytest.mark.needs_data]

BUDGET = settings(
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", "40")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@BUDGET
@given(data=st.binary(max_size=4096), suffix=st.sampled_from([".jpg", ".png", ".mp4", ".mov", ".webm"]))
def test_random_bytes_never_crash_the_readers(tmp_path_factory, data, suffix):
    path = tmp_path_factory.mktemp("fuzz") / f"x{suffix}"
    path.write_bytes(data)
    reader = read_image if suffix in (".jpg", ".png") else probe_video
    try:
        reader(path)
    except MediaError as exc:
        assert str(exc) and "\n" not in str(exc)


@BUDGET
@given(cut=st.integers(min_value=0, max_value=60_000))
def test_truncated_video_gives_a_record(media, models, cut):
    src = (media / "single_face.mp4").read_bytes()[:cut]
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        video = os.path.join(tmp, "cut.mp4")
        with open(video, "wb") as f:
            f.write(src)
        result = analyze_file(video, Settings(audio=False, max_frames=3), models)
    assert result.error is None or ("\n" not in result.error and "Traceback" not in result.error)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)


@BUDGET
@given(data=st.dictionaries(st.sampled_from(["file", "kind", "frames", "audio", "summary", "error"]), json_values))
@pytest.mark.slow
def test_record_loader_rejects_garbage_cleanly(data):
    try:
        record = Result.from_dict(json.loads(json.dumps(data)))
    except ValueError:
        return
    assert Result.from_dict(record.to_dict()) == record


@BUDGET
@given(data=st.binary(max_size=4096), suffix=st.sampled_from([".wav", ".mp3", ".flac", ".m4a", ".ogg", ".mp4"]))
def test_random_bytes_never_crash_the_audio_reader(tmp_path_factory, data, suffix):
    path = tmp_path_factory.mktemp("fuzz") / f"x{suffix}"
    path.write_bytes(data)
    try:
        signal, sr = load_audio(path)
    except AudioError as exc:
        assert str(exc) and "\n" not in str(exc) and str(path.parent) not in str(exc)
    else:
        assert sr == 16000 and signal.ndim == 1


@BUDGET
@given(cut=st.integers(min_value=0, max_value=120_000))
@pytest.mark.slow
def test_truncated_audio_gives_a_record(models, cut):
    import tempfile

    from tests.conftest import DATA, need

    src = need(DATA / "ravdess" / "Actor_01" / "03-01-05-01-01-01-01.flac").read_bytes()[:cut]
    with tempfile.TemporaryDirectory() as tmp:
        clip = os.path.join(tmp, "cut.flac")
        with open(clip, "wb") as f:
            f.write(src)
        result = analyze_file(clip, Settings(), models)
    assert (result.error is None and result.audio is not None) or (
        "\n" not in result.error and "Traceback" not in result.error
    )
