"""Command line: ``python -m emotion analyze PATH...``, ``history``, ``retrain`` and ``models``.

``analyze`` runs the one batch flow (:mod:`emotion.analysis.batch`), as the app does; its setting flags are
generated from :class:`emotion.settings.Settings`, so every setting the sidebar shows is a flag here too. Its
``--out`` and ``--csv`` are checked before anything is analysed and written as each file is done, so a failure
late in a batch (a file, a full disk) loses nothing. Every failure ends in one line on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import os
import sqlite3
import sys
import unicodedata
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from emotion.errors import EmotionError, ModelUnavailable, RetrainError, one_line
from emotion.face.model import face_models
from emotion.media import media_kind
from emotion.record import Result
from emotion.report.export import CSV_COLUMNS, csv_rows, to_json
from emotion.settings import (
    GROUPS,
    SERVICE_MAX_JOBS,
    SERVICE_RATE_LIMIT,
    SettingError,
    Settings,
    describe,
    parse_number,
)
from emotion.storage.sqlite import StoreError, reason

ID_MAX = 2**63 - 1
"""The largest id SQLite stores."""


def shown(text: object) -> str:
    """Text made safe for a terminal: control, bidi and separator characters and undecodable bytes as escapes."""
    return "".join(
        c.encode("unicode_escape", "backslashreplace").decode("ascii")
        if unicodedata.category(c) in ("Cc", "Cf", "Cs", "Zl", "Zp") else c
        for c in str(text)
    )


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


def _fps(number: Callable[[str], Any]) -> Callable[[str], Any]:
    """An argparse type for ``--fps``: a bounded number, or "native" for every frame."""
    return lambda text: text if text == "native" else number(text)


def _bounded(kind: type, lo: float | None, hi: float | None) -> Callable[[str], Any]:
    """An argparse type that parses ``kind`` within [lo, hi] by the one number parser, with a one-line message."""

    def parse(text: str) -> Any:
        try:
            return parse_number(text, kind, lo, hi)
        except SettingError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

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
        elif info.name == "fps":
            group.add_argument(flag, dest=info.name, type=_fps(_bounded(float, info.lo, info.hi)), default=default,
                               metavar="FPS|native", help=f"{info.help} 'native' analyses every frame (default: "
                               "%(default)s)")
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
    if values.get("fps") == "native":
        values.update(fps=0.0, every_frame=True)
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
    a.add_argument("--report", metavar="FILE_OR_DIR",
                   help="also write a self-contained HTML report (charts work offline): one .html file for all the "
                        "files (a comparison when there are several), or one report per file in a folder")
    a.add_argument("--quiet", action="store_true", help="no progress bar")
    c = a.add_argument_group("where the analysis runs")
    c.add_argument("--executor", choices=["local", "local-cluster", "dask"], default="local",
                   help="local: this process (default); local-cluster: a Dask cluster of worker processes on this "
                   "machine; dask: an existing Dask cluster (--scheduler)")
    c.add_argument("--scheduler", metavar="ADDRESS", help="the Dask scheduler, e.g. tcp://host:8786 (--executor dask)")
    c.add_argument("--cluster-workers", type=_bounded(int, 1, 64), default=2, metavar="N",
                   help="worker processes of --executor local-cluster (default %(default)s)")
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
    v = sub.add_parser("serve", help="run the REST service (the same batch flow over HTTP; docs at /docs)")
    v.add_argument("--host", default="127.0.0.1", help="address to listen on (default %(default)s: this machine only)")
    v.add_argument("--port", type=_bounded(int, 1, 65535), default=8000, help="port (default %(default)s)")
    v.add_argument("--rate-limit", type=_bounded(int, 0, 100000), default=SERVICE_RATE_LIMIT,
                   help="requests per client per minute; 0 = no limit (default %(default)s)")
    v.add_argument("--max-jobs", type=_bounded(int, 1, 10000), default=SERVICE_MAX_JOBS,
                   help="jobs waiting or running before uploads get 503 (default %(default)s)")
    v.add_argument("--threads", type=_bounded(int, 1, 64), default=1, help="jobs analysed at once (default 1)")
    h = sub.add_parser("history", help="list saved analyses or forget one (and everything kept from it)")
    hsub = h.add_subparsers(dest="action", required=True)
    hl = hsub.add_parser("list", help="the newest analyses: id, date, file, run, result, models")
    hl.add_argument("--limit", type=_bounded(int, 1, 100000), default=50, help="how many (default %(default)s)")
    hd = hsub.add_parser("delete", help="forget one analysis and the faces and voice kept from it")
    hd.add_argument("id", type=_bounded(int, 1, ID_MAX), help="the analysis id (see `history list`)")
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
                state = "promoted" if v.get("promoted") else "not promoted"
                print(f"  {mark} {shown(v['version']):<24} {state}; {metrics}")
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
        try:
            if args.background:
                started = learning.start(name)
                print(f"{name}: {'started in the background' if started else 'a retrain is already running'}")
            else:
                print(learning.retrain(name)["message"])
        except RetrainError as exc:  # nothing to learn from, or already running
            print(f"{name}: not retrained: {shown(exc)}", file=sys.stderr)
            failed += args.modality != "all"
        except (StoreError, OSError, sqlite3.Error) as exc:  # a read-only, full or damaged data folder
            print(f"{name}: not retrained: {_why(exc)}", file=sys.stderr)
            failed += 1
    return 1 if failed else 0


def _why(exc: BaseException) -> str:
    """An error as one line for the terminal."""
    if not isinstance(exc, (OSError, sqlite3.Error)):
        return shown(one_line(exc))
    text = reason(exc)  # one line: the store's words and the system's first line
    return shown(f"cannot use {exc.filename}: {text}" if isinstance(exc, OSError) and exc.filename else text)


class OutputError(EmotionError):
    """An output file of ``analyze`` cannot be created."""


class Output:
    """Where ``analyze`` puts the records, each as soon as its file is done.

    ``--out`` holds a complete JSON list after every file (the closing bracket is rewritten each time); without
    it the list streams to stdout. ``--csv`` gets each file's rows appended. Both are opened before anything is
    analysed, so a path that cannot be written is refused at once. When a write fails later (a full disk), the
    records are kept in memory and, at the end, printed to stdout so that no result is lost.

    Raises:
        OutputError: ``out`` or ``csv_path`` cannot be created; the message says which and why.
    """

    def __init__(self, out: str | None, csv_path: str | None) -> None:
        self.results: list[Result] = []
        self.problems: list[str] = []
        self.out, self.csv_path = out, csv_path
        self.json: IO[bytes] | None = None
        self.table: IO[str] | None = None
        try:
            if out:
                self.json = open(out, "wb")  # noqa: SIM115 - closed in close()
            if csv_path:
                self.table = open(csv_path, "w", encoding="utf-8", errors="backslashreplace", newline="")  # noqa: SIM115
        except OSError as exc:
            if self.json is not None:
                self.json.close()
            flag, path = ("--out", out) if self.json is None else ("--csv", csv_path)
            raise OutputError(f"cannot write {flag} {shown(path)}: {reason(exc)}") from None
        self.end = 0  # bytes of --out before its closing bracket
        self.json_ok, self.csv_ok = self._write_json(b"[]", 0), True
        if self.table is not None:
            self.writer = csv.DictWriter(self.table, fieldnames=CSV_COLUMNS, extrasaction="ignore")
            self.csv_ok = self._write_csv(self.writer.writeheader)

    def add(self, result: Result) -> None:
        """Write one record to ``--out`` (or stdout) and its rows to ``--csv``."""
        self.results.append(result)
        text = json.dumps(result.to_dict(), indent=2, ensure_ascii=False).replace("\n", "\n  ")
        lead = "\n  " if len(self.results) == 1 else ",\n  "
        if self.json is None:
            _stdout(("[" if len(self.results) == 1 else "") + lead + text)
        elif self.json_ok:
            data = (lead + text).encode("utf-8", "backslashreplace")
            self.json_ok = self._write_json(data + b"\n]", self.end if self.end else 1)
            self.end = (self.end or 1) + len(data) if self.json_ok else self.end
        if self.table is not None and self.csv_ok:
            self.csv_ok = self._write_csv(lambda: self.writer.writerows(csv_rows(result)))

    def _write_json(self, data: bytes, at: int) -> bool:
        if self.json is None:
            return True
        try:
            self.json.seek(at)
            self.json.write(data)
            self.json.truncate()
            self.json.flush()
            os.fsync(self.json.fileno())
            return True
        except OSError as exc:
            self.problems.append(f"could not write {shown(self.out)}: {reason(exc)}")
            return False

    def _write_csv(self, write: Callable[[], object]) -> bool:
        assert self.table is not None
        try:
            write()
            self.table.flush()
            return True
        except OSError as exc:
            self.problems.append(f"could not write {shown(self.csv_path)}: {reason(exc)}; the JSON has every record")
            return False

    def close(self) -> None:
        """Finish the JSON list; if ``--out`` could not be written, print every record to stdout instead."""
        if self.json is None and self.results:
            _stdout("\n]\n")
        for f in (self.json, self.table):
            if f is not None:
                try:
                    f.close()
                except OSError as exc:
                    self.problems.append(f"could not finish {shown(f.name)}: {reason(exc)}")
                    self.json_ok = self.json_ok and f is not self.json
        if self.json is not None and not self.json_ok:
            self.problems.append(f"{shown(self.out)} is incomplete, so every record follows on stdout instead")
            _stdout(to_json(self.results) + "\n")


def _stdout(text: str) -> None:
    """Write to stdout as UTF-8 (undecodable bytes of a name as escapes), at once."""
    data = text.encode("utf-8", "backslashreplace")
    try:
        sys.stdout.flush()
        buffer = getattr(sys.stdout, "buffer", None)
        if buffer is None:  # a stdout replaced by a text stream
            sys.stdout.write(data.decode("utf-8"))
        else:
            buffer.write(data)
        sys.stdout.flush()
    except BrokenPipeError:
        pass  # the reader went away: nothing more to say


def _same_file(a: str, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except (OSError, ValueError):
        return False


class _Stop(Exception):
    """A reason to stop before analysing anything: said on stderr as "error: ...", with its exit code."""

    def __init__(self, message: str, code: int = 2) -> None:
        super().__init__(message)
        self.code = code


def _inputs(args: argparse.Namespace, settings: Settings) -> tuple[list[Path], Output]:
    """The files to analyse and the opened outputs, after every usage check.

    Raises:
        _Stop: A usage error (exit 2), or no media files found (exit 1).
    """
    if args.executor == "dask" and not args.scheduler:
        raise _Stop("--executor dask needs --scheduler tcp://HOST:8786")
    if settings.collect and not settings.save:
        raise _Stop("--keep needs --save: kept faces and voice are filed under their History entry, so that "
                    "deleting the analysis deletes them")  # fmt: skip
    try:
        files = expand(args.paths)
    except OSError as exc:
        raise _Stop(f"cannot read the given paths: {reason(exc)}") from None
    if not files:
        raise _Stop("no media files found in the given paths", code=1)
    targets = [(flag, path) for flag, path in (("--out", args.out), ("--csv", args.csv)) if path]
    if len(targets) == 2 and (args.out == args.csv or _same_file(args.out, Path(args.csv))):
        raise _Stop("--out and --csv are the same file")
    for flag, path in targets:
        if any(_same_file(path, f) for f in files):
            raise _Stop(f"{flag} {shown(path)} is one of the files to analyse")
    try:
        return files, Output(args.out, args.csv)
    except OutputError as exc:
        raise _Stop(str(exc)) from None


def _executor(args: argparse.Namespace, settings: Settings) -> tuple[Any, Any]:
    """The loaded models (local) or the cluster client (``--executor local-cluster`` or ``dask``).

    Raises:
        _Stop: The models do not load or the cluster cannot be reached (exit 2).
    """
    from emotion.analysis.pipeline import Models

    try:
        if args.executor == "local":
            return Models.load(settings), None
        from emotion.analysis import cluster

        return None, cluster.connect(args.scheduler if args.executor == "dask" else None, args.cluster_workers)
    except (ModelUnavailable, OSError, ValueError, TypeError, KeyError) as exc:  # KeyError: a damaged registry
        what = "" if isinstance(exc, ModelUnavailable) else f"the models could not load: {type(exc).__name__}: "
        raise _Stop(f"{what}{shown(exc)}") from None
    except EmotionError as exc:  # the cluster cannot be reached
        raise _Stop(shown(exc)) from None


@dataclass
class _Tally:
    """What a batch saved, kept and said, collected as its analyses arrive, then summed up on stderr."""

    save: bool
    saved: list[int] = field(default_factory=list)
    extras: list[dict] = field(default_factory=list)
    kept: int = 0
    unsaved: int = 0
    retraining: set[str] = field(default_factory=set)
    said: Counter[str] = field(default_factory=Counter)

    def add(self, analysis: Any, output: Output, write: Callable[[str], None]) -> None:
        """Count one finished analysis and say its error and (once each) its messages and output problems."""
        output.add(analysis.result)
        self.extras.append(analysis.extras)
        self.saved += [analysis.history_id] if analysis.history_id is not None else []
        self.unsaved += self.save and analysis.history_id is None and not analysis.result.error
        self.kept += analysis.kept
        self.retraining.update(analysis.retraining)
        if analysis.result.error:
            write(f"{shown(analysis.key)}: {shown(analysis.result.error)}")
        for text in analysis.messages:
            self.said[text] += 1
            if self.said[text] == 1:  # a store that fails says so once, not once a file
                write(f"{shown(analysis.key)}: {shown(text)}")
        for problem in output.problems:
            write(f"error: {problem}")
        output.problems.clear()

    def report(self, results: list[Result]) -> int:
        """Say what was saved, kept, unsaved and failed; return how many files failed or were not saved."""
        for text, n in self.said.items():
            if n > 1:
                print(f"(and for {n - 1} more file{'s' if n > 2 else ''}: {shown(text)})", file=sys.stderr)
        if self.saved:
            entries = f"entry {self.saved[0]}" if len(self.saved) == 1 else f"entries {self.saved[0]}-{self.saved[-1]}"
            also = f"; kept {self.kept} faces and voice segments for learning" if self.kept else ""
            also += f"; retraining {', '.join(sorted(self.retraining))} in the background" if self.retraining else ""
            print(f"saved to History as {entries}{also}", file=sys.stderr)
        if self.unsaved:
            print(f"{self.unsaved} of {len(results)} analyses could not be saved to History", file=sys.stderr)
        failed = sum(r.error is not None for r in results)
        if failed:
            print(f"{failed} of {len(results)} files failed", file=sys.stderr)
        return failed + self.unsaved


def analyze_command(args: argparse.Namespace) -> int:
    """Run ``analyze`` through the batch flow; return the exit code.

    1 if any file failed, could not be saved or its results written; 2 for a usage error or models that fail.
    """
    from tqdm import tqdm

    from emotion.analysis import batch

    settings = settings_from(args)
    try:
        files, output = _inputs(args, settings)
    except _Stop as stop:
        print(f"error: {stop}", file=sys.stderr)
        return stop.code
    try:
        models, client = _executor(args, settings)
    except _Stop as stop:
        output.close()
        print(f"error: {stop}", file=sys.stderr)
        return stop.code
    bar = tqdm(total=len(files), unit="file", disable=args.quiet, file=sys.stderr)

    def progress(step: batch.Step) -> None:
        bar.set_postfix_str(f"{shown(step.name)[:30]} {step.stage} {step.fraction:.0%}")

    sources = [batch.Source.file(f) for f in files]
    tally = _Tally(settings.save)
    try:
        if client is None:
            stream = batch.run(sources, settings, models, progress=progress)
        else:
            from emotion.analysis import cluster

            stream = cluster.run(sources, settings, client)
        for analysis in stream:
            bar.update(1)
            tally.add(analysis, output, lambda text: tqdm.write(text, file=sys.stderr))
    finally:
        bar.close()
        output.close()
        if client is not None:
            _close_cluster(client)
        for problem in output.problems:
            print(f"error: {problem}", file=sys.stderr)
    bad = tally.report(output.results)
    reported = write_reports(args.report, output.results, tally.extras, settings) if args.report else True
    return 1 if bad or not (output.json_ok and output.csv_ok and reported) else 0


def write_reports(target: str, results: list[Result], extras: list[dict], settings: Settings) -> bool:
    """Write ``--report``: one HTML file (a path ending in .html) or one per result in a folder; say where.

    Returns:
        False when a report could not be written (said on stderr).
    """
    from emotion.report.export import export_stem
    from emotion.report.html import html_report

    path = Path(target)
    anonymise = settings.anonymise
    try:
        if path.suffix.lower() in (".html", ".htm"):
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(html_report(results, extras=extras, anonymise=anonymise, compare=len(results) > 1),
                            encoding="utf-8")
            written = [path]
        else:
            path.mkdir(parents=True, exist_ok=True)
            written = []
            for result, extra in zip(results, extras):
                out = path / f"{export_stem(settings.export_prefix, result.file)}.html"
                out.write_text(html_report([result], extras=[extra], anonymise=anonymise), encoding="utf-8")
                written.append(out)
    except OSError as exc:
        print(f"error: the report could not be written to {shown(target)}: {reason(exc)}", file=sys.stderr)
        return False
    print(f"report written to {', '.join(shown(w) for w in written)}", file=sys.stderr)
    return True


def _close_cluster(client: Any) -> None:
    """Disconnect; a local cluster this command started is shut down with it."""
    cluster = getattr(client, "cluster", None)
    client.close()
    if cluster is not None:
        cluster.close()


def serve_command(args: argparse.Namespace) -> int:
    """Run ``serve`` until interrupted."""
    from emotion.service.api import serve

    print(f"Emotion Studio service on http://{args.host}:{args.port} (docs at /docs); Ctrl-C stops it",
          file=sys.stderr)
    serve(args.host, args.port, args.rate_limit, args.max_jobs, args.threads)
    return 0


def history_command(args: argparse.Namespace) -> int:
    """Run ``history list`` or ``history delete ID``."""
    from emotion import privacy
    from emotion.storage.history import History

    history = History()
    if history.moved is not None:
        print(f"warning: {shown(history.notice())}", file=sys.stderr)
    if args.action == "list":
        for e in history.list(args.limit):
            print(f"{e.id:>6}  {shown(e.label())}")
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
        if args.command == "serve":
            return serve_command(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except (EmotionError, OSError, sqlite3.Error) as exc:  # a read-only, full or damaged data folder
        print(f"error: {_why(exc)}", file=sys.stderr)
        return 1
    except Exception as exc:  # noqa: BLE001 - never a traceback: one line says what broke
        logging.getLogger(__name__).debug("unexpected error", exc_info=True)
        print(f"error: {type(exc).__name__}: {_why(exc)}", file=sys.stderr)
        return 1
    return 2
