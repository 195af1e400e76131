"""Real-time factor of the voice path on a 60 s clip, stage by stage, and the retrain time from cached features.

Usage: ``.venv/bin/python bench/bench_audio.py [--repeat 3] [--no-retrain]``

The clip is 60 s of RAVDESS speech (clips of two actors joined), encoded to AAC in an .m4a file so that decoding
is measured on a compressed upload. WolfgangLanger_Pexels.mp4 cannot be looped for this: its audio track is silent.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "training"))

from emotion.audio import load_audio, process_file, speech_frames, window_features, windows  # noqa: E402
from emotion.settings import Settings  # noqa: E402
from emotion.voice_model import SR, extract_features, load_voice_model  # noqa: E402

RAVDESS = ROOT.parent / "shared" / "data" / "ravdess"
SECONDS = 60.0


def make_clip(path: Path) -> Path:
    """Write 60 s of RAVDESS speech as AAC in an .m4a file."""
    import av
    import soundfile as sf

    clips = sorted(RAVDESS.glob("Actor_0[12]/03-01-*.flac"))
    if not clips:
        raise SystemExit(f"RAVDESS not found at {RAVDESS}")
    parts, total = [], 0
    for c in clips:
        parts.append(sf.read(c, dtype="float32")[0])
        total += parts[-1].size
        if total >= SECONDS * SR:
            break
    x = np.concatenate(parts)[: int(SECONDS * SR)]
    with av.open(str(path), "w") as out:
        stream = out.add_stream("aac", rate=SR, layout="mono")
        for start in range(0, x.size, 1024):
            frame = av.AudioFrame.from_ndarray(x[None, start : start + 1024], format="flt", layout="mono")
            frame.sample_rate, frame.pts = SR, start
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def stages(path: Path, settings: Settings, model: object) -> dict[str, float]:
    """Time the steps of :func:`emotion.audio.process_file` one by one (seconds)."""
    import noisereduce

    t = {}
    t0 = time.perf_counter()
    x, sr = load_audio(path)
    t["decode"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    noisereduce.reduce_noise(y=x, sr=sr, n_jobs=1)
    t["denoise (optional)"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    active = speech_frames(x)
    spans = [(s, e) for s, e in windows(x.size / sr, settings.segment_seconds, settings.segment_hop)
             if active[int(s * 100) : int(e * 100)].sum() / 100 >= max(0.25, 0.15 * (e - s))]
    t["speech detection"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    feats = window_features(x, spans, model.feature_sets)
    t["features"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    model.predict_proba(feats)
    t["predict"] = time.perf_counter() - t0
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
    print(f"clip: {SECONDS:.0f} s AAC, windows {settings.segment_seconds:g} s / hop {settings.segment_hop:g} s, "
          f"{runs[0]['n speech windows']:.0f} speech windows of {r.summary['n_segments']}")
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
    result = {"bench": "audio", "seconds": SECONDS, "rtf": round(core / SECONDS, 4), "rtf_e2e": round(e2e / SECONDS, 4),
              "retrain_s": None, "retrain_note": "skipped (--no-retrain)"}
    if not a.no_retrain:
        result.update(retrain())
    print("RESULT " + json.dumps(result))


def retrain() -> dict:
    """Time a retrain from the cached features; return ``retrain_s`` (None if it cannot run) and a note."""
    import train_audio

    cache = list(train_audio.CACHE.glob("ravdess_norm_*.npz"))
    if not cache:
        print("retrain: no cached features (run training/train_audio.py once)")
        return {"retrain_s": None, "retrain_note": "no cached features (run training/train_audio.py once)"}
    d = dict(np.load(cache[0], allow_pickle=False))
    train = d["actor"] != train_audio.HELD_OUT_ACTOR
    t0 = time.perf_counter()
    train_audio.final_model(jobs=2).fit(d["X"][train], d["y"][train], groups=d["actor"][train])
    seconds = time.perf_counter() - t0
    print(f"retrain from cached features ({int(train.sum())} clips, grid + calibration, 2 jobs): {seconds:.1f} s")
    return {"retrain_s": round(seconds, 1), "retrain_note": f"{int(train.sum())} clips, grid + calibration, 2 jobs"}


if __name__ == "__main__":
    main()
