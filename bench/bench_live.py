"""Live frame callback speed on 640x480 frames of a real face video, against the plain per-frame pipeline, with and
without the live voice (a worker reading real speech, fed 20 ms at a time in real time, as the microphone is).

Usage, from the repository root: python -m bench.bench_live [VIDEO] [--frames 200]

VIDEO defaults to ``media/WolfgangLanger_Pexels.mp4`` in the shared data (:func:`emotion.settings.shared_data`).
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from pathlib import Path

import cv2
import numpy as np

from emotion.analysis.live import LiveProcessor
from emotion.analysis.live_voice import VoiceWorker
from emotion.analysis.pipeline import Models, analyze_frame
from emotion.media import iter_video_frames, probe_video, sample_times
from emotion.settings import Settings, ravdess_dir, shared_data


def frames_640x480(video: Path, n: int) -> list[np.ndarray]:
    info = probe_video(video)
    times = sample_times(min(info.duration, n / 24), n)
    return [cv2.resize(img, (640, 480), interpolation=cv2.INTER_AREA) for _, _, img in iter_video_frames(video, times)]


def run(step, frames: list[np.ndarray], camera_fps: float = 30.0) -> tuple[float, np.ndarray]:
    """Feed frames as a camera would, in real time; frames that arrive while the callback is busy are
    dropped, as streamlit-webrtc does. Returns analysed fps and the latencies (ms) of analysed frames (frames a
    target fps passes through, drawn with the last faces, are not counted)."""
    lat = []
    t0 = time.perf_counter()
    i = 0
    while i < len(frames):
        wait = t0 + i / camera_fps - time.perf_counter()
        if wait > 0:
            time.sleep(wait)
        s = time.perf_counter()
        done = step(frames[i], t0 + i / camera_fps)
        if done is not False:
            lat.append((time.perf_counter() - s) * 1000)
        i = max(i + 1, int((time.perf_counter() - t0) * camera_fps))  # skip frames that arrived meanwhile
    return len(lat) / (time.perf_counter() - t0), np.array(lat)


def speech_48k(seconds: float) -> np.ndarray:
    """Real speech (RAVDESS sentences of several actors, one after another) at 48 kHz, like a browser microphone."""
    import soundfile as sf
    from scipy.signal import resample_poly

    clips, total = [], 0
    for path in sorted(ravdess_dir().glob("Actor_*/*.flac"))[::97]:
        x, sr = sf.read(str(path), dtype="float32")
        clips.append(resample_poly(x, 48000, sr).astype(np.float32))
        total += clips[-1].size
        if total >= seconds * 48000:
            break
    return np.concatenate(clips)


def microphone(worker: VoiceWorker, audio: np.ndarray, stop: threading.Event) -> None:
    """Push 20 ms of audio every 20 ms, as streamlit-webrtc's audio thread does."""
    t0 = time.perf_counter()
    for k, i in enumerate(range(0, audio.size - 960, 960)):
        if stop.is_set():
            return
        wait = t0 + k * 0.02 - time.perf_counter()
        if wait > 0:
            time.sleep(wait)
        worker.push(audio[i : i + 960], 48000)


def live_step(processor: LiveProcessor):
    """The processor as the benchmark's step: True when the frame was analysed."""
    return lambda f, t: processor.process(f, now=t)[1] is not None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("video", nargs="?", help="video file (default: WolfgangLanger_Pexels.mp4 of the shared media)")
    parser.add_argument("--frames", type=int, default=200)
    args = parser.parse_args()
    args.video = args.video or str(shared_data() / "media" / "WolfgangLanger_Pexels.mp4")
    frames = frames_640x480(Path(args.video), args.frames)
    settings = Settings(audio=False)
    models = Models.load(settings)
    target = settings.live_fps
    processor = LiveProcessor(models, settings=settings, target_fps=target)
    run(live_step(processor), frames[:10])  # warm-up
    base_fps, base_lat = run(lambda f, t: analyze_frame(f, models, settings), frames)
    processor = LiveProcessor(models, settings=settings, target_fps=target)
    live_fps, live_lat = run(live_step(processor), frames)
    processor.close()
    faces = sum(1 for _ in range(processor.updates.qsize()) if processor.updates.get_nowait().faces)

    from emotion.learning.active import load_active_voice_model

    worker = VoiceWorker(Settings(), load_active_voice_model()[0])
    audio = speech_48k(len(frames) / 30 + 10)
    worker.feed(audio[: 48000 * 3], 48000, 0.0)  # warm-up: the feature extractor's first call builds it
    worker = VoiceWorker(Settings(), worker.model)
    stop = threading.Event()
    mic = threading.Thread(target=microphone, args=(worker, audio, stop), daemon=True)
    processor = LiveProcessor(models, settings=settings, target_fps=target)
    mic.start()
    time.sleep(3.0)  # the first window fills
    voice_fps, voice_lat = run(live_step(processor), frames)
    stop.set()
    mic.join()
    processor.close()
    worker.close()
    readings = [worker.updates.get_nowait() for _ in range(worker.updates.qsize())]
    speech = sum(u.segment.speech for u in readings)
    voice_ms = np.array([u.latency_ms for u in readings if u.segment.speech] or [0.0])

    print(f"{len(frames)} frames at 640x480, fed at 30 fps, from {Path(args.video).name}; target {target:g} fps")
    print(f"live frames analysed: {len(live_lat)}, with a face drawn: {faces}")
    print(f"voice: {len(readings)} windows read ({speech} speech), {np.median(voice_ms):.0f} ms median per reading, "
          f"{worker.dropped} audio frames dropped")  # fmt: skip
    print(f"{'callback':<38}{'fps':>7}{'median ms':>11}{'p95 ms':>9}")
    for name, fps, lat in [
        ("plain: detect+classify every frame", base_fps, base_lat),
        ("LiveProcessor, no voice", live_fps, live_lat),
        ("LiveProcessor, voice on", voice_fps, voice_lat),
    ]:
        print(f"{name:<38}{fps:>7.1f}{np.median(lat):>11.1f}{np.percentile(lat, 95):>9.1f}")
    print(
        f"speed-up: {live_fps / base_fps:.1f}x; targets >= 15 fps, p95 <= 100 ms; detect_every={processor.detect_every}"
    )
    print(
        "RESULT "
        + json.dumps(
            {
                "bench": "live",
                "frames": len(frames),
                "live_fps": round(live_fps, 1),
                "live_median_ms": round(float(np.median(live_lat)), 1),
                "live_p95_ms": round(float(np.percentile(live_lat, 95)), 1),
                "voice_fps": round(voice_fps, 1),
                "voice_p95_ms": round(float(np.percentile(voice_lat, 95)), 1),
                "voice_windows": len(readings),
                "voice_speech_windows": int(speech),
                "plain_fps": round(base_fps, 1),
                "plain_p95_ms": round(float(np.percentile(base_lat, 95)), 1),
            }
        )
    )


if __name__ == "__main__":
    main()
