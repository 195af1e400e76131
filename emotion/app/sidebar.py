"""The settings sidebar, generated from the fields of :class:`~emotion.settings.Settings`.

Each field's metadata (label, group, help, bounds, choices) makes its widget, so a new setting appears here and in
the CLI without further code. Two pairs of fields get one widget each: the sampling mode chooses between frames
per video and frames per second, and one range slider sets the darkest and brightest accepted frame.
"""

from __future__ import annotations

import streamlit as st

from emotion.app import state
from emotion.face.model import face_models
from emotion.settings import BRIGHTNESS_CONTROL, GROUPS, FieldInfo, Settings, data_dir, describe

ICONS = {
    "Performance": ":material/speed:",
    "Model": ":material/psychology:",
    "Quality": ":material/verified:",
    "Learning": ":material/model_training:",
    "Export": ":material/save:",
    "Live": ":material/videocam:",
}
SLIDERS = {"workers", "collect_threshold", "live_window"}
"""Fields shown as sliders rather than number boxes."""
COMPOSITE = {"max_frames", "fps", "min_brightness", "max_brightness"}
"""Fields drawn by a widget that stands for two of them (see the module docstring)."""


def sidebar_settings() -> Settings:
    """Draw the settings sidebar, one expander per group, and return the current settings."""
    state.init()
    infos = describe()
    for group in GROUPS:
        with st.sidebar.expander(group, expanded=group == "Performance", icon=ICONS[group]):
            if group == "Performance":
                _sampling(infos)
            if group == "Quality":
                st.slider(BRIGHTNESS_CONTROL, 0.0, 255.0, key="cfg_brightness",
                          help="Faces darker or brighter than this (mean brightness of the face) are dropped; frames "
                               "outside it on the whole are contrast-enhanced first.")
            for info in infos:
                if info.group == group and info.name not in COMPOSITE:
                    _widget(info)
            if group == "Export":
                st.caption(f"Exports go to `{data_dir() / 'exports'}`.")
    st.sidebar.button("Reset settings", on_click=state.reset_settings, width="stretch")
    return state.current_settings()


def _sampling(infos: list[FieldInfo]) -> None:
    st.radio("Sampling", ["frames", "fps"], key="cfg_sampling", horizontal=True,
             format_func=lambda v: "Frames per video" if v == "frames" else "Frames per second")
    shown = "max_frames" if st.session_state["cfg_sampling"] == "frames" else "fps"
    info = next(i for i in infos if i.name == shown)
    st.number_input(info.label, info.type(info.lo or 0.1), info.type(info.hi), step=info.type(info.step),
                    key=f"cfg_{info.name}", help=info.help)


def _widget(info: FieldInfo) -> None:
    """One setting's widget, chosen by its type and metadata."""
    key = f"cfg_{info.name}"
    if info.type is bool:
        st.toggle(info.label, key=key, help=info.help)
    elif info.choices:
        options = face_models() if info.name == "face_backend" else list(info.choices)
        st.selectbox(info.label, options, key=key, help=info.help)
    elif info.type in (int, float) and info.name in SLIDERS:
        assert info.lo is not None and info.hi is not None and info.step is not None  # numeric settings have bounds
        hi = max(info.hi or 1, 8) if info.name == "workers" else info.hi
        st.slider(info.label, info.type(info.lo), info.type(hi), step=info.type(info.step), key=key, help=info.help)
    elif info.type in (int, float):
        assert info.lo is not None and info.hi is not None and info.step is not None  # numeric settings have bounds
        st.number_input(info.label, info.type(info.lo), info.type(info.hi), step=info.type(info.step), key=key,
                        help=info.help)
    else:
        st.text_input(info.label, key=key, help=info.help, max_chars=40)
