"""Face-path speed: the project's pipeline against DeepFace's own per-frame pipeline, in one process.

Usage, from the repository root: python -m bench.bench_faces [VIDEO] [--fps 5]

VIDEO defaults to ``media/WolfgangLanger_Pexels.mp4`` in the shared data (:func:`emotion.settings.shared_data`).

The baseline runs the real ``DeepFace.analyze(detector_backend="opencv")`` on every sampled frame.
DeepFace's emotion weights cannot be downloaded offline, so the baseline gets a weights file of the
shape it expects: the project's shipped model wrapped to take DeepFace's (n, 48, 48, 1) 0..1 input.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import tempfile
import time
from pathlib import Path

from emotion.analysis.pipeline import Models, analyze_file
from emotion.media import iter_video_frames, probe_video, sample_times
from emotion.settings import Settings, models_dir, shared_data


def deepface_shaped_model(src: Path, dst: Path) -> None:
    """Write ``src`` (NHWC 64x64, -1..1) wrapped to take DeepFace's NHWC 48x48 0..1 input."""
    import onnx
    from onnx import TensorProto, compose, helper

    inner = onnx.load(str(src))
    size = inner.graph.input[0].type.tensor_type.shape.dim[1].dim_value
    nodes = [
        helper.make_node("Mul", ["x", "two"], ["x2"]),
        helper.make_node("Sub", ["x2", "one"], ["xs"]),
        helper.make_node("Transpose", ["xs"], ["nchw"], perm=[0, 3, 1, 2]),
        helper.make_node("Resize", ["nchw", "", "scales"], ["big"], mode="linear"),
        helper.make_node("Transpose", ["big"], ["face_in"], perm=[0, 2, 3, 1]),
    ]
    consts = [
        helper.make_tensor("two", TensorProto.FLOAT, [], [2.0]),
        helper.make_tensor("one", TensorProto.FLOAT, [], [1.0]),
        helper.make_tensor("scales", TensorProto.FLOAT, [4], [1, 1, size / 48, size / 48]),
    ]
    pre = helper.make_graph(
        nodes,
        "pre",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 48, 48, 1])],
        [helper.make_tensor_value_info("face_in", TensorProto.FLOAT, ["N", size, size, 1])],
        initializer=consts,
    )
    pre_model = helper.make_model(pre, opset_imports=inner.opset_import, ir_version=inner.ir_version)
    merged = compose.merge_models(pre_model, inner, io_map=[("face_in", inner.graph.input[0].name)])
    onnx.save(merged, str(dst))


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("video", nargs="?", help="video file (default: WolfgangLanger_Pexels.mp4 of the shared media)")
    parser.add_argument("--fps", type=float, default=5.0)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    video = Path(args.video) if args.video else shared_data() / "media" / "WolfgangLanger_Pexels.mp4"
    info = probe_video(video)
    settings = Settings(fps=args.fps, audio=False, workers=args.workers)
    models = Models.load(settings)
    analyze_file(video, Settings(max_frames=2, audio=False), models)  # warm-up

    t0, c0 = time.perf_counter(), time.process_time()
    ours = analyze_file(video, settings, models)
    ours_s, ours_cpu = time.perf_counter() - t0, time.process_time() - c0
    ours_rss = peak_rss_mb()
    n_frames = len(ours.frames)

    home = tempfile.mkdtemp(prefix="deepface-home-")
    weights = Path(home) / ".deepface" / "weights"
    weights.mkdir(parents=True)
    deepface_shaped_model(
        models_dir() / f"{models.face.name}.onnx", weights / "facial_expression_model_weights.onnx"
    )
    os.environ["DEEPFACE_HOME"] = home
    os.environ["DEEPFACE_BACKEND_ENGINE"] = "onnx"
    from deepface import DeepFace

    frames = list(iter_video_frames(video, sample_times(1.0, 1)))
    DeepFace.analyze(
        frames[0][2], actions=("emotion",), detector_backend="opencv", enforce_detection=False, silent=True
    )
    t0, c0 = time.perf_counter(), time.process_time()
    base_faces = 0
    for _, _, img in iter_video_frames(video, sample_times(info.duration, settings.max_frames, settings.fps)):
        res = DeepFace.analyze(
            img, actions=("emotion",), detector_backend="opencv", enforce_detection=False, silent=True
        )
        base_faces += sum(r["face_confidence"] > 0 for r in res)
    base_s, base_cpu = time.perf_counter() - t0, time.process_time() - c0

    ours_faces = ours.summary["faces"]
    print(
        f"video: {video.name}, {info.duration:.1f} s, {n_frames} frames at {args.fps:g} fps, {args.workers} workers"
    )
    print(f"{'pipeline':<34}{'wall s':>8}{'CPU s':>8}{'ms/frame':>10}{'faces':>7}")
    for label, wall, cpu, faces in [
        ("DeepFace.analyze per frame (base)", base_s, base_cpu, base_faces),
        ("emotion.analyze_file", ours_s, ours_cpu, ours_faces),
    ]:
        print(f"{label:<34}{wall:>8.2f}{cpu:>8.2f}{1000 * wall / n_frames:>10.1f}{faces:>7}")
    print(f"speed-up vs baseline: {base_s / ours_s:.1f}x wall (target >= 10x), {base_cpu / ours_cpu:.1f}x CPU time")
    print(f"analysis time / video duration: {ours_s / info.duration:.3f} (target <= 0.5)")
    print(f"peak RSS after our analysis: {ours_rss:.0f} MB; after baseline: {peak_rss_mb():.0f} MB")
    print("RESULT " + json.dumps({
        "bench": "faces", "video": video.name, "duration": round(info.duration, 2), "fps": args.fps,
        "frames": n_frames, "ours_s": round(ours_s, 3), "base_s": round(base_s, 3),
        "speedup": round(base_s / ours_s, 2), "speedup_cpu": round(base_cpu / ours_cpu, 2),
        "time_per_duration": round(ours_s / info.duration, 4), "peak_rss_mb": round(ours_rss),
    }))


if __name__ == "__main__":
    main()
