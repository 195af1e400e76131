"""Throughput of the batch flow: one process against a local Dask cluster of worker processes, on the same folder.

Usage, from the repository root: python -m bench.bench_cluster [--files 20] [--workers 2] [--seconds 4]

The folder is ``--files`` short H.264 videos cut from the shared media (made once per run, in a temporary folder).
The baseline runs :func:`emotion.analysis.batch.run` in this process; the cluster run sends the same files through
:func:`emotion.analysis.cluster.run` to a ``LocalCluster`` of ``--workers`` single-threaded processes (their
start-up and model loading are counted). Both save nothing. The figure is files per minute and their ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

from emotion.analysis import batch, cluster
from emotion.analysis.batch import Source
from emotion.settings import Settings, shared_data
from tests import media_tools as mt


def make_folder(folder: Path, n: int, seconds: float) -> list[Path]:
    """``n`` short videos, cut in turn from the shared clips with faces."""
    sources = [shared_data() / "media" / name for name in ("single_face.mp4", "WolfgangLanger_Pexels.mp4")]
    return [mt.transcode(sources[i % 2], folder / f"clip{i:02d}.mp4", "libx264", seconds=seconds) for i in range(n)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=20)
    parser.add_argument("--workers", type=int, default=2, help="worker processes of the local cluster")
    parser.add_argument("--seconds", type=float, default=4.0, help="length of each video")
    args = parser.parse_args()
    settings = Settings(save=False, collect=False, annotated_video=False, workers=1)
    with tempfile.TemporaryDirectory() as tmp:
        files = make_folder(Path(tmp), args.files, args.seconds)
        t0 = time.perf_counter()
        local = list(batch.run([Source.file(f) for f in files], settings))
        one = time.perf_counter() - t0
        t0 = time.perf_counter()
        client = cluster.connect(workers=args.workers)
        try:
            warm = list(cluster.run([Source.file(files[0])] * args.workers, settings, client))  # models loaded
            start = time.perf_counter() - t0
            t1 = time.perf_counter()
            spread = list(cluster.run([Source.file(f) for f in files], settings, client))
            steady = time.perf_counter() - t1
        finally:
            client.close()
            client.cluster.close()
    assert len(local) == len(spread) == args.files and not any(a.result.error for a in local + spread + warm)
    per_min = {"one_process": 60 * args.files / one, "cluster": 60 * args.files / steady,
               "cluster_with_start": 60 * args.files / (start + steady)}
    print(f"{args.files} videos of {args.seconds:g} s on {os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.1f}")
    print(f"one process (1 frame thread): {one:6.1f} s  {per_min['one_process']:6.1f} files/min")
    print(f"local cluster, {args.workers} processes:  {steady:6.1f} s  {per_min['cluster']:6.1f} files/min "
          f"({per_min['cluster'] / per_min['one_process']:.2f}x; start-up and model loading took {start:.1f} s more: "
          f"{per_min['cluster_with_start'] / per_min['one_process']:.2f}x with them)")
    print("RESULT " + json.dumps({**per_min, "ratio": per_min["cluster"] / per_min["one_process"],
                                  "start_seconds": start, "files": args.files, "workers": args.workers}))


if __name__ == "__main__":
    main()
