"""Bad and odd inputs through the CLI and the Analyse page: a clear one-line message each, never a traceback.

Every input is real media from ``../shared/data/media`` or made from it at test time (imageio-ffmpeg's ffmpeg,
OpenCV, Pillow). Each case runs in one CLI batch and in one Analyse-page batch beside good files: the good files
must still be analysed, and the page must still work afterwards.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pytest

from emotion.settings import MAX_UPLOAD_MB
from tests import media_tools as mt
from tests.app_support import shown as rendered
from tests.conftest import MEDIA, ROOT, need
from tests.e2e.test_app import at, upload  # noqa: F401 - the app fixture and upload helper of the app tests

pytestmark = [pytest.mark.needs_data]

Check = Callable[[dict], str]
"""Asserts what a record must hold and returns the one-line message it shows for the case."""


@dataclass
class Case:
    """One input of the matrix: the file, its upload MIME type and what its record must say."""

    file: Path
    mime: str
    check: Check


def error(*words: str) -> Check:
    """The record is an error whose one line holds ``words``."""

    def check(r: dict) -> str:
        assert r["error"] and all(w in r["error"] for w in words), r["error"]
        return r["error"]

    return check


def faces(n: int, width: int = 0, height: int = 0) -> Check:
    """No error; ``n`` faces in every analysed frame, and the frame size when given."""

    def check(r: dict) -> str:
        assert r["error"] is None, r["error"]
        assert r["frames"] and all(len(f["faces"]) == n for f in r["frames"]), [len(f["faces"]) for f in r["frames"]]
        if width:
            assert (r["width"], r["height"]) == (width, height)
            assert all(b[0] + b[2] <= width and b[1] + b[3] <= height for b in boxes(r))
        return f"{n} face(s)"

    return check


def boxes(r: dict) -> list[list[int]]:
    return [f["box"] for fr in r["frames"] for f in fr["faces"]]


def no_face(r: dict) -> str:
    assert r["error"] is None and r["summary"]["faces"] == 0
    assert all(f["quality"]["reasons"] == ["no face detected"] for f in r["frames"])
    return "no face detected"


def no_speech(r: dict) -> str:
    assert r["error"] is None and r["kind"] == "audio"
    assert r["audio"]["summary"]["message"] == "no speech" and r["audio"]["note"] == "no speech detected"
    return r["audio"]["note"]


def audio_only(r: dict) -> str:
    """An .mp4 with only a sound track is analysed as audio, and says so."""
    no_speech(r)
    note = "the file has no video stream, so only its audio was analysed"
    assert note in r["notes"]
    return note


def no_audio_track(r: dict) -> str:
    faces(1)(r)
    assert "has no audio track" in r["audio"]["note"]
    return r["audio"]["note"]


def crowd(r: dict) -> str:
    """40 real faces packed in a grid (BlazeFace finds about 26 of them, Haar all): the largest 20
    (Settings.max_faces) are analysed, the others are dropped and say why."""
    (frame,) = r["frames"]
    over = [d for d in frame["dropped_faces"] if d["reason"] == "more than 20 faces in the frame"]
    assert len(frame["faces"]) == 20 and len(over) >= 3
    return over[0]["reason"]


def vfr(path: Path) -> Check:
    """Each sampled frame is the real frame nearest its sample time, by timestamp (not by frame count)."""
    import av

    from emotion.media import sample_times

    with av.open(str(path)) as container:
        stamps = np.array([float(f.time) for f in container.decode(video=0)])
    assert len(set(np.diff(stamps).round(3))) > 1  # the frame rate really varies

    def check(r: dict) -> str:
        faces(1)(r)
        times = [f["t"] for f in r["frames"]]
        assert 15 <= len(times) <= 21 and times == sorted(set(times))  # each real frame once
        assert len(times) == 21 or any("distinct frames" in n for n in r["notes"])
        assert all(np.abs(stamps - t).min() < 1e-3 for t in times)  # real frames
        for want in sample_times(r["duration"], 21):  # and, for each sample time, the frame nearest it
            assert min(abs(t - want) for t in times) <= np.abs(stamps - want).min() + 1e-3
        return f"{len(times)} frames"

    return check


@pytest.fixture(scope="session")
def matrix(tmp_path_factory) -> dict[str, Case]:
    """Every input of the matrix, made once per session: name -> case (names are the files' names)."""
    need(MEDIA)
    d = tmp_path_factory.mktemp("bad-inputs")
    video, face_path = MEDIA / "single_face.mp4", MEDIA / "single_face.jpg"
    face = cv2.imread(str(face_path))
    rng = np.random.default_rng(7)
    (d / "empty.mp4").write_bytes(b"")
    (d / "truncated.mp4").write_bytes(video.read_bytes()[:3000])
    for ext in (".mp4", ".wav", ".png"):
        (d / f"random{ext}").write_bytes(rng.integers(0, 256, 8192, dtype=np.uint8).tobytes())
    (d / "notes.mp4").write_text("this is a text file, not a video\n" * 40)
    mt.without_audio(video, d / "no_audio.mp4")
    mt.tone(d / "silence.wav")
    mt.tone(d / "tone.wav", hz=440)
    mt.tone(d / "audio_only.mp4", hz=440)  # an .mp4 holding only an AAC track
    shutil.copy(MEDIA / "free-mountain-vector-01.jpg", d / "no_face.jpg")
    crops = mt.face_crops([MEDIA / n for n in ("single_face.jpg", "multi_face.jpg", "0-f15-hao-ph.jpg")])
    cv2.imwrite(str(d / "crowd.jpg"), mt.crowd(crops, 40))
    cv2.imwrite(str(d / "frame_4k.jpg"), mt.frame_4k(face))
    cv2.imwrite(str(d / "pixel.png"), np.full((1, 1, 3), 128, np.uint8))
    cv2.imwrite(str(d / "gray.png"), cv2.cvtColor(face, cv2.COLOR_BGR2GRAY))
    cv2.imwrite(str(d / "deep16.png"), face.astype(np.uint16) * 257)
    mt.rotated(video, d / "rotated.mp4")
    mt.variable_rate(video, d / "vfr.mp4")
    cases = {
        "empty.mp4": Case(d / "empty.mp4", "video/mp4", error("the file is empty")),
        "truncated.mp4": Case(d / "truncated.mp4", "video/mp4", error("not a readable video")),
        "random.mp4": Case(d / "random.mp4", "video/mp4", error("not a readable video")),
        "random.wav": Case(d / "random.wav", "audio/wav", error("cannot read audio", "corrupt or unsupported")),
        "random.png": Case(d / "random.png", "image/png", error("not a readable image")),
        "notes.mp4": Case(d / "notes.mp4", "video/mp4", error("not a readable video")),
        "audio_only.mp4": Case(d / "audio_only.mp4", "video/mp4", audio_only),
        "no_audio.mp4": Case(d / "no_audio.mp4", "video/mp4", no_audio_track),
        "silence.wav": Case(d / "silence.wav", "audio/wav", no_speech),
        "tone.wav": Case(d / "tone.wav", "audio/wav", no_speech),
        "no_face.jpg": Case(d / "no_face.jpg", "image/jpeg", no_face),
        "crowd.jpg": Case(d / "crowd.jpg", "image/jpeg", crowd),
        "frame_4k.jpg": Case(d / "frame_4k.jpg", "image/jpeg", faces(1, 3840, 2160)),
        "pixel.png": Case(d / "pixel.png", "image/png", no_face),
        "gray.png": Case(d / "gray.png", "image/png", faces(1)),
        "deep16.png": Case(d / "deep16.png", "image/png", faces(1)),
        "rotated.mp4": Case(d / "rotated.mp4", "video/mp4", faces(1, 640, 360)),
        "vfr.mp4": Case(d / "vfr.mp4", "video/mp4", vfr(d / "vfr.mp4")),
        "single_face.jpg": Case(face_path, "image/jpeg", faces(1)),
    }
    try:
        from PIL import Image

        Image.open(face_path).convert("CMYK").save(d / "cmyk.jpg")
        cases["cmyk.jpg"] = Case(d / "cmyk.jpg", "image/jpeg", faces(1))
        # a phone's portrait photo: stored on its side, with EXIF orientation 6 ("rotate 90° clockwise to show")
        exif = Image.Exif()
        exif[0x0112] = 6
        Image.open(face_path).transpose(Image.Transpose.ROTATE_90).save(d / "exif_rotated.jpg", exif=exif.tobytes())
        cases["exif_rotated.jpg"] = Case(d / "exif_rotated.jpg", "image/jpeg", faces(1, *Image.open(face_path).size))
    except ImportError:
        pass  # test_cmyk_jpeg says why it skips; the EXIF case needs Pillow too
    return cases


@pytest.fixture(scope="session")
def two_hours(tmp_path_factory) -> Path:
    """A 2-hour 320x180 video at 10 fps with a real face in every frame and no audio (72,000 frames)."""
    return mt.long_video(need(MEDIA / "single_face.jpg"), tmp_path_factory.mktemp("long") / "two_hours.mp4")


# Linux carries a process's peak RSS across exec, so a CLI started straight from this (large) test process would
# report the test process's own peak. A small wrapper process starts it instead and reports its child's peak.
_PEAK = (
    "import resource, subprocess, sys; code = subprocess.call(sys.argv[2:]); "
    "open(sys.argv[1], 'w').write(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)); sys.exit(code)"
)


def run_cli(*args: str | Path) -> tuple[subprocess.CompletedProcess, float, float]:
    """Run ``python -m emotion``; return the process, its wall time (s) and its own peak RSS (MB)."""
    with tempfile.TemporaryDirectory() as folder:
        peak = Path(folder) / "peak"
        cmd = [sys.executable, "-c", _PEAK, str(peak), sys.executable, "-m", "emotion", *map(str, args)]
        t0 = time.perf_counter()
        done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
        wall = time.perf_counter() - t0
        return done, wall, int(peak.read_text()) / 1024


def assert_clean(text: str) -> None:
    assert "Traceback" not in text and 'File "' not in text, text[-2000:]


# ---------------------------------------------------------------------------------------------------------------
# The CLI


@pytest.mark.slow
def test_cli_batch_of_bad_inputs(matrix, tmp_path):
    out = tmp_path / "x.json"
    proc, _, _ = run_cli("analyze", *(c.file for c in matrix.values()), "--out", out, "--quiet")
    assert_clean(proc.stdout + proc.stderr)
    assert proc.returncode == 1
    records = json.loads(out.read_text())
    assert [r["file"] for r in records] == [c.file.name for c in matrix.values()]
    failed = 0
    for (name, case), record in zip(matrix.items(), records):
        message = case.check(record)
        assert message and "\n" not in message, name
        if record["error"]:
            failed += 1
            assert f"{case.file}: {record['error']}" in proc.stderr.splitlines(), name
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert lines[-1] == f"{failed} of {len(records)} files failed"
    assert lines[-2] == f"saved to History as entries 1-{len(records) - failed}"
    assert len(lines) == failed + 2, lines  # nothing else on stderr: one line per bad file, where saved, the count


@pytest.mark.slow
def test_cli_two_hour_video_in_bounded_time(two_hours, tmp_path):
    """21 frames sampled over 2 hours: the decoder seeks to each sample instead of decoding all 72,000 frames."""
    out = tmp_path / "x.json"
    proc, wall, rss = run_cli("analyze", two_hours, "--out", out, "--quiet")
    assert proc.returncode == 0, proc.stderr
    assert_clean(proc.stderr)
    (record,) = json.loads(out.read_text())
    assert record["duration"] == pytest.approx(7200, abs=1) and (record["width"], record["height"]) == (320, 180)
    times = [f["t"] for f in record["frames"]]
    assert len(times) == 21 and times[0] == pytest.approx(171.4, abs=0.2) and times[-1] > 7000
    assert all(len(f["faces"]) == 1 for f in record["frames"])
    assert "no audio track" in record["audio"]["note"]
    print(f"2-hour video: {wall:.1f} s in the CLI (model load included), peak RSS {rss:.0f} MB")
    assert wall < 60 and rss < 1024


@pytest.mark.slow
def test_sparse_samples_seek_and_give_the_same_frames(two_hours, monkeypatch):
    """Seeking to each of 21 samples over 2 hours yields exactly the frames that decoding straight through does."""
    from emotion import media

    times = media.sample_times(7200.0, 21)
    t0 = time.perf_counter()
    seeking = list(media.iter_video_frames(two_hours, times))
    seek_s = time.perf_counter() - t0
    monkeypatch.setattr(media, "SEEK_GAP", float("inf"))
    t0 = time.perf_counter()
    straight = list(media.iter_video_frames(two_hours, times))
    straight_s = time.perf_counter() - t0
    assert [(i, t) for i, t, _ in seeking] == [(i, t) for i, t, _ in straight]
    assert all(np.array_equal(a[2], b[2]) for a, b in zip(seeking, straight))
    print(f"21 frames of a 2-hour video: {seek_s:.2f} s seeking, {straight_s:.2f} s decoding straight through")
    assert seek_s * 5 < straight_s


@pytest.mark.slow
def test_cli_two_hour_video_with_audio_memory(tmp_path):
    long = mt.long_video(need(MEDIA / "single_face.jpg"), tmp_path / "two_hours_audio.mp4", audio=True)
    proc, wall, rss = run_cli("analyze", long, "--out", tmp_path / "x.json", "--quiet")
    assert proc.returncode == 0, proc.stderr
    print(f"2-hour video with a silent audio track: {wall:.1f} s, peak RSS {rss:.0f} MB")
    assert rss < 1024


def test_rotation_flag_turns_frames_upright(matrix):
    """The rotated file holds the video on its side; its flag turns it back, so frames match the source's."""
    from emotion.media import iter_video_frames, probe_video

    rotated = matrix["rotated.mp4"].file
    assert (probe_video(rotated).width, probe_video(rotated).height) == (640, 360)
    times = [0.5, 1.5]
    ours = [img for _, _, img in iter_video_frames(rotated, times)]
    source = [img for _, _, img in iter_video_frames(MEDIA / "single_face.mp4", times)]
    for a, b in zip(ours, source):
        assert a.shape == b.shape == (360, 640, 3)
        assert np.abs(a.astype(int) - b).mean() < 6  # the same picture, but for re-encoding
        assert np.abs(a.astype(int) - cv2.rotate(b, cv2.ROTATE_180)).mean() > 20  # and not upside down


def test_cmyk_jpeg(matrix):
    if "cmyk.jpg" not in matrix:
        pytest.skip("Pillow is not installed, so no CMYK JPEG can be written")
    img = cv2.imdecode(np.fromfile(str(matrix["cmyk.jpg"].file), np.uint8), cv2.IMREAD_UNCHANGED)
    assert img.ndim == 3  # OpenCV converts CMYK itself; the record's face is checked in the batches


def test_upload_limit_is_configured():
    """Streamlit enforces ``server.maxUploadSize`` in the browser, which AppTest cannot reach: check the setting."""
    import tomllib

    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert config["server"]["maxUploadSize"] == MAX_UPLOAD_MB == 1024  # the app and the service share the limit


def test_uploader_help_states_the_limit(at):  # noqa: F811
    help_text = at.file_uploader(key="uploads").proto.help
    assert "1024" in help_text or "1 GB" in help_text, help_text


# ---------------------------------------------------------------------------------------------------------------
# The Analyse page


def page_text(app) -> str:
    """Everything the page shows, as protobuf text (labels, messages, captions, table cells)."""
    parts: list[str] = []

    def walk(node) -> None:  # noqa: ANN001
        if getattr(node, "proto", None) is not None:
            parts.append(str(node.proto))
        for child in getattr(node, "children", {}).values():
            walk(child)

    walk(app._tree)
    parts += [d.value.to_string() for d in app.dataframe]
    return "\n".join(parts)


def results(app) -> dict[str, dict]:
    """The session's records by shown file name."""
    return {e.result.file: e.result.to_dict() for e in app.session_state["analyses"].values()}


@pytest.mark.slow
def test_page_batch_of_bad_inputs(at, matrix, two_hours, tmp_path):  # noqa: F811
    from emotion.media import probe_video

    files = [(name, case.file.read_bytes(), case.mime) for name, case in matrix.items()]
    upload(at, *files)
    assert not at.exception
    assert_clean(page_text(at))
    shown = results(at)
    assert list(shown) == list(matrix)
    assert [rendered(t.label).removeprefix("⚠️ ") for t in at.tabs] == list(matrix)
    errors = [e.value for e in at.error]
    for name, case in matrix.items():
        message = case.check(shown[name])
        assert message and "\n" not in message, name
        if shown[name]["error"]:
            assert f"**{name}**: {shown[name]['error']}" in map(rendered, errors), name
    assert len(errors) == sum(bool(r["error"]) for r in shown.values())
    videos = {e.result.file: e.video for e in at.session_state["analyses"].values()}
    rotated = tmp_path / "annotated_rotated.mp4"
    rotated.write_bytes(videos["rotated.mp4"])
    assert (probe_video(rotated).width, probe_video(rotated).height) == (640, 360)  # drawn upright
    assert all("\n" not in e for e in errors)
    # the app still works afterwards: a 2-hour upload (no annotated video: see the report) and a good image
    next(b for b in at.button if b.label == "Clear results").click().run()
    upload(at, ("two_hours.mp4", two_hours.read_bytes(), "video/mp4"), files[-1])
    shown = results(at)
    assert list(shown) == ["two_hours.mp4", files[-1][0]] and not at.error and not at.exception
    assert len(shown["two_hours.mp4"]["frames"]) == 21 and shown["two_hours.mp4"]["summary"]["faces"] == 21
    assert any("over 10 min long" in c.value for c in at.caption)  # no annotated copy, and it says why
    assert_clean(page_text(at))


@pytest.mark.slow
def test_page_messages_name_the_upload(at, matrix):  # noqa: F811
    upload(at, *[(n, matrix[n].file.read_bytes(), matrix[n].mime) for n in ("no_audio.mp4", "random.wav")])
    text = page_text(at)
    assert "upload.mp4" not in text and "upload.wav" not in text and "emotion-upload-" not in text


@pytest.mark.slow
def test_page_odd_upload_names(at, tmp_path, monkeypatch):  # noqa: F811
    """Only the last part of a name is shown, non-ASCII kept; the copy goes to the private folder only."""
    private = tmp_path / "tmp" / "a" / "b"
    private.mkdir(parents=True)
    monkeypatch.setattr(tempfile, "tempdir", str(private))
    jpg = need(MEDIA / "single_face.jpg").read_bytes()
    png = cv2.imencode(".png", cv2.imread(str(MEDIA / "single_face.jpg")))[1].tobytes()
    names = ["../../etc/x.jpg", "a\\b.png", "visage_ç_日本.jpg"]
    upload(at, (names[0], jpg, "image/jpeg"), (names[1], png, "image/png"), (names[2], jpg, "image/jpeg"))
    assert not at.exception and not at.error
    shown = ["x.jpg", "b.png", "visage_ç_日本.jpg"]
    assert [rendered(t.label) for t in at.tabs] == shown
    assert list(at.dataframe[0].value["file"]) == shown
    assert all(len(r["frames"][0]["faces"]) == 1 for r in results(at).values())
    assert list(results(at)) == shown
    assert not any(private.iterdir())  # each private copy was removed when its analysis ended
    written = {p.name for p in tmp_path.rglob("*") if p.is_file()}
    assert not written & {"x.jpg", "b.png", "a\\b.png", "visage_ç_日本.jpg"}, written
    assert not (tmp_path / "tmp" / "etc").exists() and not Path("/etc/x.jpg").exists()
    assert not (ROOT / "a\\b.png").exists() and not (ROOT.parent.parent / "etc" / "x.jpg").exists()
    text = page_text(at)
    assert "../" not in text and "a\\\\b.png" not in text and "a\\b.png" not in text
    assert_clean(text)
