"""The batch flow on a Dask cluster: each file is analysed on a worker; this process saves, keeps and exports.

A worker keeps its models in :mod:`emotion.analysis.models` (per face model, detector and active learned versions,
so a rollback or a promotion reaches its next file) and sends back the record, the side data for the views and the
faces and voice kept for learning; as each file arrives, this process saves it to History, files what was kept
under that entry and writes the exports, exactly as :func:`emotion.analysis.batch.run` does. A file
whose worker fails or is lost is analysed again on another worker (``retries``), and a file that fails every time
comes back as a record with its error, so no file is ever dropped silently.

Files up to :data:`SHIP_LIMIT` travel inside the task; larger ones are read by their path on the worker, so that
path must reach the same file on every worker machine (a shared or network folder).
"""

from __future__ import annotations

import io
import logging
import uuid
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from emotion.analysis import batch
from emotion.analysis.batch import Analysis, Source
from emotion.analysis.models import models_for
from emotion.analysis.uploads import display_name
from emotion.errors import EmotionError, one_line
from emotion.learning.collect import Collector
from emotion.media import media_kind
from emotion.record import Result
from emotion.settings import Settings
from emotion.storage.history import History
from emotion.storage.learning_store import Item, LearningStore

SHIP_LIMIT = 32 * 2**20
"""Files up to this many bytes are sent to the worker inside the task; larger ones are read there by path."""
START_EVENT = "emotion-start"
"""The worker event each task logs when it starts, so this process can tell a retried file."""


class ClusterError(EmotionError):
    """The cluster cannot be reached or started; the message says what to check."""


@dataclass
class Shipped:
    """What a worker sends back for one file."""

    analysis: Analysis
    items: list[Item] = field(default_factory=list)
    skipped: dict[str, int] = field(default_factory=dict)
    limit: int = 500


def analyze_on_worker(source: Source, settings: dict[str, Any], key: str) -> Shipped:
    """Analyse one file on a Dask worker (the task function); nothing is stored there."""
    from distributed import get_worker

    get_worker().log_event(START_EVENT, {"key": key})
    options = Settings.from_dict(settings)
    analysis, collector = batch.analyze_one(source, 0, 1, options, models_for(options), None, None)
    if collector is None:
        return Shipped(analysis)
    return Shipped(analysis, collector.items, dict(collector.skipped), collector.limit)


def connect(scheduler: str | None = None, workers: int = 2) -> Any:
    """A Dask client: to the scheduler at ``scheduler`` (``tcp://host:8786``), or to a new local cluster.

    Raises:
        ClusterError: The scheduler cannot be reached, or the local cluster cannot start.
    """
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise ClusterError("dask.distributed is not installed (pip install 'distributed')") from None
    logging.getLogger("distributed").setLevel(logging.WARNING)  # its start-up chatter is not the user's business
    try:
        if scheduler:
            return Client(scheduler, timeout="20s")
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None)
        return Client(cluster)
    except (OSError, TimeoutError) as exc:
        where = f"the Dask scheduler at {scheduler}" if scheduler else "a local Dask cluster"
        raise ClusterError(f"could not reach {where}: {one_line(exc, 200)}") from None


def _for_task(source: Source) -> Source:
    """Ship a small file's bytes in the task; leave a large one as a path the worker reads."""
    if source.path is not None and source.path.is_file() and source.path.stat().st_size <= SHIP_LIMIT:
        return Source(name=source.name, stream=io.BytesIO(source.path.read_bytes()), key=source.key)
    return source


def run(
    sources: Iterable[Source],
    settings: Settings,
    client: Any,
    history: History | None = None,
    store: LearningStore | None = None,
    retries: int = 2,
) -> Iterator[Analysis]:
    """Analyse each input on the cluster and save, keep and export it here; yield each one as it arrives.

    Analyses arrive in the order they finish. A file whose worker raised or died is tried again up to ``retries``
    times on any worker; the analysis says so in its messages. One that fails every time comes back with its error.
    """
    sources = list(sources)
    batch_id = uuid.uuid4().hex[:8]
    starts: Counter[str] = Counter()  # task key -> times it started on a worker, counted as the events arrive

    def count(event: tuple[float, Any]) -> None:
        if isinstance(event[1], dict):
            starts[str(event[1].get("key"))] += 1

    client.subscribe_topic(START_EVENT, count)
    try:
        yield from _collect(sources, settings, client, history, store, retries, batch_id, starts)
    finally:
        client.unsubscribe_topic(START_EVENT)


def _collect(sources: list[Source], settings: Settings, client: Any, history: History | None,
             store: LearningStore | None, retries: int, batch_id: str, starts: Counter[str]) -> Iterator[Analysis]:
    """Submit every file, then save and yield each analysis as it arrives."""
    from distributed import as_completed

    futures = {}
    for index, source in enumerate(sources):
        key = f"emotion-{batch_id}-{index}"
        future = client.submit(analyze_on_worker, _for_task(source), settings.to_dict(), key, key=key,
                               retries=retries, pure=False)
        futures[future] = (key, source)
    for future in as_completed(futures):
        key, source = futures.pop(future)
        try:
            shipped: Shipped = future.result()
        except Exception as exc:  # noqa: BLE001 - a lost or failing worker must never drop a file
            detail = one_line(exc, 160)
            shown = display_name(source.name)
            kind = media_kind(source.path or source.name)
            error = f"the cluster could not analyse it after {retries + 1} tries ({type(exc).__name__}: {detail})"
            yield Analysis(source.key, Result(file=shown, kind=kind, error=error))
            continue
        analysis = shipped.analysis
        analysis.key = source.key
        collector = None
        if shipped.items or shipped.skipped:
            collector = Collector(analysis.result.file, limit=shipped.limit)
            collector.items, collector.skipped = shipped.items, shipped.skipped
        if not analysis.result.error:
            batch.save_one(analysis, collector, settings, history, store)
        if starts[key] > 1:
            analysis.messages.append(
                f"analysed {starts[key]} times: a worker failed or was lost, and another took it over"
            )
        yield analysis
