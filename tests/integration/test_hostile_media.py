"""Hostile files: decompression bombs, absurd sample rates and lying durations are refused or bounded.

Every file is made at test time (``tests/media_tools.py``): a real PNG deflate bomb, a real JPEG whose frame header is
patched to 30000x30000, a 30000x30000 deflate TIFF of a few kB, a WebP whose header says 16383x16383, audio at
1 Hz and 768 kHz, a WAV whose header claims 37 hours, and videos whose headers claim a day or 72,000,000 s while
holding 20 s. Each bomb is opened in a child process under an address-space cap (RLIMIT_AS), so a regression
fails here instead of taking the test run down, and the child's peak RSS is bounded. (Before the limits, the PNG
bomb peaked at 6.6 GB, the JPEG at 5.2 GB, the TIFF at 3.5 GB and the 1 Hz WAV at 3.3 GB.)
"""

from __future__ import annotations

import json
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from emotion.errors import AudioError, NoAudioTrackError
from emotion.settings import MAX_SAMPLES, Settings
from tests import media_tools as mt
from tests.conftest import MEDIA, need

pytestmark = [pytest.mark.needs_data]

IMAGE_CAP = 3.0
"""GiB of address space for a child that reads media (Python, OpenCV and PyAV take about 1 GiB of it)."""
PIPELINE_CAP = 4.0
"""GiB of address space for a child that loads the models and analyses a file."""


@pytest.fixture(scope="module")
def hostile(tmp_path_factory) -> dict[str, Path]:
    """The hostile files, by name."""
    d = tmp_path_factory.mktemp("hostile")
    face = need(MEDIA / "single_face.jpg")
    small_png = cv2.imencode(".png", cv2.imread(str(face)))[1].tobytes()
    files = {
        "bomb.png": mt.png_bomb(d / "bomb.png"),
        "bomb16.png": mt.png_bomb(d / "bomb16.png", depth=16),
        "patched.png": mt.patched_png(small_png, d / "patched.png", 12000, 12000),
        "bomb.jpg": mt.patched_jpeg(face, d / "bomb.jpg", 30000, 30000),
        "bomb.tif": mt.tiff_bomb(d / "bomb.tif"),
        "bomb.webp": mt.patched_webp(face, d / "bomb.webp", 16383, 16383),
        "1hz.wav": mt.audio_at_rate(d / "1hz.wav"),
        "1hz.flac": mt.audio_at_rate(d / "1hz.flac"),
        "1hz.ogg": mt.audio_at_rate(d / "1hz.ogg"),
        "768khz.wav": mt.audio_at_rate(d / "768khz.wav", rate=768_000, samples=76_800),
        "claims_37h.wav": mt.wav_claiming(d / "claims_37h.wav"),
        "lying.mkv": mt.lying_mkv(need(MEDIA / "WolfgangLanger_Pexels.mp4"), d / "lying.mkv"),
        "lying.mp4": mt.lying_mp4(MEDIA / "WolfgangLanger_Pexels.mp4", d / "lying.mp4"),
    }
    assert all(p.stat().st_size < 1_200_000 for n, p in files.items() if "bomb" in n)  # small on disk
    return files


def _paths(hostile: dict[str, Path], *names: str) -> str:
    return json.dumps({n: str(hostile[n]) for n in names})


IMAGES = ("bomb.png", "bomb16.png", "patched.png", "bomb.jpg", "bomb.tif", "bomb.webp")


@pytest.mark.slow
def test_image_bombs_are_refused_from_their_header(hostile):
    code = f"""
from emotion.media import MediaError, read_image
for name, path in {_paths(hostile, *IMAGES)}.items():
    try:
        out[name] = list(read_image(path).shape)
    except MediaError as exc:
        out[name] = str(exc)
"""
    out, peak, wall = mt.run_capped(code, IMAGE_CAP)
    print(f"{len(IMAGES)} image bombs: peak RSS {peak:.0f} MB, {wall:.1f} s")
    for name in IMAGES:
        assert isinstance(out[name], str) and out[name].startswith("the image is too large to analyse ("), out[name]
        assert "the limit is 50 megapixels" in out[name] and "\n" not in out[name]
    assert "12000x12000, 144 megapixels" in out["bomb.png"]
    assert "900 megapixels" in out["bomb.jpg"] and "268 megapixels" in out["bomb.webp"]
    assert peak < 250


@pytest.mark.slow
def test_bombs_give_a_one_line_error_in_the_record(hostile):
    """Through the analysis path: the record says why, the process lives on, and memory stays low."""
    names = ("bomb.png", "bomb.jpg", "bomb.tif", "1hz.wav", "1hz.flac")
    code = f"""
from emotion.analysis.pipeline import Models, analyze_file
from emotion.settings import Settings
models = Models.load(Settings())
for name, path in {_paths(hostile, *names)}.items():
    out[name] = analyze_file(path, Settings(), models).error
"""
    out, peak, wall = mt.run_capped(code, PIPELINE_CAP)
    print(f"bombs through analyze_file: peak RSS {peak:.0f} MB, {wall:.1f} s")
    for name in ("bomb.png", "bomb.jpg", "bomb.tif"):
        assert out[name].startswith("the image is too large to analyse"), out[name]
    for name in ("1hz.wav", "1hz.flac"):
        assert out[name] == "the audio's sample rate (1 Hz) is outside 4000..384000 Hz, so it is not decoded"
    assert peak < 600


@pytest.mark.slow
def test_a_large_image_under_the_limit_is_analysed_at_half_size(tmp_path):
    """An 8000x6000 photo (48 MP) is read at 4000x3000 (a JPEG is decoded at that size) and its face is found;
    a 7000x7000 16-bit RGBA PNG (49 MP, transparent) is read at 3500x3500, composited on white."""
    face = cv2.imread(str(need(MEDIA / "single_face.jpg")))
    cv2.imwrite(str(tmp_path / "big.jpg"), cv2.resize(face, (8000, 6000), interpolation=cv2.INTER_CUBIC))
    mt.png_bomb(tmp_path / "big16.png", side=7000, depth=16)
    code = f"""
from emotion.analysis.pipeline import analyze_file
from emotion.media import read_image
from emotion.settings import Settings
img = read_image({str(tmp_path / "big16.png")!r})
out["png"] = [list(img.shape), int(img.min())]
del img
r = analyze_file({str(tmp_path / "big.jpg")!r}, Settings(audio=False))
out["jpg"] = [r.error, r.width, r.height, r.notes, len(r.frames[0].faces)]
"""
    out, peak, wall = mt.run_capped(code, PIPELINE_CAP)
    print(f"49 MP 16-bit RGBA PNG and a 48 MP JPEG analysed: peak RSS {peak:.0f} MB, {wall:.1f} s")
    assert out["png"] == [[3500, 3500, 3], 255]
    error, width, height, notes, faces = out["jpg"]
    assert error is None and (width, height) == (4000, 3000) and faces == 1
    assert notes == ["the image (8000x6000) was analysed at 4000x3000 (it is over 25 megapixels)"]
    assert peak < 1200


def test_images_keep_their_pixels(tmp_path):
    """The banded conversion gives what the whole-image one gave: 16-bit scaled, alpha on white, gray expanded."""
    from emotion.media import read_image

    rng = np.random.default_rng(3)
    rgba16 = rng.integers(0, 65536, (1100, 300, 4), dtype=np.uint16)
    cv2.imwrite(str(tmp_path / "rgba16.png"), rgba16)
    eight = (rgba16 / 257.0).round().astype(np.uint8)
    alpha = eight[:, :, 3:4].astype(np.float32) / 255.0
    want = (eight[:, :, :3].astype(np.float32) * alpha + 255.0 * (1.0 - alpha)).round().astype(np.uint8)
    assert np.array_equal(read_image(tmp_path / "rgba16.png"), want)
    gray = rng.integers(0, 256, (700, 90), dtype=np.uint8)
    cv2.imwrite(str(tmp_path / "gray.png"), gray)
    assert np.array_equal(read_image(tmp_path / "gray.png"), cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR))


@pytest.mark.slow
def test_audio_outside_the_sample_rates_is_refused_before_decoding(hostile):
    names = ("1hz.wav", "1hz.flac", "1hz.ogg", "768khz.wav", "claims_37h.wav")
    code = f"""
from emotion.voice.process import AudioError, load_audio
for name, path in {_paths(hostile, *names)}.items():
    try:
        out[name] = load_audio(path)[0].size
    except AudioError as exc:
        out[name] = str(exc)
"""
    out, peak, wall = mt.run_capped(code, IMAGE_CAP)
    print(f"1 Hz, 768 kHz and lying WAVs: peak RSS {peak:.0f} MB, {wall:.1f} s")
    for name in ("1hz.wav", "1hz.flac", "1hz.ogg"):
        assert out[name] == "the audio's sample rate (1 Hz) is outside 4000..384000 Hz, so it is not decoded"
    assert out["768khz.wav"] == "the audio's sample rate (768000 Hz) is outside 4000..384000 Hz, so it is not decoded"
    assert out["claims_37h.wav"] == 5 * 16000  # what the data hold, not what the header claims
    assert peak < 400


def test_audio_at_the_lowest_rate_still_decodes(tmp_path):
    from emotion.voice.process import load_audio

    signal, sr = load_audio(mt.audio_at_rate(tmp_path / "4khz.wav", rate=4000, samples=8000))
    assert sr == 16000 and signal.size == 32000 and float(np.abs(signal).max()) > 0.01


def test_decoded_audio_stops_at_the_limit(tmp_path, monkeypatch):
    """At most MAX_AUDIO_SECONDS (or max_duration + 1 s) are decoded, and the record says so."""
    from emotion.voice import process

    five = mt.tone(tmp_path / "five.wav", 5.0, hz=440)
    assert process.load_audio(five, max_duration=1.0)[0].size == 2 * 16000
    monkeypatch.setattr(process, "MAX_AUDIO_SECONDS", 2.0)
    assert process.load_audio(five)[0].size == 2 * 16000
    result = process.process_file(five, Settings())
    assert result.segments[-1].end == 2.0
    cut = "only the first 2 s of the audio were analysed (the most that is decoded)"
    assert result.note == f"{cut}; no speech detected"


def test_the_ffmpeg_fallback_is_bounded_too(tmp_path, monkeypatch):
    """When PyAV fails, the ffmpeg binary decodes, read as it comes and stopped at the same limits."""
    from emotion.voice import process

    def fail(path: Path, limit: float) -> np.ndarray:
        raise RuntimeError("PyAV is not available")

    monkeypatch.setattr(process, "_decode_pyav", fail)
    five = mt.tone(tmp_path / "five.wav", 5.0, hz=440)
    assert process.load_audio(five)[0].size == 5 * 16000
    assert process.load_audio(five, max_duration=1.0)[0].size == 2 * 16000
    monkeypatch.setattr(process, "MAX_AUDIO_SECONDS", 3.0)
    assert process.load_audio(five)[0].size == 3 * 16000
    with pytest.raises(NoAudioTrackError):
        process.load_audio(mt.without_audio(need(MEDIA / "single_face.mp4"), tmp_path / "mute.mp4"))
    (tmp_path / "junk.wav").write_bytes(b"RIFF" + bytes(200))
    with pytest.raises(AudioError, match="cannot read audio"):
        process.load_audio(tmp_path / "junk.wav")


@pytest.mark.slow
def test_a_video_that_lies_about_its_duration(hostile):
    """72,000,000 s (Matroska) or a day (MP4) claimed, 19.7 s held: sampled over what is held, at any fps."""
    code = f"""
from emotion.analysis.pipeline import Models, analyze_file
from emotion.settings import Settings
models = Models.load(Settings())
for name, path in {_paths(hostile, "lying.mkv", "lying.mp4")}.items():
    for fps in (5.0, 0.5):
        r = analyze_file(path, Settings(fps=fps), models)
        out[f"{{name}} {{fps}}"] = [r.error, r.duration, [f.t for f in r.frames], r.notes, r.audio.segments[-1].end]
"""
    out, peak, wall = mt.run_capped(code, PIPELINE_CAP)
    print(f"lying videos at 5 and 0.5 fps, with audio: peak RSS {peak:.0f} MB, {wall:.1f} s")
    for name, claim in (("lying.mkv", "72000000"), ("lying.mp4", "89498")):
        for fps, count in ((5.0, 98), (0.5, 9)):
            error, duration, times, notes, voice_end = out[f"{name} {fps}"]
            assert voice_end == pytest.approx(19.69, abs=0.05)  # the sound too: its header claims as much
            assert error is None and duration == pytest.approx(19.69, abs=0.05), (name, fps)
            assert notes == [f"the video holds 19.7 s, though the file claims {claim} s; the 19.7 s were analysed"]
            assert len(times) == count and times == sorted(times) and 0 < times[0] and times[-1] < 19.7
    assert peak < 700 and wall < 120


@pytest.mark.slow
def test_samples_are_capped_with_a_note(monkeypatch):
    from emotion import media
    from emotion.analysis import pipeline

    assert len(media.sample_times(7200.0, fps=30.0)) == MAX_SAMPLES  # not 216,000
    monkeypatch.setattr(media, "MAX_SAMPLES", 40)
    monkeypatch.setattr(pipeline, "MAX_SAMPLES", 40)
    r = pipeline.analyze_file(need(MEDIA / "WolfgangLanger_Pexels.mp4"), Settings(fps=5.0, audio=False))
    assert r.error is None and len(r.frames) == 40
    assert "98 frames at 5 per second are more than the 40 a video may have sampled; 40 were sampled evenly" in r.notes


@pytest.mark.slow
def test_a_video_whose_sound_is_at_1_hz(tmp_path):
    """The faces are still analysed, the voice says why it was not, and the annotated copy is silent; sound at
    4 kHz (which AAC cannot hold) is re-encoded at 48 kHz."""
    from emotion.analysis.pipeline import analyze_file
    from emotion.report.annotate import annotate_video

    video = need(MEDIA / "single_face.mp4")
    for rate, sound in ((1, None), (4000, 48000)):
        wav = mt.audio_at_rate(tmp_path / f"{rate}.wav", rate=rate, samples=50_000 if rate == 1 else int(2.4 * rate))
        mkv = tmp_path / f"{rate}.mkv"
        mt.ffmpeg("-i", video, "-i", wav, "-map", "0:v", "-map", "1:a", "-c", "copy", mkv)
        r = analyze_file(mkv, Settings())
        assert r.error is None and len(r.frames) == 21 and r.duration == pytest.approx(2.4, abs=0.05)
        if rate == 1:  # 50,000 samples at 1 Hz: the file claims 14 hours, which is no reason to sample them
            assert r.audio.note == "the audio's sample rate (1 Hz) is outside 4000..384000 Hz, so it is not decoded"
            assert r.notes == ["the video holds 2.4 s, though the file claims 50000 s; the 2.4 s were analysed"]
        out = annotate_video(mkv, r, tmp_path / f"annotated-{rate}.mp4")
        with av.open(str(out)) as copy:
            assert copy.streams.video[0].frames == 72
            assert [s.codec_context.sample_rate for s in copy.streams.audio] == ([sound] if sound else [])
