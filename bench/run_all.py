"""Run every benchmark in ``bench/`` and print one table of figures against their targets.

Usage, from the repository root: python -m bench.run_all [--quick] [--only faces live ...]

Each script runs in its own process (``python -m bench.<script>``, in the repository root), its output is shown as
it comes, and its last ``RESULT {json}`` line is read for the table. ``--quick`` skips the slow ones (the DeepFace
baseline, the 10-minute 1080p video, the retrain) and runs the others with fewer repeats. A script that fails or is
skipped leaves "n/a" in its rows.

The figures are kept in ``docs/benchmarks.json`` (each benchmark with the date, load and command of its last run;
``--only`` replaces just those), and the README's benchmark table is generated from that file by
:mod:`training.figures`, which this script calls after a run: no figure there is typed by hand (``--no-save`` leaves
both alone), and a test checks that the README's table is the one the file gives.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

from emotion.settings import PROJECT_ROOT

RESULTS = PROJECT_ROOT / "docs" / "benchmarks.json"
"""Every benchmark's last figures, with when and how they were measured."""

SCRIPTS = {
    # name: (module in bench/, arguments, arguments with --quick, slow)
    "faces": ("bench_faces", [], [], True),
    "live": ("bench_live", [], ["--frames", "100"], False),
    "audio": ("bench_audio", [], ["--no-retrain", "--repeat", "1"], False),
    "face_model": ("bench_face_model", [], ["--repeats", "100"], False),
    "memory": ("bench_memory", [], [], True),
    "native": ("bench_native", [], ["--repeats", "1"], False),
    "detect": ("bench_detect", [], ["--quick"], False),
}


def run(name: str, quick: bool) -> tuple[dict | None, str]:
    """Run one benchmark script, echoing its output; return its RESULT (or None) and a status word."""
    script, args, quick_args, slow = SCRIPTS[name]
    if quick and slow:
        return None, "skipped (--quick)"
    cmd = [sys.executable, "-m", f"bench.{script}", *(quick_args if quick else args)]
    print(f"\n### {' '.join(['python', *cmd[1:]])}", flush=True)
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    result = None
    for line in proc.stdout:
        if line.startswith("RESULT "):
            result = json.loads(line[len("RESULT ") :])
        elif not line.startswith("WARNING: All log messages before absl"):
            print(line, end="", flush=True)
    proc.wait()
    print(f"({script}: exit {proc.returncode}, {time.perf_counter() - t0:.0f} s)", flush=True)
    if proc.returncode or result is None:
        return None, f"failed (exit {proc.returncode})"
    return result, "ok"


def fmt(value: float | None, spec: str, unit: str = "") -> str:
    """Format a figure, or "n/a" when it is missing."""
    return "n/a" if value is None else f"{value:{spec}}{unit}"


def meets(value: float | None, target: float, higher: bool) -> str:
    """Return "yes", "**no**" or "n/a" for a figure against its target."""
    if value is None:
        return "n/a"
    return "yes" if (value >= target if higher else value <= target) else "**no**"


def table(results: dict[str, dict | None], status: dict[str, str]) -> list[str]:
    """Return the Markdown table rows: benchmark, figure, target, met."""
    f = results.get("faces") or {}
    lv = results.get("live") or {}
    au = results.get("audio") or {}
    fm = results.get("face_model") or {}
    me = results.get("memory") or {}
    na = results.get("native") or {}
    de = results.get("detect") or {}
    blaze, haar = (de.get(name, {}).get("all", {}) for name in ("blazeface", "haar"))

    def why(name: str) -> str:
        return "" if status[name] == "ok" else f": {status[name]}"

    clip = f" ({f['video']}, {f['frames']} frames at {f['fps']:g} fps)" if f else why("faces")
    rows = [
        (
            f"`bench_faces.py`: video analysis speed vs `DeepFace.analyze` per frame{clip}",
            fmt(f.get("speedup"), ".1f", "x")
            + (f" wall ({f['speedup_cpu']:.1f}x CPU; {f['ours_s']:.2f} s vs {f['base_s']:.1f} s)" if f else ""),
            "≥ 10x",
            meets(f.get("speedup"), 10, True),
        ),
        (
            "same: analysis time / video duration",
            fmt(f.get("time_per_duration"), ".3f"),
            "≤ 0.5",
            meets(f.get("time_per_duration"), 0.5, False),
        ),
        (
            f"`bench_live.py`: live frames processed per second (fed at 30 fps){why('live')}",
            fmt(lv.get("live_fps"), ".1f", " fps")
            + (f" (plain detect+classify every frame: {lv['plain_fps']:.1f} fps)" if lv else ""),
            "≥ 15 fps",
            meets(lv.get("live_fps"), 15, True),
        ),
        (
            "same: p95 latency per frame",
            fmt(lv.get("live_p95_ms"), ".0f", " ms")
            + (f" (median {lv['live_median_ms']:.0f} ms; plain p95 {lv['plain_p95_ms']:.0f} ms)" if lv else ""),
            "≤ 100 ms",
            meets(lv.get("live_p95_ms"), 100, False),
        ),
        (
            f"`bench_audio.py`: voice real-time factor, 60 s of speech, without denoising{why('audio')}",
            fmt(au.get("rtf"), ".3f") + (f" (end to end {au['rtf_e2e']:.3f})" if au else ""),
            "≤ 0.05",
            meets(au.get("rtf"), 0.05, False),
        ),
        (
            "same: voice retrain of the learning loop (background job)",
            fmt(au.get("retrain_s"), ".0f", " s")
            + (f" ({au['retrain_note']})" if au.get("retrain_note") else why("audio")),
            "—",
            "—",
        ),
        (
            f"`bench_memory.py`: peak RSS analysing a 10-min 1080p video, default settings{why('memory')}",
            fmt(me.get("peak_rss_mb"), ".0f", " MB")
            + (
                f" in {me['wall_s']:.1f} s ({me['rss_ratio']:.2f}x the RSS of a 10 s clip of it, "
                f"{me['baseline_rss_mb']:.0f} MB)"
                if me
                else ""
            ),
            "≤ 1.5 GB",
            meets(me.get("peak_rss_mb"), 1536, False),
        ),
        (
            f"`bench_face_model.py`: face model latency, 1 thread, batch 1 (median){why('face_model')}",
            ", ".join(
                f"{k.removesuffix(' batch 1')} {v:.2f} ms"
                for k, v in fm.get("ms_per_face", {}).items()
                if k.endswith("batch 1")
            )
            or "n/a",
            "≤ 5 ms",
            meets(max((v for k, v in fm.get("ms_per_face", {}).items() if k.endswith("batch 1")), default=None), 5,
                  False),
        ),
        (
            f"`bench_native.py`: every frame of a 20 s 1080p 30 fps clip, analysis / decode-only time{why('native')}",
            fmt(na.get("ratio"), ".2f", "x")
            + (f" ({na['frames']} frames, decoding {na['decode_s']:.1f} s)" if na else ""),
            "≤ 1.5x",
            meets(na.get("ratio"), 1.5, False),
        ),
        (
            "same: peak RSS",
            fmt(na.get("peak_rss_mb"), ".0f", " MB"),
            "≤ 800 MB",
            meets(na.get("peak_rss_mb"), 800, False),
        ),
        (
            f"`bench_detect.py`: face detector recall / precision on the check set{why('detect')}",
            (f"BlazeFace {blaze['recall']:.3f} / {blaze['precision']:.3f}, Haar {haar['recall']:.3f} / "
             f"{haar['precision']:.3f}" if blaze and haar else "n/a"),
            "better than Haar",
            meets((blaze.get("recall") or 0) - (haar.get("recall") or 0), 0, True) if blaze and haar else "n/a",
        ),
    ]
    lines = ["| benchmark | figure | target | met |", "|---|---|---|---|"]
    lines += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows]
    return lines


def load_saved(path: Path = RESULTS) -> dict[str, dict]:
    """The stored runs by benchmark name: result, status, date, load, cpus and command of each."""
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}


def save(runs: dict[str, dict], path: Path = RESULTS) -> dict[str, dict]:
    """Merge this run's benchmarks into the stored ones (a benchmark not run keeps its last figures); return all."""
    saved = {**load_saved(path), **runs}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(saved, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    tmp.replace(path)
    return saved


def readme_block(saved: dict[str, dict]) -> str:
    """The README's benchmark section body: the table of stored figures, then when and how each was measured."""
    results = {name: saved[name]["result"] if name in saved else None for name in SCRIPTS}
    status = {name: saved[name]["status"] if name in saved else "not run yet" for name in SCRIPTS}
    lines = [*table(results, status), ""]
    for name in SCRIPTS:
        if name in saved:
            run = saved[name]
            lines.append(
                f"- `{name}`: {run['date']}, `{run['command']}`, {run['cpus']} CPUs, load average "
                f"{run['load'][0]:.1f} before / {run['load'][1]:.1f} after"
            )
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="skip the slow benchmarks and use fewer repeats")
    ap.add_argument("--only", nargs="+", choices=list(SCRIPTS), help="run only these benchmarks")
    ap.add_argument("--no-save", action="store_true", help="leave docs/benchmarks.json and the README as they are")
    a = ap.parse_args()
    names = a.only or list(SCRIPTS)
    load0, t0 = os.getloadavg()[0], time.perf_counter()
    results: dict[str, dict | None] = {}
    status: dict[str, str] = {}
    runs: dict[str, dict] = {}
    for name in SCRIPTS:
        if name in names:
            start = os.getloadavg()[0]
            results[name], status[name] = run(name, a.quick)
            script, args, quick_args, _ = SCRIPTS[name]
            command = " ".join(["python -m", f"bench.{script}", *(quick_args if a.quick else args)])
            if results[name] is not None:
                runs[name] = {"result": results[name], "status": status[name], "date": str(date.today()),
                              "command": command, "cpus": os.cpu_count(), "load": [start, os.getloadavg()[0]]}
        else:
            results[name], status[name] = None, "not run (--only)"
    load1 = os.getloadavg()[0]
    print(
        f"\n## Benchmarks {date.today()}: {os.cpu_count()} CPUs, load average {load0:.1f} at the start and "
        f"{load1:.1f} at the end, {time.perf_counter() - t0:.0f} s in all{' (--quick)' if a.quick else ''}\n"
    )
    print("\n".join(table(results, status)))
    if not a.no_save and runs:
        from training.figures import rewrite  # the README's generated blocks

        save(runs)
        rewrite()
        print(f"\nsaved to {RESULTS.relative_to(PROJECT_ROOT)}; the README's table regenerated from it")


if __name__ == "__main__":
    main()
