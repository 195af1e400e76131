"""Every frame at the speed of the decoder: analysis time and peak memory of a 20 s 1080p clip at 30 fps.

Usage, from the repository root: python -m bench.bench_native [--seconds 20] [--keep DIR] [--repeats 3] [--stages]

The clip is made here from the shared talking-head video (WolfgangLanger_Pexels.mp4, a real face), scaled to
1920x1080 at 30 fps with imageio-ffmpeg's ffmpeg. Each run is a fresh child process that reports its wall time, its
CPU time (user + system, all threads) and peak RSS (``ru_maxrss``); the three kinds of run alternate, so a load that
comes and goes on a shared machine touches all of them. The baseline is decoding alone, in the same run: every frame
decoded and converted to BGR by :func:`emotion.media.iter_all_frames` at the original size (what "decoding its
frames" costs). A stricter baseline is printed too: decoding to the analysis's working size
(:data:`emotion.analysis.pipeline.WORK_SIDE`, shrunk in FFmpeg's scaler), which is exactly the decoding the analysis
does. The analysis is ``analyze_file`` with ``every_frame=True`` (``--fps native``) and the voice off, from loading
the models to the record. Medians over the repeats are the figures; the CPU ratio tells how much of a wall ratio is
the machine's other load. ``--stages`` adds one instrumented analysis that splits its CPU time by stage. Targets
(issue 12): analysis <= 1.5x decode-only time, peak RSS <= 800 MB.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.bench_memory import ffmpeg, source
from emotion.settings import PROJECT_ROOT

TARGET_RATIO = 1.5
TARGET_MB = 800.0


def make_clip(folder: Path, seconds: float) -> Path:
    """Write the 1080p, 30 fps clip into ``folder`` (once) and return its path."""
    clip = folder / f"talking_head_1080p30_{seconds:g}s.mp4"
    if not clip.exists():
        ffmpeg(
            "-i",
            str(source()),
            "-t",
            f"{seconds:g}",
            "-vf",
            "scale=1920:1080,fps=30",
            "-c:v",
            "libx264",
            "-preset",
            "veryfast",
            "-crf",
            "23",
            "-an",
            str(clip),
        )
    return clip


MODES = ("decode", "decode_work", "analyze")
"""Decoding at the original size (the baseline), decoding at the working size, and the analysis."""


def child(path: str, mode: str) -> None:
    """Decode or analyse ``path`` and print one JSON line: wall and CPU time, peak RSS, frames, faces."""
    from emotion.media import iter_all_frames, probe_video
    from emotion.settings import Settings

    info = probe_video(path)
    t0, cpu0 = time.perf_counter(), _cpu()
    stages: dict[str, float] = {}
    if mode in ("decode", "decode_work"):
        side = 960 if mode == "decode_work" else 0  # pipeline.WORK_SIDE, not imported: that would load onnxruntime
        frames = sum(1 for _ in iter_all_frames(path, info.duration, 20_000, side))
        faces = 0
    else:
        from emotion.analysis.pipeline import analyze_file

        if mode == "stages":
            stages = _instrument()
        result = analyze_file(path, Settings(every_frame=True, audio=False))
        if result.error:
            raise SystemExit(result.error)
        frames, faces = len(result.frames), result.summary.get("faces", 0)
    wall, cpu = time.perf_counter() - t0, _cpu() - cpu0
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out = {
        "wall_s": round(wall, 2),
        "cpu_s": round(cpu, 2),
        "peak_rss_mb": round(rss, 1),
        "frames": frames,
        "faces": faces,
    }
    print(json.dumps(out | ({"stages": {k: round(v, 3) for k, v in stages.items()}} if stages else {})))


def _cpu() -> float:
    """CPU seconds (user + system) this process has used, all threads together."""
    use = resource.getrusage(resource.RUSAGE_SELF)
    return use.ru_utime + use.ru_stime


def _instrument() -> dict[str, float]:
    """Count each stage's CPU time (its own thread's) as the analysis runs; return the dict that fills up.

    Only timers are wrapped around the real functions; what they compute is unchanged.
    """
    import threading

    from emotion.analysis import pipeline
    from emotion.face import tracker
    from emotion.face.blazeface import BlazeFaceDetector
    from emotion.face.model import OnnxFaceModel

    spent: dict[str, float] = {}
    lock = threading.Lock()

    def timed(owner: object, name: str, stage: str) -> None:
        inner = getattr(owner, name, None)
        if inner is None:  # an older pipeline without this stage
            return

        def run(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202 - any signature
            start = time.thread_time()
            try:
                return inner(*args, **kwargs)
            finally:
                with lock:
                    spent[stage] = spent.get(stage, 0.0) + time.thread_time() - start

        setattr(owner, name, run)

    def reading(items):  # noqa: ANN001, ANN202 - the frame iterator, timed in the reader thread
        it = iter(items)
        while True:
            start = time.thread_time()
            item = next(it, None)
            with lock:
                spent["decode + convert (reader thread)"] = spent.get("decode + convert (reader thread)", 0.0) + (
                    time.thread_time() - start
                )
            if item is None:
                return
            yield item

    ahead = getattr(pipeline, "_read_ahead", None)
    if ahead is not None:
        pipeline._read_ahead = lambda items, size: ahead(reading(items), size)  # type: ignore[assignment]
    timed(pipeline.Models, "load", "load models")
    timed(BlazeFaceDetector, "detect", "detector: full search")
    timed(BlazeFaceDetector, "detect_near", "detector: near search")
    timed(pipeline, "follow", "follow (template match)")
    timed(pipeline, "template", "follow (template match)")
    timed(pipeline, "_screen", "quality checks")
    timed(pipeline, "embedding", "appearance for the tracker")
    timed(tracker.FaceTracker, "update", "tracker ids")
    timed(OnnxFaceModel, "crop", "face crops")
    timed(OnnxFaceModel, "predict_proba", "classifier")
    timed(pipeline, "_follow", "_follow")
    timed(pipeline, "_stream", "_stream")
    timed(pipeline, "smooth_faces", "smoothing")
    return spent


def measure(path: Path, mode: str) -> dict:
    """Run :func:`child` in a fresh Python process and return what it printed."""
    proc = subprocess.run(
        [sys.executable, "-m", "bench.bench_native", "--child", str(path), "--mode", mode],
        capture_output=True,
        text=True,
        cwd=PROJECT_ROOT,
    )
    if proc.returncode:
        raise SystemExit(f"{mode} failed: {(proc.stderr.strip().splitlines() or ['?'])[-1]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def split(stages: dict[str, float], total: float) -> list[tuple[str, float]]:
    """The stages as (name, CPU s), the analysis thread's own work and the rest of the process filled in.

    ``_follow`` and ``_stream`` are the analysis thread's totals: what their timed parts do not cover is reported as
    frame light, enhancement and the near search's shrink (``_follow``) and record building and hand-offs (``_stream``).
    """
    own = dict(stages)
    follow, stream = own.pop("_follow", 0.0), own.pop("_stream", 0.0)
    inside = sum(own.get(k, 0.0) for k in ("detector: full search", "detector: near search", "follow (template match)"))
    own["frame light, enhancement, near-search shrink"] = max(0.0, follow - inside)
    main = follow + sum(
        own.get(k, 0.0) for k in ("quality checks", "appearance for the tracker", "tracker ids", "face crops")
    )
    own["records, batching, hand-offs"] = max(0.0, stream - main)
    own["FFmpeg decoder threads, imports, rest"] = max(0.0, total - sum(own.values()))
    return sorted(own.items(), key=lambda kv: -kv[1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--repeats", type=int, default=3, help="rounds of the three runs (decode, decode at 960, analyse)")
    ap.add_argument("--stages", action="store_true", help="add one instrumented analysis: CPU time by stage")
    ap.add_argument("--keep", help="make (or reuse) the clip in this folder instead of a temporary one")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--mode", default="analyze", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        child(a.child, a.mode)
        return
    with tempfile.TemporaryDirectory(prefix="bench-native-") as tmp:
        folder = Path(a.keep or tmp)
        folder.mkdir(parents=True, exist_ok=True)
        clip = make_clip(folder, a.seconds)
        runs = [{mode: measure(clip, mode) for mode in MODES} for _ in range(a.repeats)]
        stages = measure(clip, "stages") if a.stages else None
    print(f"clip: {a.seconds:g} s 1920x1080 30 fps H.264 from {source().name}; every frame, voice off")
    print(
        f"{'run':<5}{'frames':>7}{'faces':>7}{'decode s':>10}{'at 960 s':>10}{'analyse s':>11}{'ratio':>8}"
        f"{'vs 960':>8}{'cpu ratio':>11}{'decode MB':>11}{'analyse MB':>12}"
    )
    rows = []
    for i, run in enumerate(runs, 1):
        dec, work, ana = run["decode"], run["decode_work"], run["analyze"]
        row = (ana["wall_s"] / dec["wall_s"], ana["wall_s"] / work["wall_s"], ana["cpu_s"] / dec["cpu_s"])
        rows.append(row)
        print(
            f"{i:<5}{ana['frames']:>7}{ana['faces']:>7}{dec['wall_s']:>10.2f}{work['wall_s']:>10.2f}"
            f"{ana['wall_s']:>11.2f}{row[0]:>7.2f}x{row[1]:>7.2f}x{row[2]:>10.2f}x"
            f"{dec['peak_rss_mb']:>11.0f}{ana['peak_rss_mb']:>12.0f}"
        )
    ratio, strict, cpu = (statistics.median(r[k] for r in rows) for k in range(3))
    peak = max(run["analyze"]["peak_rss_mb"] for run in runs)
    print(
        f"analysis / decode-only (median of {len(rows)}): {ratio:.2f}x (target <= {TARGET_RATIO}x; range "
        f"{min(r[0] for r in rows):.2f}-{max(r[0] for r in rows):.2f}x); against decoding at the working size "
        f"{strict:.2f}x; CPU time {cpu:.2f}x; peak RSS {peak:.0f} MB (target <= {TARGET_MB:.0f} MB)"
    )
    if stages:
        print(
            f"CPU time by stage (one instrumented analysis: {stages['wall_s']:.2f} s wall, {stages['cpu_s']:.2f} s "
            f"CPU; decode alone {statistics.median(r['decode_work']['cpu_s'] for r in runs):.2f} s CPU at 960 px)"
        )
        for name, value in split(stages["stages"], stages["cpu_s"]):
            print(f"  {name:<40}{value:>7.2f} s{100 * value / stages['cpu_s']:>6.0f}%")
    decode_s = statistics.median(r["decode"]["wall_s"] for r in runs)
    figures = {"ratio": ratio, "ratio_vs_working_size": strict, "cpu_ratio": cpu}
    print(
        "RESULT "
        + json.dumps(
            {k: round(v, 3) for k, v in figures.items()}
            | {"peak_rss_mb": peak, "frames": runs[0]["analyze"]["frames"], "decode_s": decode_s}
        )
    )


if __name__ == "__main__":
    main()
