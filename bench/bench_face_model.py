"""Per-face latency of the shipped face models on onnxruntime (1 thread), side by side in one process.

Usage, from the repository root::

    python -m bench.bench_face_model [--models fer_distilled fer_cnn fer_mini_xception] [--repeats 300]

Each model is loaded through ``emotion.face.model.OnnxFaceModel`` (so the sidecar and checksum are checked) and run
on random input of its own size at batch 1 and batch 16. The models take turns in short rounds, so a load that
comes and goes on the machine hits both alike. Times are milliseconds per face (a batch's time / its size).
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np

from emotion.face.model import OnnxFaceModel

BATCHES = (1, 16)


def time_run(model: OnnxFaceModel, x: np.ndarray) -> float:
    """Return the milliseconds per face of one ``session.run`` on ``x``."""
    t0 = time.perf_counter()
    model.session.run(None, {model.input_name: x})
    return (time.perf_counter() - t0) * 1000 / len(x)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["fer_distilled", "fer_cnn", "fer_mini_xception"])
    parser.add_argument("--repeats", type=int, default=300, help="timed runs per model and batch size")
    args = parser.parse_args()

    models = {name: OnnxFaceModel(name, threads=1) for name in args.models}
    rng = np.random.default_rng(0)
    inputs = {
        (name, b): rng.random((b, m.size, m.size, 1), dtype=np.float32) for name, m in models.items() for b in BATCHES
    }
    for (name, _), x in inputs.items():  # warm-up
        for _ in range(20):
            time_run(models[name], x)
    times: dict[tuple[str, int], list[float]] = {key: [] for key in inputs}
    rounds, per_round = args.repeats // 10, 10
    for _ in range(rounds):
        for key, x in inputs.items():
            times[key] += [time_run(models[key[0]], x) for _ in range(per_round)]

    print(f"onnxruntime, 1 intra-op thread, {rounds * per_round} runs each; load average {os.getloadavg()[0]:.1f}")
    print(f"{'model':<20} {'input':>7} {'batch':>5} {'median ms/face':>15} {'p95 ms/face':>12}")
    stats = {}
    for (name, b), ts in times.items():
        med, p95 = float(np.median(ts)), float(np.percentile(ts, 95))
        stats[(name, b)] = (med, p95)
        size = models[name].size
        print(f"{name:<20} {size:>4}x{size:<2} {b:>5} {med:>15.3f} {p95:>12.3f}")
    if len(args.models) >= 2:
        first, second = args.models[:2]
        for b in BATCHES:
            (m1, p1), (m2, p2) = stats[(first, b)], stats[(second, b)]
            print(f"batch {b:>2}: {first} / {second} = {m1 / m2:.2f}x median, {p1 / p2:.2f}x p95")
    print("RESULT " + json.dumps({
        "bench": "face_model",
        "ms_per_face": {f"{name} batch {b}": round(med, 3) for (name, b), (med, _) in stats.items()},
    }))


if __name__ == "__main__":
    main()
