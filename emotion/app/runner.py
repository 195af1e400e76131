"""Running a batch from the Analyse page: a progress bar, a Cancel button, and the results kept for the session.

All the work is :func:`emotion.analysis.batch.run`, the flow the CLI uses too; this module only shows it.
"""

from __future__ import annotations

import threading
from typing import Any

import streamlit as st

from emotion.analysis import batch
from emotion.analysis.uploads import MEDIA_EXTS
from emotion.app import state
from emotion.app.widgets import plain
from emotion.errors import ModelUnavailable
from emotion.settings import Settings

STAGES = {
    "decode": "decoding frames",
    "faces": "reading faces",
    "audio": "listening to the voice",
    "summary": "summarising",
    "thumbnails": "cropping face thumbnails",
    "video": "drawing the annotated video",
}


def _cancel() -> None:
    event = st.session_state.get("cancel_event")
    if event is not None:
        event.set()
    st.session_state["batch_cancelled"] = True


def batch_notice() -> None:
    """Say so when the last batch was cancelled or cut short (Streamlit stops a run when a widget changes)."""
    progress = st.session_state.get("batch")
    if not progress or not progress.get("running"):
        return
    progress["running"] = False
    done, total = progress["done"], progress["total"]
    cancelled = st.session_state.pop("batch_cancelled", False)
    why = "Cancelled" if cancelled else "Interrupted (the page was changed or stopped)"
    st.warning(f"{why} after {done} of {total} files. Press **Analyse** to analyse the rest.", icon="⏹️")


def run_batch(files: list[Any], settings: Settings) -> None:
    """Analyse uploaded files through the batch flow, with a progress bar and a Cancel button.

    Each finished file is added to the session's results at once, so a cancel keeps what was done.

    Args:
        files: Streamlit ``UploadedFile`` objects (anything with ``name``, ``file_id`` and file reading).
        settings: The session's settings.
    """
    try:
        models = state.models_for(settings)
    except ModelUnavailable as exc:
        st.error(f"The models could not load: {plain(exc)}", icon="🚫")
        return
    except (OSError, ValueError, TypeError, KeyError) as exc:  # e.g. a damaged model registry
        st.error(f"The models could not load: {plain(type(exc).__name__)}: {plain(exc)}", icon="🚫")
        return
    cancel = threading.Event()
    st.session_state["cancel_event"] = cancel
    st.session_state.pop("batch_cancelled", None)
    progress = st.session_state["batch"] = {"total": len(files), "done": 0, "running": True}
    slot = st.empty()
    with slot.container(border=True):
        top = st.columns([6, 1], vertical_alignment="center")
        overall = top[0].empty()
        top[1].button("Cancel", on_click=_cancel, icon=":material/stop_circle:", width="stretch", key="cancel_batch")
        bar = st.progress(0.0)

    def show(step: batch.Step) -> None:
        overall.markdown(f"**Analysing {step.index + 1} of {step.total}:** {plain(step.name)}")
        bar.progress(step.value, text=f"{plain(step.name)}: {STAGES.get(step.stage, step.stage)} {step.fraction:.0%}")

    sources = [batch.Source.upload(f, f.name, f.file_id) for f in files]
    failed = 0
    for analysis in batch.run(sources, settings, models, progress=show, cancel=cancel):
        failed += analysis.result.error is not None
        for message in analysis.messages:  # shown with the result too, for as long as it is on the page
            st.toast(f"{plain(analysis.result.file)}: {plain(message)}", icon="⚠️")
        for modality in analysis.retraining:
            st.toast(f"Enough new labels: retraining the {modality} model in the background", icon="🧠")
        state.add_analysis(analysis.key, analysis)
        progress["done"] += 1
    slot.empty()
    if progress["done"] == progress["total"]:
        progress["running"] = False
        done = progress["done"]
        text = f"Analysed {done} file{'s' if done != 1 else ''}"
        st.toast(f"{text}; {failed} could not be analysed" if failed else text, icon="⚠️" if failed else "✅")
        st.rerun()  # redraw the page with the new results and the Analyse button's new label


def uploader_help() -> str:
    """The uploader's help: what it takes, and its size limit (``server.maxUploadSize``)."""
    limit = int(st.get_option("server.maxUploadSize"))
    return (
        "Videos (mp4, mov, webm, …), audio (wav, mp3, flac, …) or images (jpg, png, …). Several at once is fine. "
        f"Up to {limit} MB per file (`server.maxUploadSize` in `.streamlit/config.toml`)."
    )


def accepted_types() -> list[str]:
    """Return the upload extensions the analysis reads, without dots."""
    return [e.lstrip(".") for e in MEDIA_EXTS]
