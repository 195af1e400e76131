"""Voice path on real media with the real shipped model (skipped when ../shared/data is absent)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from sklearn.metrics import balanced_accuracy_score

from emotion.errors import ModelError
from emotion.labels import VOICE_LABELS
from emotion.settings import Settings
from emotion.voice import corpora
from emotion.voice.classifier import AROUSAL
from emotion.voice.features import extract_features
from emotion.voice.persistence import default_model_path, load_voice_model
from emotion.voice.process import (
    AudioError,
    NoAudioTrackError,
    load_audio,
    process_file,
    process_signal,
    window_features,
    windows,
)
from tests import media_tools as mt
from tests.conftest import DATA

MEDIA = DATA / "media"
RAVDESS = DATA / "ravdess"
TESS_FLOOR = 0.48
"""Least accuracy of the shipped model on the held-out TESS speaker (7 classes, chance 0.14; the card gives 0.600 on
all 700 clips, and every 5th clip, which a fresh checkout without the cache extracts, reads 0.586 (0.586-0.621 over
the five offsets); the model on whole clips read 0.449, and the model before the multi-corpus one about 0.31."""
pytestmark = [
    pytest.mark.needs_data,
    pytest.mark.skipif(not DATA.is_dir(), reason=f"shared data not found at {DATA}"),
]


@pytest.fixture(scope="module")
def model():
    return load_voice_model()


@pytest.fixture(scope="module")
def held_out() -> list[Path]:
    """Clips of the actor the shipped model never saw (recorded in the model's sidecar)."""
    actors = json.loads(default_model_path().with_suffix(".json").read_text())["held_out_actors"]
    assert actors, "the shipped model must hold out an actor for this test"
    clips = sorted((RAVDESS / f"Actor_{actors[0]:02d}").glob("03-01-*.flac"))
    assert len(clips) == 60
    return clips


def write_video(path: Path, audio: np.ndarray | None = None, sr: int = 16000, seconds: float = 2.0) -> Path:
    """Write a small mp4 (mpeg4 video, AAC audio if given) with PyAV."""
    import av

    with av.open(str(path), "w") as out:
        video = out.add_stream("mpeg4", rate=10)
        video.width, video.height, video.pix_fmt = 64, 64, "yuv420p"
        sound = out.add_stream("aac", rate=sr, layout="mono") if audio is not None else None
        for i in range(int(seconds * 10)):
            img = np.full((64, 64, 3), (i * 7) % 255, dtype=np.uint8)
            for packet in video.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(packet)
        for packet in video.encode():
            out.mux(packet)
        if sound is not None:
            mt.encode_audio(out, sound, audio, sr)
    return path


@pytest.mark.slow
def test_held_out_actor_is_recognised_well_above_chance(model, held_out):
    """All 60 clips of the held-out actor through the public API: one window per clip, as in training."""
    settings = Settings(segment_seconds=10.0)
    truth = corpora.seven(np.array([VOICE_LABELS[int(c.stem.split("-")[2]) - 1] for c in held_out]))
    results = [process_file(c, settings, model) for c in held_out]
    assert all(r.summary["n_segments"] == 1 for r in results)
    speech = [r.segments[0].speech for r in results]
    assert sum(speech) >= 57, "speech detection missed more than 3 of 60 studio clips"
    pred = [r.segments[0].emotion for r in results]  # the model's label, kept however unsure
    spoken = [(c, r.segments[0]) for c, r in zip(held_out, results) if r.segments[0].speech]
    X = np.vstack(
        [window_features(load_audio(c)[0], [(s.start, s.end)], model.feature_sets, model.trim) for c, s in spoken]
    )
    assert [s.emotion for _, s in spoken] == list(model.predict(X))  # the SVC's vote, not the calibrated argmax
    acc = np.mean([p == t for p, t in zip(pred, truth)])
    assert acc >= 0.35, f"held-out accuracy {acc:.2f} (chance 0.14)"
    assert len(set(pred)) >= 5, f"predictions collapse onto {set(pred)}"
    for r in (r for r in results if r.segments[0].speech):
        seg = r.segments[0]
        assert list(seg.scores) == [lab for lab in VOICE_LABELS if lab in seg.scores]
        assert set(seg.scores) == set(map(str, model.classes_)) and "calm" not in seg.scores
        assert sum(seg.scores.values()) == pytest.approx(1.0, abs=1e-3)
        assert seg.confidence == pytest.approx(seg.scores[seg.emotion], abs=1e-4)  # the label's own probability
        assert seg.uncertain == (seg.confidence < settings.voice_confidence)
        assert 0.0 <= seg.arousal <= 1.0 and -1.0 <= seg.valence <= 1.0
        if not seg.uncertain:
            assert r.summary["dominant_emotion"] == seg.emotion
            assert r.summary["confidence"] == pytest.approx(seg.confidence, abs=1e-4)


@pytest.mark.slow
def test_silence_around_the_speech_does_not_change_the_reading(model, held_out):
    """The same held-out clips with 1.5 s more room tone on each side read the same: windows are cut to their speech.

    Before trimming, the share of silence moved many features; RAVDESS's padded clips taught the model that, and
    tightly cut speech (TESS, continuous talk) read as other emotions (see the card's silence study).
    """
    assert model.trim, "the shipped model reads trimmed windows"
    settings = Settings(segment_seconds=10.0)
    rng = np.random.default_rng(0)
    same, moved_whole, moved_cut = 0, [], []
    for clip in held_out[::6]:
        x, sr = load_audio(clip)
        pad = (rng.standard_normal(int(1.5 * sr)) * 10 ** (-70 / 20)).astype(np.float32)  # quiet room tone
        padded = np.concatenate([pad, x, pad])
        a, b = process_signal(x, sr, settings, model), process_signal(padded, sr, settings, model)
        same += a.segments[0].emotion == b.segments[0].emotion
        for trim, out in ((False, moved_whole), (True, moved_cut)):
            f = [extract_features(v, sr, model.feature_sets, trim=trim) for v in (x, padded)]
            out.append(np.median(np.abs(f[0] - f[1]) / (np.abs(f[0]) + np.abs(f[1]) + 1e-6)))
    assert same >= 9, f"only {same} of 10 clips kept their label with more silence around them"
    assert np.mean(moved_cut) < 0.2 * np.mean(moved_whole), (np.mean(moved_cut), np.mean(moved_whole))


def held_out_tess_features(trim: bool) -> dict:
    """Features of the held-out TESS speaker: the cache when it is there, else every 5th clip extracted now."""
    variant = corpora.variant_of(trim)
    if corpora.cached("tess", variant):
        d = corpora.load_features(None, variant, corpus="tess")
        keep = d["actor"] == corpora.TESS_SPEAKERS[corpora.HELD_OUT_TESS]
        return {"X": corpora.columns(d, ("compare",))[keep], "y": corpora.seven(d["y"][keep])}
    clips = [c for c in corpora.list_tess(corpora.tess_dir()) if c.parent.name.startswith(corpora.HELD_OUT_TESS)][::5]
    X = np.vstack([extract_features(*corpora.read(c), ("compare",), trim=trim) for c in clips])
    return {"X": X, "y": corpora.seven(np.array([corpora.parse_tess(c)[0] for c in clips]))}


@pytest.mark.slow
def test_shipped_model_carries_to_the_held_out_tess_speaker(model):
    """The TESS speaker the shipped model never heard: another voice, age and studio setup than RAVDESS."""
    d = held_out_tess_features(model.trim)
    pred, proba = model.label_and_proba(d["X"])
    conf = model.confidence(pred, proba)
    acc = float(np.mean(pred == d["y"]))
    sure = conf >= Settings().voice_confidence
    acc_sure = float(np.mean(pred[sure] == d["y"][sure]))
    high = np.array([AROUSAL.get(str(v), "") for v in d["y"]])
    m = high != ""
    bacc = balanced_accuracy_score(high[m], np.where(model.predict_arousal(d["X"][m]) >= 0.5, "high", "low"))
    print(
        f"held-out TESS speaker: accuracy {acc:.3f}, confident {acc_sure:.3f} on {sure.mean():.0%}, arousal {bacc:.3f}"
    )
    assert acc >= TESS_FLOOR, f"accuracy {acc:.3f} on the held-out TESS speaker (chance 0.14)"
    assert acc_sure >= acc, "confident windows must be at least as accurate as all windows"
    assert bacc >= 0.75, f"arousal balanced accuracy {bacc:.3f}"
    assert len(set(pred)) >= 5, f"predictions collapse onto {set(pred)}"


@pytest.mark.slow
def test_speech_detection_rejects_music_noise_and_laughter():
    """Built clips (see training/vad_clips.py), drawn with a seed the thresholds were not set on."""
    from emotion.voice.process import speech_windows
    from training.vad_clips import build

    out: dict[str, list[bool]] = {}
    for kind, x in build(seed=3):
        group = "drums" if "drums" in kind else kind.split(":")[0].split(" ")[0]
        out.setdefault(group, []).append(speech_windows(x, [(0.0, len(x) / 16000)])[0])
    rate = {k: float(np.mean(v)) for k, v in out.items()}
    print(rate)
    assert rate["speech"] >= 0.9 and rate["speech+noise10dB"] >= 0.8
    assert rate["music"] <= 0.1 and rate["noise"] <= 0.1 and rate["laughter"] <= 0.2  # drums pass: see the card


@pytest.mark.slow
def test_video_with_speech_yields_speech_segments(model, held_out, tmp_path):
    """An mp4 (AAC) of ten held-out clips: decoded, windowed, mostly speech, and not one class throughout."""
    signal = np.concatenate([sf.read(c, dtype="float32")[0] for c in held_out[::6]])
    video = write_video(tmp_path / "speech.mp4", signal, seconds=signal.size / 16000)
    x, sr = load_audio(video)
    assert sr == 16000 and abs(x.size - signal.size) < 0.1 * 16000
    r = process_file(video, Settings(), model)
    spans = windows(x.size / sr, 3.0, 1.5)
    assert [(s.start, s.end) for s in r.segments] == spans
    speech = [s for s in r.segments if s.speech]
    assert len(speech) >= 0.8 * len(spans)
    assert r.summary["dominant_emotion"] in VOICE_LABELS and 0 < r.summary["confidence"] <= 1
    assert sum(r.summary["emotion_shares"].values()) == pytest.approx(1.0, abs=1e-3)
    assert len({s.emotion for s in speech}) >= 2
    assert 10 < r.summary["speech_seconds"] < x.size / sr


def test_wolfgang_video_is_decoded_but_its_track_is_silent(model):
    """WolfgangLanger_Pexels.mp4 has an AAC track whose samples are all zero (checked with PyAV and ffmpeg)."""
    r = process_file(MEDIA / "WolfgangLanger_Pexels.mp4", Settings(), model)
    assert r.summary["n_segments"] == len(r.segments) == len(windows(19.69, 3.0, 1.5))
    assert r.segments[-1].end == pytest.approx(19.69, abs=0.05)
    assert not any(s.speech for s in r.segments)
    assert r.summary["message"] == "no speech" and r.summary["dominant_emotion"] is None


def test_no_face_video_audio_is_handled(model):
    r = process_file(MEDIA / "no_face.mp4", Settings(), model)
    assert r.summary["n_segments"] == len(r.segments) == 2
    assert r.segments[-1].end == pytest.approx(3.97, abs=0.05)
    for s in r.segments:
        assert (s.emotion in VOICE_LABELS) if s.speech else (s.emotion is None and s.scores == {})


def test_silent_file_says_no_speech(model, tmp_path):
    path = tmp_path / "silence.wav"
    rng = np.random.default_rng(0)
    sf.write(path, (rng.normal(scale=1e-4, size=16000 * 5)).astype(np.float32), 16000)
    r = process_file(path, Settings(), model)
    assert r.summary["message"] == "no speech" and "no speech" in r.note
    assert r.summary["dominant_emotion"] is None and r.summary["emotion_shares"] == {}
    assert r.summary["n_segments"] == 3 and not any(s.speech for s in r.segments)


def test_video_without_audio_track_says_so(tmp_path):
    video = write_video(tmp_path / "mute.mp4")
    with pytest.raises(NoAudioTrackError, match="has no audio track") as err:
        process_file(video)
    assert isinstance(err.value, AudioError) and "\n" not in str(err.value)


@pytest.mark.parametrize("name", ["broken.wav", "broken.mp3", "broken.mp4"])
def test_corrupt_file_raises_clear_error(tmp_path, name):
    path = tmp_path / name
    path.write_bytes(b"RIFF\x00\x00\x00\x00WAVEfmt " + bytes(range(256)) * 8)
    with pytest.raises(AudioError, match="cannot read audio") as err:
        load_audio(path)
    assert not isinstance(err.value, NoAudioTrackError) and "\n" not in str(err.value)
    assert str(tmp_path) not in str(err.value)  # never the (private) path


def test_max_duration_is_respected_and_noted(model, held_out):
    signal = np.concatenate([sf.read(c, dtype="float32")[0] for c in held_out[:3]])
    r = process_signal(signal, 16000, Settings(max_duration=4.0, segment_hop=1.0), model)
    assert r.segments[-1].end <= 4.0 and "first 4 s" in r.note


def test_other_sample_rates_and_denoise(model, held_out):
    """A 44.1 kHz stereo signal is resampled; denoising keeps the speech."""
    from scipy.signal import resample_poly

    x = sf.read(held_out[10], dtype="float32")[0]
    stereo = np.stack([resample_poly(x, 441, 160)] * 2, axis=1).astype(np.float32)
    r = process_signal(stereo, 44100, Settings(denoise=True), model)
    assert any(s.speech for s in r.segments) and r.summary["dominant_emotion"] in VOICE_LABELS


def test_shipped_model_file_stays_under_5_mb():
    """Files over 5 MB are flagged in the repository: the voice model (two SVCs and their PCAs) must stay under."""
    size = default_model_path().stat().st_size
    assert size < 5_000_000, f"voice model is {size / 1e6:.2f} MB"


@pytest.mark.slow
def test_the_label_is_the_svc_vote_and_its_confidence_the_calibrated_probability_of_that_label(model):
    """The shipped model labels by its SVC's own vote; the confidence shown is the calibrated probability of it."""
    d = held_out_tess_features(model.trim)
    pred, proba = model.label_and_proba(d["X"])
    svc = model.model_.calibrated_classifiers_[0].estimator  # the pipeline fitted on all the training data
    assert model.label == "svc" and list(pred) == list(svc.predict(d["X"])) == list(model.predict(d["X"]))
    assert np.allclose(proba, model.predict_proba(d["X"])) and np.allclose(proba.sum(axis=1), 1.0)
    conf = model.confidence(pred, proba)
    column = [list(model.classes_).index(p) for p in pred]
    assert np.array_equal(conf, proba[np.arange(len(pred)), column]) and np.all(conf <= proba.max(axis=1))


@pytest.mark.slow
def test_a_saved_and_reloaded_model_predicts_the_same(model, tmp_path):
    """The file stores the support vectors as float32 and the loader casts them back: nothing a user sees moves."""
    from emotion.voice.persistence import save_voice_model

    d = held_out_tess_features(model.trim)
    again = load_voice_model(save_voice_model(model, tmp_path / "again.skops"))
    assert again is not model
    svcs = [c.estimator.steps[-1][1] for m in (again.model_, again.arousal_model_) for c in m.calibrated_classifiers_]
    assert svcs and all(s.support_vectors_.dtype == np.float64 for s in svcs)
    assert list(again.predict(d["X"])) == list(model.predict(d["X"]))
    assert np.allclose(again.predict_proba(d["X"]), model.predict_proba(d["X"]), atol=1e-6)
    assert np.allclose(again.predict_arousal(d["X"]), model.predict_arousal(d["X"]), atol=1e-6)


@pytest.mark.slow
def test_a_model_fitted_now_and_the_shipped_one_load_as_the_same_class(model, tmp_path):
    """The shipped file names the classes by their path before the split (``emotion.voice.model``); a model fitted and
    saved now names ``emotion.voice.classifier``. Both load as the one classifier; the new one predicts as fitted."""
    import skops.io as sio

    from emotion.voice.classifier import VoiceEmotionClassifier
    from emotion.voice.persistence import save_voice_model

    d = held_out_tess_features(model.trim)
    params = {**model.get_params(), "param_grid": None, "cv": 2, "k": 50, "components": 10}
    fresh = VoiceEmotionClassifier(**params).fit(d["X"], d["y"])
    path = save_voice_model(fresh, tmp_path / "fresh.skops")
    names = set(sio.get_untrusted_types(file=path))
    assert "emotion.voice.classifier.VoiceEmotionClassifier" in names
    assert not any(n.startswith("emotion.voice.model.") for n in names)
    assert "emotion.voice.model.VoiceEmotionClassifier" in sio.get_untrusted_types(file=default_model_path())
    again = load_voice_model(path)
    assert type(again) is type(model) is VoiceEmotionClassifier
    assert list(again.predict(d["X"])) == list(fresh.predict(d["X"]))
    assert np.allclose(again.predict_arousal(d["X"]), fresh.predict_arousal(d["X"]), atol=1e-6)


def test_model_file_is_checked(tmp_path):
    with pytest.raises(ModelError, match="not found"):
        load_voice_model(tmp_path / "missing.skops")
    copy = tmp_path / "voice_svm.skops"
    shutil.copy(default_model_path(), copy)
    meta = json.loads(default_model_path().with_suffix(".json").read_text())
    meta["sha256"] = "0" * 64
    copy.with_suffix(".json").write_text(json.dumps(meta))
    with pytest.raises(ModelError, match="checksum mismatch"):
        load_voice_model(copy)


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng not installed")
@pytest.mark.xfail(
    strict=True,
    reason="known limit (models/voice_svm.md): formant-synthesised speech is far from every RAVDESS and TESS voice "
    "and the shipped model answers one class for all of it; strict, so a model that fixes this turns the test red",
)
def test_synthetic_speech_does_not_collapse_to_one_class(model, tmp_path):
    """Speech from another 'channel' (espeak-ng): the model should not answer one class for every voice."""
    import subprocess

    preds = set()
    voices = [("en-us", 50, 175), ("en+f3", 80, 220), ("en+m3", 20, 110), ("en-gb", 60, 150)]
    for i, (voice, pitch, speed) in enumerate(voices):
        wav = tmp_path / f"{i}.wav"
        text = "Kids are talking by the door." if i % 2 else "Dogs are sitting by the door."
        cmd = ["espeak-ng", "-v", voice, "-p", str(pitch), "-s", str(speed), "-w", str(wav), text]
        subprocess.run(cmd, check=True)
        r = process_file(wav, Settings(segment_seconds=10.0), model)
        preds |= {s.emotion for s in r.segments if s.speech}  # top labels, confident or not
    assert len(preds) >= 2, preds
