"""The REST service: the batch flow over HTTP (FastAPI), with an optional API key, a rate limit and a bounded queue.

Endpoints (OpenAPI docs at ``/docs``):

- ``POST /v1/analyses``: upload one or more files (multipart field ``files``) with settings as form fields (named
  as the :class:`~emotion.settings.Settings` fields) or one JSON form field ``settings``; returns a job id (202).
- ``GET /v1/analyses/{id}``: a job's status, progress and, when done, its result records; or, for a number, the
  stored History entry. ``GET /v1/analyses`` lists History, with filters.
- ``DELETE /v1/analyses/{id}``: forget a job (cancelled if it still waits or runs) or a History entry, with
  everything kept for learning from it.
- ``GET /v1/analyses/{id}/export.{json,csv,mp4,html}``; ``GET /v1/models``; ``POST /v1/retrain``; ``GET /healthz``.

Every error is a 4xx or 5xx with ``{"detail": "one line"}``: never a traceback, a path or a stored name as a path.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import logging
import shutil
import threading
import time
from collections import OrderedDict, deque
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.datastructures import UploadFile

from emotion import privacy, settings
from emotion.analysis.models import models_for
from emotion.analysis.uploads import MEDIA_EXTS, display_name, safe_extension, sweep, work_folder
from emotion.errors import one_line
from emotion.face.model import face_models
from emotion.learning import jobs as retrains
from emotion.record import Result
from emotion.report.export import export_stem, to_csv, to_json
from emotion.report.html import html_report
from emotion.service.jobs import Job, JobQueue, QueueFull
from emotion.settings import VERSION, SettingError, Settings, describe, parse_settings
from emotion.storage.history import History
from emotion.storage.versions import Registry

log = logging.getLogger(__name__)
MAX_FILES = 20
"""Most files in one upload request."""
OPEN = {"/healthz", "/docs", "/openapi.json", "/docs/oauth2-redirect", "/redoc"}
"""Paths that need no API key and count against no rate limit."""


def _fail(status: int, detail: str) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status)


class RateLimit:
    """At most ``per_minute`` requests per client in any 60 s (0: no limit), for at most ``max_clients`` clients.

    A client whose last request is over 60 s old is forgotten; when the table is full all the same, the one seen
    longest ago is.
    """

    def __init__(self, per_minute: int, max_clients: int = settings.SERVICE_RATE_CLIENTS) -> None:
        self.per_minute = per_minute
        self.max_clients = max(1, max_clients)
        self.seen: OrderedDict[str, deque[float]] = OrderedDict()  # least recently seen first
        self.lock = threading.Lock()

    def allow(self, client: str, now: float | None = None) -> bool:
        """Count one request of ``client`` at ``now`` (monotonic seconds); False when it is over the limit."""
        if self.per_minute <= 0:
            return True
        now = time.monotonic() if now is None else now
        with self.lock:
            self._expire(now)
            times = self.seen.pop(client, None) or deque()
            while times and now - times[0] > 60.0:
                times.popleft()
            while len(self.seen) >= self.max_clients:
                self.seen.popitem(last=False)
            self.seen[client] = times
            if len(times) >= self.per_minute:
                return False
            times.append(now)
            return True

    def _expire(self, now: float) -> None:
        """Forget the clients whose last request is over 60 s old (they are first in the table)."""
        while self.seen:
            times = next(iter(self.seen.values()))
            if times and now - times[-1] <= 60.0:
                return
            self.seen.popitem(last=False)


def client_id(request: Request, given: str, key: str | None) -> tuple[str, bool]:
    """Return whom a request counts against for the rate limit, and whether it holds the configured API key.

    A request with the configured key (compared in constant time) counts against the key; any other counts against
    its peer address (an IPv6 address by its /64 network, which one host may hold whole), whatever header it sends.
    """
    verified = bool(key) and hmac.compare_digest(given.encode(), str(key).encode())
    if verified:
        return "key", True
    host = request.client.host if request.client else "unknown"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return f"peer:{host}", False
    if address.version == 6:
        return f"peer:{ipaddress.ip_network(f'{host}/64', strict=False)}", False
    return f"peer:{address}", False


router = APIRouter()
"""Every endpoint; :func:`create_app` mounts it on an app whose ``state`` holds the queue, limiter and limits."""


def _queue(request: Request) -> JobQueue:
    return request.app.state.queue


@router.get("/healthz")
def healthz(request: Request) -> dict[str, Any]:
    """Liveness: the version and the queue's load."""
    jobs, size = _queue(request).pending()
    return {"status": "ok", "version": VERSION, "jobs_waiting": jobs, "bytes_waiting": size}


@router.get("/v1/models")
def models() -> dict[str, Any]:
    """The face models one can name, the detectors, and each learned modality's serving version."""
    return {
        "face_models": face_models(),
        "detectors": list(settings.DETECTORS),
        "voice_model": "voice_svm",
        "active": {m: Registry(m).active() for m in retrains.MODALITIES},
        "versions": {m: Registry(m).names() for m in retrains.MODALITIES},
    }


@router.post("/v1/retrain", status_code=202)
def retrain(modality: str = "all") -> dict[str, Any]:
    """Start a background retrain of ``voice``, ``face`` or ``all``; a new model serves only if better."""
    if modality not in (*retrains.MODALITIES, "all"):
        raise HTTPException(422, "modality must be voice, face or all")
    names = list(retrains.MODALITIES) if modality == "all" else [modality]
    return {m: "started" if retrains.start(m) else "already running" for m in names}


@router.post("/v1/analyses", status_code=202)
async def submit(request: Request) -> JSONResponse:
    """Upload files to analyse; settings as form fields or a JSON ``settings`` field. Returns the job id."""
    try:
        form = await request.form(max_files=MAX_FILES, max_fields=100)
    except Exception as exc:  # noqa: BLE001 - a malformed body is the client's error
        raise HTTPException(400, f"not a multipart upload ({one_line(exc, 120)})") from None
    uploads = [v for k, v in form.multi_items() if k == "files" and not isinstance(v, str)]
    fields = {k: v for k, v in form.multi_items() if k != "files" and isinstance(v, str)}
    if not uploads:
        raise HTTPException(400, "no files: send them as multipart field 'files'")
    options = _settings(fields)
    queue = _queue(request)
    folder = work_folder()
    names, paths, rejected, size = await _take(uploads, folder, request.app.state.upload_limit)
    if not paths:
        shutil.rmtree(folder, ignore_errors=True)
        status, error = int(rejected[0]["status"]), str(rejected[0]["error"])
        detail = error if len(rejected) == 1 else f"no file could be taken: {error}"
        return JSONResponse({"detail": detail, "rejected": rejected}, status)
    job_id = queue.new_id()
    try:
        queue.submit(Job(job_id, names, paths, options, folder, size))
    except QueueFull as exc:
        return JSONResponse({"detail": str(exc)}, 503, headers={"Retry-After": "30"})
    body = {"id": job_id, "status": "queued", "files": names, "rejected": rejected,
            "status_url": f"/v1/analyses/{job_id}"}  # fmt: skip
    return JSONResponse(body, 202)


async def _take(
    uploads: list[Any], folder: Path, limit: int
) -> tuple[list[str], list[Path], list[dict[str, Any]], int]:
    """Store each upload in ``folder`` under a generated name: (shown names, paths, refused files, bytes taken).

    The folder is removed if storing fails midway.
    """
    names: list[str] = []
    paths: list[Path] = []
    rejected: list[dict[str, Any]] = []
    size = 0
    try:
        for i, upload in enumerate(uploads):
            name = display_name(upload.filename or "upload")
            path = folder / f"upload-{i}{safe_extension(upload.filename or '')}"
            problem = await _store(upload, path, limit)
            if problem:
                rejected.append({"file": name, "status": problem[0], "error": problem[1]})
                continue
            names.append(name)
            paths.append(path)
            size += path.stat().st_size
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return names, paths, rejected, size


@router.get("/v1/analyses")
def listing(limit: int = 100, file: str | None = None, kind: str | None = None, emotion: str | None = None,
            since: str | None = None) -> list[dict[str, Any]]:  # fmt: skip
    """Stored analyses (History), newest first, filtered by file name part, kind, emotion or ISO date."""
    if not 1 <= limit <= 10000:
        raise HTTPException(422, "limit must be 1..10000")
    rows = []
    for e in History().list(10000):
        wanted = (
            (not file or file.lower() in e.file.lower())
            and (not kind or e.kind == kind)
            and (not emotion or (e.dominant_emotion or "").startswith(emotion))
            and (not since or e.created_at >= since)
        )
        if not wanted:
            continue
        rows.append({"id": e.id, "created_at": e.created_at, "file": e.file, "kind": e.kind, "run": e.run,
                     "duration": e.duration, "dominant_emotion": e.dominant_emotion, "error": e.error})  # fmt: skip
        if len(rows) >= limit:
            break
    return rows


@router.get("/v1/analyses/{ref}")
def status(request: Request, ref: str) -> dict[str, Any]:
    """A job's status and progress (and its records when done), or a stored analysis by its History id."""
    job = _queue(request).get(ref)
    if job is not None:
        return job.summary()
    entry_id = _entry_id(ref)
    result, _ = _entry(entry_id)
    return {"id": entry_id, "status": "done", "results": [result.to_dict()]}


@router.delete("/v1/analyses/{ref}")
def forget(request: Request, ref: str) -> dict[str, Any]:
    """Forget a job or a stored analysis, and every face and voice segment kept from it."""
    job = _queue(request).forget(ref)
    ids = [a.history_id for a in job.analyses if a.history_id is not None] if job else [_entry_id(ref)]
    if job is None:
        _entry(ids[0])
    items = sum(privacy.forget_analysis(i) for i in ids)
    return {"deleted": ids, "items": items, "cancelled": bool(job and job.status in ("queued", "running"))}


@router.get("/v1/analyses/{ref}/export.{fmt}")
def export(request: Request, ref: str, fmt: str) -> Response:
    """The records as JSON or CSV, the annotated video (MP4, for a job of one video), or an HTML report."""
    if fmt not in ("json", "csv", "mp4", "html"):
        raise HTTPException(404, "export formats: json, csv, mp4, html")
    job = _queue(request).get(ref)
    if job is not None and job.status != "done":
        raise HTTPException(409, f"the job is {job.status}; exports are ready when it is done")
    results = [a.result for a in job.analyses] if job else [_entry(_entry_id(ref))[0]]
    stem = export_stem("emotion_", results[0].file if len(results) == 1 else f"job-{ref[:8]}")
    if fmt == "json":
        return Response(to_json(results), media_type="application/json", headers=_attachment(f"{stem}.json"))
    if fmt == "csv":
        return PlainTextResponse(to_csv(results), media_type="text/csv", headers=_attachment(f"{stem}.csv"))
    if fmt == "html":
        return HTMLResponse(html_report(results))
    videos = [a.video for a in (job.analyses if job else []) if a.video]
    if len(videos) != 1:
        raise HTTPException(404, "an annotated video exists only for a finished job of one video analysed with "
                                 "annotated_video=true (uploads are not kept)")  # fmt: skip
    return Response(videos[0], media_type="video/mp4", headers=_attachment(f"{stem}_annotated.mp4"))


async def guard(request: Request, call_next):  # noqa: ANN001, ANN201 - Starlette's middleware protocol
    """Rate limit, API key and request size before any endpoint; one line, never a traceback, on failure."""
    state = request.app.state
    if request.url.path not in OPEN:
        key = settings.api_key()
        given = request.headers.get("x-api-key") or request.headers.get("authorization", "").removeprefix("Bearer ")
        client, verified = client_id(request, given, key)
        if not state.limiter.allow(client):  # before the key check, so that guessing keys is limited too
            return JSONResponse({"detail": f"too many requests: at most {state.limiter.per_minute} a minute"}, 429,
                                headers={"Retry-After": "60"})  # fmt: skip
        if key and not verified:
            return _fail(401, "a valid API key is needed (header X-API-Key or Authorization: Bearer)")
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > state.upload_limit + 2**20:
        return _fail(413, f"the request is over the {settings.MAX_UPLOAD_MB} MB upload limit")
    try:
        return await call_next(request)
    except Exception as exc:  # noqa: BLE001 - one line in the log, never a traceback to the client
        log.error("%s %s failed: %r", request.method, request.url.path, exc)
        return _fail(500, f"internal error ({type(exc).__name__})")


async def invalid(request: Request, exc: Exception) -> JSONResponse:
    """A request FastAPI could not validate: the first problem, in one line."""
    errors = exc.errors() if isinstance(exc, RequestValidationError) else []
    first = errors[0] if errors else {}
    where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
    return _fail(422, f"{where or 'request'}: {first.get('msg', 'invalid')}")


async def http_error(request: Request, exc: Exception) -> JSONResponse:
    """An HTTPException as ``{"detail": "one line"}``."""
    assert isinstance(exc, HTTPException)
    return JSONResponse({"detail": str(exc.detail)}, exc.status_code, headers=exc.headers)


def create_app(rate_limit: int = settings.SERVICE_RATE_LIMIT, max_jobs: int = settings.SERVICE_MAX_JOBS,
               threads: int = 1) -> FastAPI:  # fmt: skip
    """Build the service: the :data:`router`, its guard and error handlers, and the queue for its lifetime.

    Args:
        rate_limit: Requests per client per minute (0: no limit).
        max_jobs: Most jobs waiting or running at once; beyond it uploads get 503.
        threads: Jobs analysed at the same time.
    """

    @asynccontextmanager
    async def lifespan(app: FastAPI):  # noqa: ANN202 - FastAPI's lifespan protocol
        sweep()  # upload folders left by a killed server
        app.state.queue = JobQueue(models_for, max_jobs=max_jobs, threads=threads)
        yield
        app.state.queue.close()

    app = FastAPI(title="Emotion Studio", version=VERSION, lifespan=lifespan,
                  description="Facial and vocal emotion analysis of media files: the studio's batch flow over HTTP.")
    app.state.limiter = RateLimit(rate_limit)
    app.state.upload_limit = settings.MAX_UPLOAD_MB * 2**20
    app.middleware("http")(guard)
    app.add_exception_handler(RequestValidationError, invalid)
    app.add_exception_handler(HTTPException, http_error)
    app.include_router(router)
    return app


def _attachment(name: str) -> dict[str, str]:
    return {"Content-Disposition": f'attachment; filename="{name}"'}


def _entry_id(ref: str) -> int:
    if not ref.isdigit() or len(ref) > 12:
        raise HTTPException(404, "no such job or analysis")
    return int(ref)


def _entry(entry_id: int) -> tuple[Result, dict[str, Any]]:
    try:
        return History().get(entry_id)
    except KeyError:
        raise HTTPException(404, f"no analysis with id {entry_id}") from None


def _settings(fields: dict[str, str]) -> Settings:
    """Settings from form fields (each a Settings field) and/or a JSON ``settings`` field; 422 when invalid."""
    values: dict[str, Any] = {}
    if "settings" in fields:
        try:
            given = json.loads(fields.pop("settings"))
        except json.JSONDecodeError:
            raise HTTPException(422, "settings: not valid JSON") from None
        if not isinstance(given, dict):
            raise HTTPException(422, "settings: must be a JSON object")
        values.update(given)
    values.update(fields)
    unknown = sorted(set(values) - {i.name for i in describe()})
    if unknown:
        raise HTTPException(422, f"unknown setting{'s' if len(unknown) > 1 else ''}: {', '.join(unknown[:5])}")
    # As in the CLI: nothing kept for learning unless asked, and a video drawn only when asked (it costs more than
    # the analysis).
    values = {"annotated_video": False, "collect": False, **values}
    try:
        return parse_settings(values, {"face_backend": tuple(face_models())})
    except SettingError as exc:
        raise HTTPException(422, str(exc)) from None


async def _store(upload: UploadFile, path: Path, limit: int) -> tuple[int, str] | None:
    """Copy one upload to its private path in 1 MiB blocks; return (status, message) when it is refused."""
    if not safe_extension(upload.filename or ""):
        kinds = ", ".join(e.lstrip(".") for e in MEDIA_EXTS)
        ext = "".join(c for c in Path(upload.filename or "").suffix.lower() if c.isalnum() or c == ".")[:12]
        return 415, f"unsupported file type '{ext or '(none)'}' (use {kinds})"
    size = 0
    with open(path, "wb") as out:
        while block := await upload.read(1 << 20):
            size += len(block)
            if size > limit:
                out.close()
                path.unlink(missing_ok=True)
                return 413, f"{display_name(upload.filename or '')}: over the {settings.MAX_UPLOAD_MB} MB upload limit"
            out.write(block)
    if size == 0:
        path.unlink(missing_ok=True)
        return 400, f"{display_name(upload.filename or '')}: the file is empty (0 bytes)"
    return None


def serve(host: str = "127.0.0.1", port: int = 8000, rate_limit: int = settings.SERVICE_RATE_LIMIT,
          max_jobs: int = settings.SERVICE_MAX_JOBS, threads: int = 1) -> None:
    """Run the service with uvicorn until interrupted."""
    import uvicorn

    uvicorn.run(create_app(rate_limit, max_jobs, threads), host=host, port=port, log_level="warning")
