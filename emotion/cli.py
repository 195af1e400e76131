"""Command line: ``python -m emotion analyze PATH...``, ``history``, ``retrain`` and ``models``.

``analyze`` runs the one batch flow (:mod:`emotion.analysis.batch`), as the app does; its setting flags are
generated from :class:`emotion.settings.Settings`, so every setting the sidebar shows is a flag here too.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from emotion.errors import ModelUnavailable, RetrainError
from emotion.face.model import face_models
from emotion.files import write_text
from emotion.media import media_kind
from emotion.report.export import to_csv, to_json
from emotion.settings import GROUPS, Settings, describe


def expand(paths: list[str]) -> list[Path]:
    """Expand folders into the media files they hold (sorted); keep files as given."""
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            out += sorted(f for f in p.rglob("*") if f.is_file() and media_kind(f) != "unknown")
        else:
            out.append(p)
    return out


CLI_DEFAULTS = {"collect": False}
"""Where the CLI's default differs from the app's: a batch over a folder keeps nothing for learning unless asked."""


def _bounded(kind: type, lo: float | None, hi: float | None) -> Callable[[str], Any]:
    """An argparse type that parses ``kind`` and refuses values outside [lo, hi] with a one-line message."""

    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"'{text}' is not a{'n integer' if kind is int else ' number'}") from None
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            raise argparse.ArgumentTypeError(f"{text} is outside {lo:g}..{hi:g}")
        return value

    return parse


def add_settings_flags(parser: argparse.ArgumentParser) -> None:
    """Add one flag per CLI setting of :class:`~emotion.settings.Settings`, grouped as in the app's sidebar."""
    groups = {name: parser.add_argument_group(f"{name.lower()} settings") for name in GROUPS}
    for info in describe():
        if not info.cli:
            continue
        default = CLI_DEFAULTS.get(info.name, info.default)
        group, flag = groups[info.group], f"--{info.flag}"
        text = f"{info.help} (default: %(default)s)"
        if info.type is bool:
            group.add_argument(flag, dest=info.name, action=argparse.BooleanOptionalAction, default=default, help=text)
        elif info.choices and info.name != "face_backend":
            group.add_argument(flag, dest=info.name, choices=info.choices, default=default, help=text)
        elif info.type in (int, float):
            group.add_argument(flag, dest=info.name, type=_bounded(info.type, info.lo, info.hi), default=default,
                               metavar=info.type.__name__.upper(), help=text)
        else:
            if info.name == "face_backend":
                text = f"{info.help} Shipped models: {', '.join(face_models())}. (default: %(default)s)"
            metavar = "NAME" if info.name == "face_backend" else "TEXT"
            group.add_argument(flag, dest=info.name, default=default, metavar=metavar, help=text)


def settings_from(args: argparse.Namespace) -> Settings:
    """The Settings the parsed flags describe (fields without a flag keep their defaults; no annotated video)."""
    values = {info.name: getattr(args, info.name) for info in describe() if info.cli}
    return Settings(**values, annotated_video=False)


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
    a.add_argument("--quiet", action="store_true", help="no progress bar")
    add_settings_flags(a)
    t = sub.add_parser("retrain", help="retrain on the learning store's labels; a new model serves only if better")
    t.add_argument("--modality", choices=["voice", "face", "all"], default="all", help="what to retrain")
    t.add_argument("--background", action="store_true", help="start it in a separate process and return")
    m = sub.add_parser("models", help="list learned model versions or roll back to one")
    msub = m.add_subparsers(dest="action", required=True)
    msub.add_parser("list", help="every version of each modality, with its metrics; * marks the active one")
    r = msub.add_parser("rollback", help="make an earlier version (or 'base', the shipped model) active")
    r.add_argument("version")
    r.add_argument("--modality", choices=["voice", "face"], help="needed only if both have that version name")
    h = sub.add_parser("history", help="list saved analyses or forget one (and everything kept from it)")
    hsub = h.add_subparsers(dest="action", required=True)
    hl = hsub.add_parser("list", help="the newest analyses: id, date, file, run, result, models")
    hl.add_argument("--limit", type=_bounded(int, 1, 100000), default=50, help="how many (default %(default)s)")
    hd = hsub.add_parser("delete", help="forget one analysis and the faces and voice kept from it")
    hd.add_argument("id", type=_bounded(int, 1, None), help="the analysis id (see `history list`)")
    return parser


def models_command(args: argparse.Namespace) -> int:
    """Run ``models list`` or ``models rollback VERSION``."""
    from emotion.storage.versions import BASE, Registry

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
    from emotion.learning import jobs as learning

    names = list(learning.MODALITIES) if args.modality == "all" else [args.modality]
    failed = 0
    for name in names:
        if args.background:
            started = learning.start(name)
            print(f"{name}: {'started in the background' if started else 'a retrain is already running'}")
            continue
        try:
            print(learning.retrain(name)["message"])
        except RetrainError as exc:
            print(f"{name}: not retrained: {exc}", file=sys.stderr)
            failed += args.modality != "all"
    return 1 if failed else 0


def analyze_command(args: argparse.Namespace) -> int:
    """Run ``analyze`` through the batch flow; return the exit code (1 if any file failed, 2 if models failed)."""
    from tqdm import tqdm

    from emotion.analysis import batch
    from emotion.analysis.pipeline import Models

    settings = settings_from(args)
    if settings.collect and not settings.save:
        print("error: --keep needs --save: kept faces and voice are filed under their History entry, so that "
              "deleting the analysis deletes them", file=sys.stderr)
        return 2
    files = expand(args.paths)
    if not files:
        print("error: no media files found in the given paths", file=sys.stderr)
        return 1
    try:
        models = Models.load(settings)
    except ModelUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    bar = tqdm(total=len(files), unit="file", disable=args.quiet, file=sys.stderr)

    def progress(step: batch.Step) -> None:
        bar.set_postfix_str(f"{step.name[:30]} {step.stage} {step.fraction:.0%}")

    results, saved, kept, retraining = [], [], 0, set()
    for analysis in batch.run([batch.Source.file(f) for f in files], settings, models, progress=progress):
        bar.update(1)
        results.append(analysis.result)
        saved += [analysis.history_id] if analysis.history_id is not None else []
        kept += analysis.kept
        retraining.update(analysis.retraining)
        for text in [analysis.result.error] * bool(analysis.result.error) + analysis.messages:
            tqdm.write(f"{analysis.key}: {text}", file=sys.stderr)
    bar.close()
    if saved:
        entries = f"entry {saved[0]}" if len(saved) == 1 else f"entries {saved[0]}-{saved[-1]}"
        also = f"; kept {kept} faces and voice segments for learning" if kept else ""
        also += f"; retraining {', '.join(sorted(retraining))} in the background" if retraining else ""
        print(f"saved to History as {entries}{also}", file=sys.stderr)
    text = to_json(results)
    if args.out:
        write_text(args.out, text)
    else:
        print(text)
    if args.csv:
        write_text(args.csv, to_csv(results))
    failed = sum(r.error is not None for r in results)
    if failed:
        print(f"{failed} of {len(results)} files failed", file=sys.stderr)
    return 1 if failed else 0


def history_command(args: argparse.Namespace) -> int:
    """Run ``history list`` or ``history delete ID``."""
    from emotion import privacy
    from emotion.storage.history import History

    history = History()
    if args.action == "list":
        for e in history.list(args.limit):
            print(f"{e.id:>6}  {e.label()}")
        return 0
    if history.created_at(args.id) is None:
        print(f"error: no analysis with id {args.id} (see `python -m emotion history list`)", file=sys.stderr)
        return 2
    items = privacy.forget_analysis(args.id, history)
    print(f"deleted analysis {args.id} and the {items} faces and voice segments kept from it")
    return 0


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
        if args.command == "history":
            return history_command(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return 2
