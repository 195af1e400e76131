"""Every frame at the speed of the decoder: analysis time and peak memory of a 20 s 1080p clip at 30 fps.

Usage, from the repository root: python -m bench.bench_native [--seconds 20] [--keep DIR] [--repeats 2]

The clip is made here from the shared talking-head video (WolfgangLanger_Pexels.mp4, a real face), scaled to
1920x1080 at 30 fps with imageio-ffmpeg's ffmpeg. Each run is a fresh child process that reports its wall time and
peak RSS (``ru_maxrss``). The baseline is decoding alone, in the same run: every frame decoded and converted to BGR
by :func:`emotion.media.iter_all_frames`, as the analysis does. The analysis is ``analyze_file`` with
``every_frame=True`` (``--fps native``) and the voice off, so both sides read the same frames. Targets (issue 12):
analysis <= 1.5x decode-only time, peak RSS <= 800 MB.
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

from bench.bench_memory import ffmpeg, source
from emotion.settings import PROJECT_ROOT

TARGET_RATIO = 1.5
TARGET_MB = 800.0


def make_clip(folder: Path, seconds: float) -> Path:
    """Write the 1080p, 30 fps clip into ``folder`` (once) and return its path."""
    clip = folder / f"talking_head_1080p30_{seconds:g}s.mp4"
    if not clip.exists():
        ffmpeg("-i", str(source()), "-t", f"{seconds:g}", "-vf", "scale=1920:1080,fps=30", "-c:v", "libx264",
               "-preset", "veryfast", "-crf", "23", "-an", str(clip))
    return clip


def child(path: str, mode: str) -> None:
    """Decode or analyse ``path`` and print one JSON line: wall time, peak RSS, frames, faces."""
    from emotion.media import iter_all_frames, probe_video
    from emotion.settings import Settings

    info = probe_video(path)
    t0 = time.perf_counter()
    if mode == "decode":
        frames = sum(1 for _ in iter_all_frames(path, info.duration, 20_000))
        faces = 0
    else:
        from emotion.analysis.pipeline import analyze_file

        result = analyze_file(path, Settings(every_frame=True, audio=False))
        if result.error:
            raise SystemExit(result.error)
        frames, faces = len(result.frames), result.summary.get("faces", 0)
    wall = time.perf_counter() - t0
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"wall_s": round(wall, 2), "peak_rss_mb": round(rss, 1), "frames": frames, "faces": faces}))


def measure(path: Path, mode: str) -> dict:
    """Run :func:`child` in a fresh Python process and return what it printed."""
    proc = subprocess.run([sys.executable, "-m", "bench.bench_native", "--child", str(path), "--mode", mode],
                          capture_output=True, text=True, cwd=PROJECT_ROOT)
    if proc.returncode:
        raise SystemExit(f"{mode} failed: {(proc.stderr.strip().splitlines() or ['?'])[-1]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--repeats", type=int, default=2, help="decode/analysis pairs, run alternately")
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
        pairs = [(measure(clip, "decode"), measure(clip, "analyze")) for _ in range(a.repeats)]
    print(f"clip: {a.seconds:g} s 1920x1080 30 fps H.264 from {source().name}; every frame, voice off")
    print(f"{'pair':<6}{'frames':>8}{'faces':>8}{'decode s':>10}{'analyse s':>11}{'ratio':>8}"
          f"{'decode MB':>11}{'analyse MB':>12}")
    ratios = []
    for i, (dec, ana) in enumerate(pairs, 1):
        ratio = ana["wall_s"] / dec["wall_s"]
        ratios.append(ratio)
        print(f"{i:<6}{ana['frames']:>8}{ana['faces']:>8}{dec['wall_s']:>10.2f}{ana['wall_s']:>11.2f}{ratio:>7.2f}x"
              f"{dec['peak_rss_mb']:>11.0f}{ana['peak_rss_mb']:>12.0f}")
    peak = max(ana["peak_rss_mb"] for _, ana in pairs)
    best = min(ratios)
    print(f"analysis / decode-only: best {best:.2f}x, worst {max(ratios):.2f}x (target <= {TARGET_RATIO}x); "
          f"peak RSS {peak:.0f} MB (target <= {TARGET_MB:.0f} MB)")
    print("RESULT " + json.dumps({"ratio": round(best, 3), "ratio_worst": round(max(ratios), 3), "peak_rss_mb": peak,
                                  "frames": pairs[0][1]["frames"], "decode_s": pairs[0][0]["wall_s"]}))


if __name__ == "__main__":
    main()
