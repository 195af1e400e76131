"""Command line: ``python -m emotion analyze PATH... [--out results.json] [--csv results.csv]``."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from emotion.detect import ModelUnavailable
from emotion.export import to_csv, to_json, write_atomic
from emotion.media import media_kind
from emotion.settings import Settings


def expand(paths: list[str]) -> list[Path]:
    """Expand folders into the media files they hold (sorted); keep files as given."""
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            out += sorted(f for f in p.rglob("*") if f.is_file() and media_kind(f) != "unknown")
        else:
            out.append(p)
    return out


def build_parser() -> argparse.ArgumentParser:
    """Return the CLI's argument parser."""
    parser = argparse.ArgumentParser(
        prog="python -m emotion", description="Facial and vocal emotion analysis of media files."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    a = sub.add_parser("analyze", help="analyse images, videos, audio files or folders of them")
    a.add_argument("paths", nargs="+", help="files or folders")
    a.add_argument("--out", help="write the JSON result records here (default: print them)")
    a.add_argument("--csv", help="also write a CSV here, one row per face and voice segment")
    d = Settings()
    a.add_argument(
        "--max-frames", type=int, default=d.max_frames, help="frames sampled evenly over a video (default %(default)s)"
    )
    a.add_argument(
        "--fps", type=float, default=d.fps, help="sample this many frames per second instead of --max-frames"
    )
    a.add_argument("--workers", type=int, default=d.workers, help="parallel frame workers (default %(default)s)")
    a.add_argument("--face-crop", action="store_true", help="treat each image as an already-cropped face")
    a.add_argument("--face-backend", default=d.face_backend, help="facial-emotion model: default or deepface")
    a.add_argument("--detector", default=d.detector, help="face detector: haar (default) or a DeepFace backend name")
    a.add_argument("--max-duration", type=float, default=d.max_duration, help="seconds analysed per file; 0 = all")
    a.add_argument("--no-audio", action="store_true", help="skip the voice analysis")
    a.add_argument("--quiet", action="store_true", help="no progress bar")
    a.add_argument(
        "--keep", action="store_true", help="keep faces and voice segments in the learning store for review"
    )
    t = sub.add_parser("retrain", help="retrain on the learning store's labels; a new model serves only if better")
    t.add_argument("--modality", choices=["voice", "face", "all"], default="all", help="what to retrain")
    t.add_argument("--background", action="store_true", help="start it in a separate process and return")
    m = sub.add_parser("models", help="list learned model versions or roll back to one")
    msub = m.add_subparsers(dest="action", required=True)
    msub.add_parser("list", help="every version of each modality, with its metrics; * marks the active one")
    r = msub.add_parser("rollback", help="make an earlier version (or 'base', the shipped model) active")
    r.add_argument("version")
    r.add_argument("--modality", choices=["voice", "face"], help="needed only if both have that version name")
    return parser


def models_command(args: argparse.Namespace) -> int:
    """Run ``models list`` or ``models rollback VERSION``."""
    from emotion.versions import BASE, Registry

    registries = {name: Registry(name) for name in ("voice", "face")}
    if args.action == "list":
        for name, reg in registries.items():
            active = reg.active()
            print(f"{name}:")
            print(f"  {'*' if active == BASE else ' '} {BASE:<24} the shipped model")
            for v in reg.versions():
                metrics = ", ".join(
                    f"{k} {val:.3f}" for k, val in v.get("metrics", {}).items() if isinstance(val, float)
                )
                mark = "*" if v["version"] == active else " "
                print(f"  {mark} {v['version']:<24} {'promoted' if v.get('promoted') else 'not promoted'}; {metrics}")
        return 0
    names = [args.modality] if args.modality else [n for n, r in registries.items() if args.version in r.names()]
    if len(names) != 1:
        known = "; ".join(f"{n}: {', '.join(r.names())}" for n, r in registries.items())
        print(
            f"error: version '{args.version}' {'is ambiguous' if names else 'not found'} (known: {known})",
            file=sys.stderr,
        )
        return 2
    try:
        registries[names[0]].rollback(args.version)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"{names[0]} model is now {args.version}")
    return 0


def retrain_command(args: argparse.Namespace) -> int:
    """Run ``retrain``: each modality in turn (or in the background); 1 if a requested one could not run."""
    from emotion import learning

    names = list(learning.MODALITIES) if args.modality == "all" else [args.modality]
    failed = 0
    for name in names:
        if args.background:
            started = learning.start(name)
            print(f"{name}: {'started in the background' if started else 'a retrain is already running'}")
            continue
        try:
            print(learning.retrain(name)["message"])
        except learning.RetrainError as exc:
            print(f"{name}: not retrained: {exc}", file=sys.stderr)
            failed += args.modality != "all"
    return 1 if failed else 0


def analyze_command(args: argparse.Namespace) -> int:
    """Run ``analyze``; return the exit code (1 if any file failed, 2 if a model could not load)."""
    from tqdm import tqdm

    from emotion import learning
    from emotion.pipeline import Models, analyze_file

    settings = Settings(
        max_frames=args.max_frames,
        fps=args.fps,
        workers=args.workers,
        face_crop=args.face_crop,
        face_backend=args.face_backend,
        detector=args.detector,
        max_duration=args.max_duration,
        audio=not args.no_audio,
    )
    files = expand(args.paths)
    if not files:
        print("error: no media files found in the given paths", file=sys.stderr)
        return 1
    try:
        models = Models.load(settings)
    except ModelUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    results = []
    bar = tqdm(files, unit="file", disable=args.quiet, file=sys.stderr)
    for path in bar:

        def progress(stage: str, frac: float, name: str = path.name[:30]) -> None:
            bar.set_postfix_str(f"{name} {stage} {frac:.0%}")

        collector = learning.Collector(path.name) if args.keep else None
        result = analyze_file(path, settings, models, progress=progress, collector=collector)
        results.append(result)
        if collector is not None and not result.error:
            kept, started = learning.keep(collector, None, settings)
            tqdm.write(f"{path.name}: kept {kept} items for learning" + (f"; retraining {started}" if started else ""),
                       file=sys.stderr)
        if result.error:
            tqdm.write(f"{path}: {result.error}", file=sys.stderr)
    text = to_json(results)
    if args.out:
        write_atomic(args.out, text)
    else:
        print(text)
    if args.csv:
        write_atomic(args.csv, to_csv(results))
    failed = sum(r.error is not None for r in results)
    if failed:
        print(f"{failed} of {len(results)} files failed", file=sys.stderr)
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m emotion``."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    try:
        if args.command == "analyze":
            return analyze_command(args)
        if args.command == "models":
            return models_command(args)
        if args.command == "retrain":
            return retrain_command(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return 2
