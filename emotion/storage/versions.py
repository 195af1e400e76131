"""Model versions: every retrained model is kept with its metrics and data, one is active, any can be restored.

Layout: ``<data dir>/models/<modality>/registry.json`` and one file per version beside it. Files and the
registry are written to a temporary name and renamed, so a crash mid-write leaves the old model serving.
A version whose file is missing or fails its checksum is skipped, with a message, for the last good one.
"""

from __future__ import annotations

import fcntl
import json
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from emotion.files import atomic_write, sha256
from emotion.settings import data_dir

log = logging.getLogger(__name__)
BASE = "base"
"""The version name of the model the project ships."""


def _well_formed(data: Any) -> bool:
    """Whether registry data has the shape this module writes (an active name and well-formed versions)."""
    fields = {"version": str, "file": str, "sha256": str}
    return (
        isinstance(data, dict)
        and isinstance(data.get("active"), str)
        and isinstance(data.get("versions"), list)
        and all(
            isinstance(v, dict)
            and all(isinstance(v.get(k), t) for k, t in fields.items())
            and isinstance(v.get("metrics", {}), dict)
            for v in data["versions"]
        )
    )


class Registry:
    """The versions of one modality's learned model.

    Args:
        modality: "voice" or "face".
        root: The folder of all registries; defaults to ``<data dir>/models``.
    """

    def __init__(self, modality: str, root: str | Path | None = None) -> None:
        self.folder = Path(root or data_dir() / "models") / modality
        self.file = self.folder / "registry.json"

    def _read(self) -> dict[str, Any]:
        """The registry, or an empty one (the shipped model serves) when it is missing, unreadable or malformed."""
        try:
            data = json.loads(self.file.read_bytes())
        except FileNotFoundError:
            return {"active": BASE, "versions": []}
        except (OSError, ValueError) as exc:  # ValueError: not UTF-8, not JSON
            log.warning("model registry %s is unreadable (%s); using the shipped model", self.file, exc)
            return {"active": BASE, "versions": []}
        if not _well_formed(data):
            log.warning("model registry %s is damaged; using the shipped model", self.file)
            return {"active": BASE, "versions": []}
        return data

    @contextmanager
    def _locked(self) -> Iterator[None]:
        """Serialise read-modify-write of the registry across processes (a retrain adding, a page rolling back)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        with open(self.folder / ".registry.lock", "w") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            yield

    def _write(self, data: dict[str, Any]) -> None:
        atomic_write(self.file, lambda tmp: tmp.write_text(json.dumps(data, indent=1)))

    def versions(self) -> list[dict[str, Any]]:
        """Every version, oldest first: ``version``, ``created``, ``file``, ``sha256``, ``metrics``, ``data``."""
        return self._read()["versions"]

    def active(self) -> str:
        """The active version's name (``"base"`` for the shipped model)."""
        return self._read()["active"]

    def add(self, write: Callable[[Path], None], metrics: dict, data: dict, suffix: str, promote: bool) -> str:
        """Save a new version's file with ``write(path)``, record it, and make it active if ``promote``."""
        version = time.strftime("v%Y%m%d-%H%M%S") + f"-{len(self.versions()) + 1}"
        path = self.folder / f"{version}{suffix}"
        atomic_write(path, write)
        entry = {
            "version": version,
            "created": time.time(),
            "file": path.name,
            "sha256": sha256(path),
            "metrics": metrics,
            "data": data,
            "promoted": promote,
        }
        with self._locked():
            reg = self._read()
            reg["versions"].append(entry)
            if promote:
                reg["active"] = version
            self._write(reg)
        return version

    def rollback(self, version: str) -> None:
        """Make ``version`` (or ``"base"``) the active model.

        Raises:
            ValueError: If there is no such version.
        """
        with self._locked():
            reg = self._read()
            if version != BASE and version not in {v["version"] for v in reg["versions"]}:
                raise ValueError(f"no {self.folder.name} model version '{version}'; known: {self.names()}")
            reg["active"] = version
            self._write(reg)

    def score(self, version: str) -> float | None:
        """The version's accuracy on the gate's reference set: from its own retrain, or a later one judged against it.

        The reference set is RAVDESS actor 24 for the voice and the reference faces for the face adapter. None when
        no retrain ever scored it (the shipped model before the first retrain).
        """
        value = None
        for v in self.versions():
            m = v.get("metrics", {})
            value = m.get("score") if v["version"] == version else value
            value = m.get("current_score") if m.get("current_version") == version and value is None else value
        return value

    def names(self) -> list[str]:
        """Every version name, with ``"base"`` first."""
        return [BASE] + [v["version"] for v in self.versions()]

    def active_file(self) -> tuple[str, Path | None, str | None]:
        """The active version's file, checked; falls back to the last good earlier version, then to base.

        Returns:
            (version, path or None for base, a message when a fallback was taken).
        """
        reg = self._read()
        by_name = {v["version"]: v for v in reg["versions"]}
        order = [v["version"] for v in reg["versions"] if v.get("promoted") or v["version"] == reg["active"]]
        candidates = [reg["active"]] + [n for n in reversed(order) if n != reg["active"]]
        bad: list[str] = []
        for name in candidates:
            if name == BASE:
                break
            entry = by_name.get(name)
            path = self.folder / entry["file"] if entry else None
            if entry and path and path.is_file() and sha256(path) == entry["sha256"]:
                return name, path, self._fallback(bad, f"the earlier good version {name}")
            bad.append(name)
        return BASE, None, self._fallback(bad, "the shipped model")

    def _fallback(self, bad: list[str], using: str) -> str | None:
        """The message (also logged) for skipping damaged versions, or None when none was skipped."""
        if not bad:
            return None
        message = f"{self.folder.name} model {', '.join(bad)} is missing or corrupt; using {using}"
        log.warning(message)
        return message
