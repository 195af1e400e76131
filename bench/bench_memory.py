"""Peak memory and wall time of analysing a 10-minute 1080p video with a real face, in a child process.

Usage, from the repository root: python -m bench.bench_memory [--fps 1] [--minutes 10] [--keep DIR]

The video is made here with imageio-ffmpeg's ffmpeg: 20 s of WolfgangLanger_Pexels.mp4 of the shared media
(:func:`emotion.settings.shared_data`; a real face, with its audio track) scaled to 1920x1080 and encoded once
(``-preset ultrafast -crf 35``), then looped by stream copy to the full length. Each analysis runs with default
settings (21 sampled frames, voice on) in a fresh child process, which reports its own peak RSS (``ru_maxrss``) and
wall time. The baseline is a 10-second clip of the same 1080p video, analysed the same way, so the ratio shows what
the length adds. ``--fps 1`` samples one frame per second instead (600 frames for 10 minutes). Target: peak RSS
<= 1.5 GB.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from emotion.settings import PROJECT_ROOT, shared_data

TARGET_MB = 1536.0


def source() -> Path:
    """The real face video the test videos are made from."""
    return shared_data() / "media" / "WolfgangLanger_Pexels.mp4"


def ffmpeg(*args: str) -> None:
    """Run imageio-ffmpeg's ffmpeg quietly; raise with its last error line if it fails."""
    import imageio_ffmpeg

    proc = subprocess.run(
        [imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-nostdin", "-y", *args], capture_output=True, text=True
    )
    if proc.returncode:
        raise SystemExit(f"ffmpeg failed: {(proc.stderr.strip().splitlines() or ['?'])[-1]}")


def make_video(folder: Path, seconds: float) -> tuple[Path, Path]:
    """Write the long 1080p video and its 10-second baseline clip into ``folder``; return both paths."""
    if not source().exists():
        raise SystemExit(f"shared media not found: {source()} (set EMOTION_SHARED_DATA)")
    segment, clip, long = folder / "segment.mp4", folder / "clip10s.mp4", folder / f"long{seconds:.0f}s.mp4"
    ffmpeg(
        "-i",
        str(source()),
        "-t",
        "20",
        "-vf",
        "scale=1920:1080",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-crf",
        "35",
        "-c:a",
        "aac",
        str(segment),
    )
    ffmpeg("-i", str(segment), "-t", "10", "-c", "copy", str(clip))
    ffmpeg("-stream_loop", "-1", "-i", str(segment), "-t", f"{seconds:g}", "-c", "copy", str(long))
    return long, clip


def child(path: str, fps: float) -> None:
    """Analyse one file with default settings and print one JSON line: wall time, peak RSS, frames, faces."""
    from emotion.analysis.pipeline import analyze_file
    from emotion.settings import Settings

    t0 = time.perf_counter()
    result = analyze_file(path, Settings(fps=fps))
    wall = time.perf_counter() - t0
    print(
        json.dumps(
            {
                "wall_s": round(wall, 2),
                "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
                "frames": len(result.frames),
                "faces": (result.summary or {}).get("faces", 0),
                "duration": result.duration,
                "error": result.error,
            }
        )
    )


def measure(path: Path, fps: float) -> dict:
    """Run :func:`child` on ``path`` in a fresh Python process and return what it printed."""
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "bench.bench_memory", "--child", str(path), "--fps", str(fps)],
        capture_output=True,
        text=True,
        cwd=PROJECT_ROOT,
    )
    if proc.returncode:
        raise SystemExit(f"child failed on {path.name}: {(proc.stderr.strip().splitlines() or ['?'])[-1]}")
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    out["process_s"] = round(time.perf_counter() - t0, 2)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fps", type=float, default=0.0, help="sampled frames per second (0: the default 21 frames)")
    ap.add_argument("--minutes", type=float, default=10.0, help="length of the long video")
    ap.add_argument("--keep", help="make (or reuse) the videos in this folder instead of a temporary one")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        child(a.child, a.fps)
        return
    with tempfile.TemporaryDirectory(prefix="bench-memory-") as tmp:
        folder = Path(a.keep or tmp)
        folder.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        long, clip = folder / f"long{a.minutes * 60:.0f}s.mp4", folder / "clip10s.mp4"
        if not (long.exists() and clip.exists()):
            long, clip = make_video(folder, a.minutes * 60)
        made = time.perf_counter() - t0
        base = measure(clip, a.fps)
        big = measure(long, a.fps)
    sampling = f"{a.fps:g} fps" if a.fps else "21 frames"
    print(
        f"video: {a.minutes:g} min 1920x1080 H.264 + AAC from {source().name} ({big['duration']:.0f} s), "
        f"made in {made:.1f} s; default settings, sampling {sampling}, voice on"
    )
    print(f"{'run':<22}{'frames':>7}{'faces':>7}{'analysis s':>12}{'process s':>11}{'peak RSS MB':>13}")
    for name, r in [("baseline: 10 s clip", base), (f"{a.minutes:g} min video", big)]:
        print(
            f"{name:<22}{r['frames']:>7}{r['faces']:>7}{r['wall_s']:>12.2f}{r['process_s']:>11.2f}"
            f"{r['peak_rss_mb']:>13.0f}"
        )
    ratio = big["peak_rss_mb"] / base["peak_rss_mb"]
    ok = "meets" if big["peak_rss_mb"] <= TARGET_MB else "MISSES"
    print(
        f"peak RSS {big['peak_rss_mb']:.0f} MB = {ratio:.2f}x the 10 s clip's; target <= {TARGET_MB:.0f} MB "
        f"(1.5 GB): {ok}"
    )
    print(f"analysis time / video duration: {big['wall_s'] / big['duration']:.4f}")
    print(
        "RESULT "
        + json.dumps(
            {
                "bench": "memory",
                "fps": a.fps,
                "minutes": a.minutes,
                "peak_rss_mb": big["peak_rss_mb"],
                "wall_s": big["wall_s"],
                "baseline_rss_mb": base["peak_rss_mb"],
                "baseline_wall_s": base["wall_s"],
                "rss_ratio": round(ratio, 2),
                "frames": big["frames"],
                "faces": big["faces"],
            }
        )
    )


if __name__ == "__main__":
    main()
