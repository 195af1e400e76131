"""Real-time factor of the voice path on a 60 s clip, stage by stage, and the retrain time from cached features.

Usage, from the repository root: ``.venv/bin/python -m bench.bench_audio [--repeat 3] [--no-retrain]``

The clip is 60 s of RAVDESS speech (clips of two actors joined), encoded to AAC in an .m4a file so that decoding
is measured on a compressed upload. WolfgangLanger_Pexels.mp4 cannot be looped for this: its audio track is silent.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from emotion import settings
from emotion.settings import Settings, ravdess_dir
from emotion.voice.features import extract_features
from emotion.voice.levels import SR
from emotion.voice.persistence import load_voice_model
from emotion.voice.process import load_audio, process_file, speech_frames, speech_windows, window_features, windows
from tests.media_tools import encode_audio

SECONDS = 60.0


def make_clip(path: Path) -> Path:
    """Write 60 s of RAVDESS speech as AAC in an .m4a file."""
    import av
    import soundfile as sf

    ravdess = ravdess_dir()
    clips = sorted(ravdess.glob("Actor_0[12]/03-01-*.flac"))
    if not clips:
        raise SystemExit(f"RAVDESS not found at {ravdess} (set EMOTION_RAVDESS)")
    parts, total = [], 0
    for c in clips:
        parts.append(sf.read(c, dtype="float32")[0])
        total += parts[-1].size
        if total >= SECONDS * SR:
            break
    x = np.concatenate(parts)[: int(SECONDS * SR)]
    with av.open(str(path), "w") as out:
        encode_audio(out, out.add_stream("aac", rate=SR, layout="mono"), x, SR)
    return path


def stages(path: Path, settings: Settings, model: object) -> dict[str, float]:
    """Time the steps of :func:`emotion.voice.process.process_file` one by one (seconds)."""
    import noisereduce

    t = {}
    t0 = time.perf_counter()
    x, sr = load_audio(path)
    t["decode"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    noisereduce.reduce_noise(y=x, sr=sr, n_jobs=1)
    t["denoise (optional)"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    all_spans = windows(x.size / sr, settings.segment_seconds, settings.segment_hop)
    spans = [span for span, ok in zip(all_spans, speech_windows(x, all_spans, speech_frames(x))) if ok]
    t["speech detection"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    feats = window_features(x, spans, model.feature_sets, model.trim)
    t["features"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    model.label_and_proba(feats)  # the SVC's vote and the calibrated probabilities, as process_signal reads them
    model.predict_arousal(feats)
    t["predict (emotion + arousal)"] = time.perf_counter() - t0
    t["n speech windows"] = len(spans)
    return t


def main() -> None:
    """Print the stage timings as real-time factors, then the retrain time."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3, help="runs per stage; the median is shown")
    ap.add_argument("--no-retrain", action="store_true", help="skip the retrain timing")
    a = ap.parse_args()
    t0 = time.perf_counter()
    model = load_voice_model()
    print(f"model load: {time.perf_counter() - t0:.2f} s (feature sets {model.feature_sets})")
    settings = Settings()
    with tempfile.TemporaryDirectory() as tmp:
        clip = make_clip(Path(tmp) / "speech60.m4a")
        extract_features(np.zeros(SR, np.float32), SR, model.feature_sets)  # build the Smile objects once
        runs = [stages(clip, settings, model) for _ in range(a.repeat)]
        t0 = time.perf_counter()
        r = process_file(clip, settings, model)
        e2e = time.perf_counter() - t0
    print(
        f"clip: {SECONDS:.0f} s AAC, windows {settings.segment_seconds:g} s / hop {settings.segment_hop:g} s, "
        f"{runs[0]['n speech windows']:.0f} speech windows of {r.summary['n_segments']}"
    )
    print(f"{'stage':<24}{'seconds':>9}{'RTF':>9}")
    core = 0.0
    for k in runs[0]:
        if k == "n speech windows":
            continue
        v = float(np.median([run[k] for run in runs]))
        core += v if "denoise" not in k else 0.0
        print(f"{k:<24}{v:>9.3f}{v / SECONDS:>9.4f}")
    print(f"{'total without denoise':<24}{core:>9.3f}{core / SECONDS:>9.4f}")
    print(f"{'process_file (e2e)':<24}{e2e:>9.3f}{e2e / SECONDS:>9.4f}")
    result = {
        "bench": "audio",
        "seconds": SECONDS,
        "rtf": round(core / SECONDS, 4),
        "rtf_e2e": round(e2e / SECONDS, 4),
        "retrain_s": None,
        "retrain_note": "skipped (--no-retrain)",
    }
    if not a.no_retrain:
        result.update(retrain())
    print("RESULT " + json.dumps(result))


def retrain() -> dict:
    """Time the learning loop's voice retrain (RAVDESS + TESS base, gate included) against the full training fit.

    Returns:
        ``retrain_s`` (the retrain, None if it cannot run; the target is 60 s on 2 cores), ``train_s`` (the
        shipped model's fit on the same cached features) and a note.
    """
    import os

    from emotion.learning import jobs as learning
    from emotion.storage.learning_store import Item, LearningStore
    from emotion.voice import corpora
    from emotion.voice.classifier import VoiceEmotionClassifier
    from training import train_audio

    try:
        d = corpora.load_both(corpora.variant_of(train_audio.FINAL["trim"]), train_audio.FINAL["feature_sets"])
    except FileNotFoundError as exc:
        print(f"retrain: {exc}")
        return {"retrain_s": None, "retrain_note": str(exc)}
    held = corpora.held_out(d)
    t0 = time.perf_counter()
    VoiceEmotionClassifier(**{**train_audio.FINAL, "n_jobs": 2}).fit(d["X"][~held], d["y"][~held], d["group"][~held])
    full = time.perf_counter() - t0
    with tempfile.TemporaryDirectory() as tmp:
        os.environ.setdefault("EMOTION_CACHE_DIR", str(settings.cache_dir()))  # the base features stay cached
        os.environ["EMOTION_DATA_DIR"] = tmp  # the retrain's store, registry and progress stay private
        store = LearningStore(auto_threshold=1.01)
        rows = np.flatnonzero(d["group"] == corpora.HELD_OUT_ACTOR)[:30]
        X = d["X"]
        ids = store.add([Item("bench", "voice", str(d["y"][i]), {str(d["y"][i]): 0.5}, X[i]) for i in rows])
        store.correct({i: str(d["y"][j]) for i, j in zip(ids, rows)})
        t0 = time.perf_counter()
        out = learning.retrain("voice", store)
        seconds = time.perf_counter() - t0
    note = f"{out['data']['base_clips']} RAVDESS + TESS clips + {out['data']['store_items']} corrections, gate included"
    print(
        f"full training fit (2 jobs): {full:.1f} s; learning-loop retrain ({note}): {seconds:.1f} s"
        f" = {seconds / full:.2f}x (target <= 60 s)"
    )
    return {
        "retrain_s": round(seconds, 1),
        "train_s": round(full, 1),
        "retrain_note": f"{note}; {seconds / full:.2f}x the shipped model's fit, {full:.0f} s",
    }


if __name__ == "__main__":
    main()
