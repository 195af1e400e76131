"""State the app's pages share: models from the one process-wide cache, settings and results per session.

Settings live in ``st.session_state`` under ``cfg_<field>`` keys, one per :class:`~emotion.settings.Settings`
field (plus the sampling mode and the brightness range, two widgets that each stand for two fields), so they last
for the whole session on every page.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import streamlit as st

from emotion.analysis import models as model_cache
from emotion.analysis.pipeline import Models
from emotion.analysis.uploads import sweep
from emotion.face.model import face_models
from emotion.settings import SettingError, Settings, describe, parse_value
from emotion.storage.history import History

ANALYSES = "analyses"
"""Session key of the analysed uploads: upload id -> :class:`~emotion.analysis.batch.Analysis`."""


@st.cache_resource(show_spinner=False)
def swept() -> int:
    """Remove, once per server start, the private upload copies that a server killed mid-analysis left behind."""
    return sweep()


def models_for(settings: Settings) -> Models:
    """Return the cached models for ``settings`` and the active learned versions (see :mod:`emotion.analysis.models`).

    A rollback or a promoted retrain takes effect at the next analysis, as in the service and the cluster. Raises
    ``ModelUnavailable`` with a message to show.
    """
    if model_cache.CACHE.cached(settings):
        return model_cache.models_for(settings)
    with st.spinner("Loading the face models…"):
        return model_cache.models_for(settings)


def defaults() -> dict[str, Any]:
    """Return every setting's default, keyed as in ``st.session_state``."""
    base = Settings()
    values = {f"cfg_{f.name}": getattr(base, f.name) for f in dataclasses.fields(Settings)}
    values["cfg_sampling"] = "fps" if base.fps > 0 else "frames"
    values["cfg_fps"] = base.fps if base.fps > 0 else 2.0
    values["cfg_brightness"] = (float(base.min_brightness), float(base.max_brightness))
    return values


def init() -> None:
    """Put the default settings into the session once, and start the session's result list."""
    swept()
    for key, value in defaults().items():
        st.session_state.setdefault(key, value)
    st.session_state.setdefault(ANALYSES, {})


def reset_settings() -> None:
    """Set every setting back to its default (a button callback)."""
    for key, value in defaults().items():
        st.session_state[key] = value


def current_settings() -> Settings:
    """Return the session's settings."""
    init()
    state = st.session_state
    values = {f.name: state.get(f"cfg_{f.name}") for f in dataclasses.fields(Settings)}
    values["fps"] = float(state["cfg_fps"]) if state["cfg_sampling"] == "fps" else 0.0
    values["min_brightness"], values["max_brightness"] = (float(v) for v in state["cfg_brightness"])
    return _parsed({k: v for k, v in values.items() if v is not None})


def _parsed(values: dict[str, Any]) -> Settings:
    """Settings from the session's values by the one setting parser; a refused value keeps its default and says so.

    The widgets keep values in bounds; this catches what they cannot (a face model removed since, a stale session).
    """
    infos = {i.name: i for i in describe()}
    choices = {"face_backend": tuple(face_models())}
    parsed = {}
    for name, raw in values.items():
        try:
            parsed[name] = parse_value(infos[name], raw, choices.get(name))
        except SettingError as exc:
            st.warning(f"{infos[name].label}: {exc}; using the default ({infos[name].default}).", icon="⚠️")
    return Settings(**parsed)


def history() -> History:
    """Return the History database (under the data dir)."""
    return History()


def analyses() -> dict[str, Any]:
    """Return the session's analysed uploads in the order they were analysed."""
    init()
    return st.session_state[ANALYSES]


def add_analysis(key: str, entry: Any) -> None:
    """Store one analysed upload under its upload id (a re-analysis moves it to the end)."""
    items = analyses()
    items.pop(key, None)
    items[key] = entry
