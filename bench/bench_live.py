"""Live frame callback speed on 640x480 frames of a real face video, against the plain per-frame pipeline.

Usage, from the repository root: python -m bench.bench_live [VIDEO] [--frames 200]

VIDEO defaults to ``media/WolfgangLanger_Pexels.mp4`` in the shared data (:func:`emotion.settings.shared_data`).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import cv2
import numpy as np

from emotion.analysis.live import LiveProcessor
from emotion.analysis.pipeline import Models, analyze_frame
from emotion.media import iter_video_frames, probe_video, sample_times
from emotion.settings import Settings, shared_data


def frames_640x480(video: Path, n: int) -> list[np.ndarray]:
    info = probe_video(video)
    times = sample_times(min(info.duration, n / 24), n)
    return [cv2.resize(img, (640, 480), interpolation=cv2.INTER_AREA) for _, _, img in iter_video_frames(video, times)]


def run(step, frames: list[np.ndarray], camera_fps: float = 30.0) -> tuple[float, np.ndarray]:
    """Feed frames as a camera would, in real time; frames that arrive while the callback is busy are
    dropped, as streamlit-webrtc does. Returns processed fps and per-frame latencies (ms)."""
    lat = []
    t0 = time.perf_counter()
    i = 0
    while i < len(frames):
        wait = t0 + i / camera_fps - time.perf_counter()
        if wait > 0:
            time.sleep(wait)
        s = time.perf_counter()
        step(frames[i], t0 + i / camera_fps)
        lat.append((time.perf_counter() - s) * 1000)
        i = max(i + 1, int((time.perf_counter() - t0) * camera_fps))  # skip frames that arrived meanwhile
    return len(lat) / (time.perf_counter() - t0), np.array(lat)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("video", nargs="?", help="video file (default: WolfgangLanger_Pexels.mp4 of the shared media)")
    parser.add_argument("--frames", type=int, default=200)
    args = parser.parse_args()
    args.video = args.video or str(shared_data() / "media" / "WolfgangLanger_Pexels.mp4")
    frames = frames_640x480(Path(args.video), args.frames)
    settings = Settings(audio=False)
    models = Models.load(settings)
    processor = LiveProcessor(models)
    run(lambda f, t: processor.process(f, now=t), frames[:10])  # warm-up
    processor = LiveProcessor(models)
    base_fps, base_lat = run(lambda f, t: analyze_frame(f, models, settings), frames)
    live_fps, live_lat = run(lambda f, t: processor.process(f, now=t), frames)
    processor.close()
    faces = sum(1 for _ in range(processor.updates.qsize()) if processor.updates.get_nowait().faces)
    print(f"{len(frames)} frames at 640x480, fed at 30 fps, from {Path(args.video).name}")
    print(f"live frames processed: {len(live_lat)}, with a face drawn: {faces}")
    print(f"{'callback':<38}{'fps':>7}{'median ms':>11}{'p95 ms':>9}")
    for name, fps, lat in [
        ("plain: detect+classify every frame", base_fps, base_lat),
        ("LiveProcessor", live_fps, live_lat),
    ]:
        print(f"{name:<38}{fps:>7.1f}{np.median(lat):>11.1f}{np.percentile(lat, 95):>9.1f}")
    print(
        f"speed-up: {live_fps / base_fps:.1f}x; targets >= 15 fps, p95 <= 100 ms; detect_every={processor.detect_every}"
    )
    print("RESULT " + json.dumps({
        "bench": "live", "frames": len(frames), "live_fps": round(live_fps, 1),
        "live_median_ms": round(float(np.median(live_lat)), 1),
        "live_p95_ms": round(float(np.percentile(live_lat, 95)), 1),
        "plain_fps": round(base_fps, 1), "plain_p95_ms": round(float(np.percentile(base_lat, 95)), 1),
    }))


if __name__ == "__main__":
    main()
