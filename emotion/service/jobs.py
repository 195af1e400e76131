"""The service's job queue: uploads wait on disk in private folders; worker threads run the batch flow on them.

The queue is bounded in jobs and in bytes, so a flood of uploads is answered "busy" instead of filling memory or
disk. A job's private folder is deleted when its analysis ends (finished, failed or cancelled), as in the app.
"""

from __future__ import annotations

import queue
import shutil
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from emotion.analysis import batch
from emotion.analysis.batch import Analysis, Source
from emotion.analysis.pipeline import Models
from emotion.errors import one_line
from emotion.settings import Settings

KEEP_FINISHED = 500
"""Most finished jobs (with their records and any annotated video) kept in memory for status and export."""


class QueueFull(Exception):
    """No room for another job; the message says why."""


@dataclass
class Job:
    """One POST: its files, where they wait, and what became of them.

    Attributes:
        id: The job's id (32 hex digits).
        names: The uploads' names, for display only.
        paths: The private copies, in upload order.
        settings: The settings the job runs with.
        folder: The job's private folder (deleted when the job ends).
        size: Bytes waiting on disk.
        status: "queued", "running", "done", "failed" or "cancelled".
        progress: 0..1 over all the job's files.
        analyses: The finished files' analyses, in upload order.
        error: Why the job failed, when it did.
    """

    id: str
    names: list[str]
    paths: list[Path]
    settings: Settings
    folder: Path
    size: int
    status: str = "queued"
    progress: float = 0.0
    analyses: list[Analysis] = field(default_factory=list)
    error: str | None = None
    created: float = field(default_factory=time.time)
    finished: float | None = None
    cancel: threading.Event = field(default_factory=threading.Event)

    def summary(self) -> dict[str, Any]:
        """The job as JSON-ready data: status, progress and, per file, its History id or error."""
        files = []
        for i, name in enumerate(self.names):
            done = self.analyses[i] if i < len(self.analyses) else None
            files.append({
                "file": done.result.file if done else name,
                "status": ("failed" if done.result.error else "done") if done else self.status,
                "history_id": done.history_id if done else None,
                "error": done.result.error if done else None,
                "messages": list(done.messages) if done else [],
            })
        out: dict[str, Any] = {"id": self.id, "status": self.status, "progress": round(self.progress, 3),
                               "files": files, "error": self.error}
        if self.status == "done":
            out["results"] = [a.result.to_dict() for a in self.analyses]
        return out


class JobQueue:
    """A bounded queue of jobs and the worker threads that run them through :func:`emotion.analysis.batch.run`.

    Args:
        models: Loads the models for a job's settings (the service passes
            :func:`emotion.analysis.models.models_for`, the process's one model cache).
        max_jobs: Most jobs waiting or running at once.
        max_bytes: Most upload bytes waiting on disk at once.
        threads: Jobs analysed at the same time.
        keep_seconds: How long a finished job (and its annotated video) stays queryable.
    """

    def __init__(self, models: Callable[[Settings], Models], max_jobs: int = 64, max_bytes: int = 4 * 2**30,
                 threads: int = 1, keep_seconds: float = 3600.0) -> None:
        self.models, self.max_jobs, self.max_bytes, self.keep_seconds = models, max_jobs, max_bytes, keep_seconds
        self.jobs: dict[str, Job] = {}
        self.lock = threading.Lock()
        self.waiting: queue.Queue[Job | None] = queue.Queue()
        self.threads = [threading.Thread(target=self._work, daemon=True, name=f"job-{i}") for i in range(threads)]
        for thread in self.threads:
            thread.start()

    def new_id(self) -> str:
        """A fresh job id."""
        return uuid.uuid4().hex

    def pending(self) -> tuple[int, int]:
        """Jobs and bytes waiting or running."""
        with self.lock:
            live = [j for j in self.jobs.values() if j.status in ("queued", "running")]
            return len(live), sum(j.size for j in live)

    def submit(self, job: Job) -> None:
        """Queue a job.

        Raises:
            QueueFull: Too many jobs or bytes are waiting; the job's folder is deleted.
        """
        self._expire()
        jobs, size = self.pending()
        if jobs >= self.max_jobs or size + job.size > self.max_bytes:
            shutil.rmtree(job.folder, ignore_errors=True)
            raise QueueFull(f"the analysis queue is full ({jobs} jobs, {size / 2**20:.0f} MB waiting); try again later")
        with self.lock:
            self.jobs[job.id] = job
        self.waiting.put(job)

    def get(self, job_id: str) -> Job | None:
        """The job with this id, if it is known."""
        with self.lock:
            return self.jobs.get(job_id)

    def forget(self, job_id: str) -> Job | None:
        """Cancel a job (if it waits or runs) and drop it; its files are deleted. Returns it, or None."""
        with self.lock:
            job = self.jobs.pop(job_id, None)
        if job is not None:
            job.cancel.set()
            if job.status == "queued":
                job.status = "cancelled"
                shutil.rmtree(job.folder, ignore_errors=True)
        return job

    def close(self) -> None:
        """Stop the worker threads after the job in hand; delete every waiting job's files."""
        with self.lock:
            jobs = list(self.jobs.values())
        for job in jobs:
            job.cancel.set()
            if job.status == "queued":
                shutil.rmtree(job.folder, ignore_errors=True)
        for _ in self.threads:
            self.waiting.put(None)

    def _expire(self) -> None:
        """Drop finished jobs older than ``keep_seconds``, and all but the newest ``KEEP_FINISHED`` of them."""
        now = time.time()
        with self.lock:
            done = sorted((j.finished, k) for k, j in self.jobs.items() if j.finished)
            old = [k for t, k in done if now - t > self.keep_seconds] + [k for _, k in done[:-KEEP_FINISHED]]
            for k in set(old):
                del self.jobs[k]

    def _work(self) -> None:
        while True:
            job = self.waiting.get()
            if job is None:
                return
            if job.cancel.is_set():
                continue
            self._run(job)

    def _run(self, job: Job) -> None:
        job.status = "running"
        total = len(job.paths)

        def progress(step: batch.Step) -> None:
            job.progress = (len(job.analyses) + step.value) / total

        try:
            models = self.models(job.settings)
            sources = [Source(name=name, path=path, key=str(i)) for i, (name, path) in
                       enumerate(zip(job.names, job.paths))]
            for analysis in batch.run(sources, job.settings, models, progress=progress, cancel=job.cancel):
                job.analyses.append(analysis)
                job.progress = len(job.analyses) / total
            job.status = "cancelled" if job.cancel.is_set() else "done"
        except Exception as exc:  # noqa: BLE001 - a failed job reports why; the service goes on
            job.status, job.error = "failed", one_line(exc, 200)
        finally:
            shutil.rmtree(job.folder, ignore_errors=True)
            job.finished = time.time()
