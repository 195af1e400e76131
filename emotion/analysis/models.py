"""The one cache of loaded models, shared by every way in: the app, the REST service, the Dask workers, the live page.

An entry is keyed by the face backend, whether faces are eye-aligned, the detector, the model registry's folder
(the data dir) and the active learned version of each modality (see :mod:`emotion.storage.versions`). A rollback
or a promoted retrain changes the key, so the next analysis loads, and then reuses, the version that is active now,
in every process that asks (each process, a Dask worker included, holds its own cache). The cache keeps at most
:data:`MAX_ENTRIES` entries, the least recently used going first, and is safe to use from many threads: a set of
models is loaded once even when several threads ask for it at the same time.

The voice model itself still loads lazily, per analysis, from the active version (``Models.voice`` is None); its
version is in the key so that anything built from the models (a live session) is built again when it changes.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future

from emotion.analysis.pipeline import Models
from emotion.settings import Settings
from emotion.storage.versions import Registry

MAX_ENTRIES = 4
"""Most sets of models kept loaded in one process (each face backend with its detector is tens of MB)."""

Key = tuple[str, str, str, str, str]
"""(face backend with "+aligned" when faces are eye-aligned, detector, registry folder, active face version, active
voice version)."""


def model_key(settings: Settings) -> Key:
    """The cache key of the models ``settings`` ask for, with the learned versions active now.

    The face version counts only for the default face model, the one a learned face adapter refines.
    """
    face, voice = Registry("face"), Registry("voice")
    face_version = face.active() if settings.face_backend == "default" else "-"
    backend = settings.face_backend + ("+aligned" if settings.face_align else "")
    return backend, settings.detector, str(face.folder.parent), face_version, voice.active()


class ModelCache:
    """Loaded models by :func:`model_key`, at most ``max_entries`` of them, safe to share between threads.

    Args:
        max_entries: Most entries kept; the least recently used is dropped first.
        load: Loads the models for settings (tests may count the loads; the app uses :meth:`Models.load`).
    """

    def __init__(self, max_entries: int = MAX_ENTRIES, load: Callable[[Settings], Models] = Models.load) -> None:
        self.max_entries = max(1, max_entries)
        self._load = load
        self._entries: OrderedDict[Key, Future[Models]] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def cached(self, settings: Settings) -> bool:
        """Whether the models ``settings`` ask for now are loaded (or being loaded) already."""
        key = model_key(settings)
        with self._lock:
            return key in self._entries

    def get(self, settings: Settings) -> Models:
        """The models for ``settings`` and the learned versions active now, loaded on first use.

        Raises:
            ModelUnavailable: A model file is missing (nothing is cached; the next call tries again).
        """
        key = model_key(settings)
        with self._lock:
            entry = self._entries.get(key)
            mine = entry is None
            if entry is None:
                entry = self._entries[key] = Future()
                while len(self._entries) > self.max_entries:
                    self._entries.popitem(last=False)
            else:
                self._entries.move_to_end(key)
        if not mine:
            return entry.result()  # loaded, or being loaded by another thread: wait for it
        try:
            models = self._load(Settings(face_backend=settings.face_backend, detector=settings.detector))
        except BaseException as exc:
            self._drop(key, entry)
            entry.set_exception(exc)
            raise
        if model_key(settings) != key:  # a rollback or promotion during the load: do not file it under the old key
            self._drop(key, entry)
        entry.set_result(models)
        return models

    def clear(self) -> None:
        """Forget every entry (the models in use stay alive until their users let go)."""
        with self._lock:
            self._entries.clear()

    def _drop(self, key: Key, entry: Future[Models]) -> None:
        with self._lock:
            if self._entries.get(key) is entry:
                del self._entries[key]


CACHE = ModelCache()
"""This process's cache."""


def models_for(settings: Settings) -> Models:
    """This process's cached models for ``settings`` and the learned versions active now (see :class:`ModelCache`).

    Raises:
        ModelUnavailable: A model file is missing.
    """
    return CACHE.get(settings)
