"""The History page's parts: the list of saved analyses, reopening one, deleting one (with undo) or everything."""

from __future__ import annotations

import streamlit as st

from emotion import privacy
from emotion.app import state
from emotion.app.results import context_picker, render_result
from emotion.app.widgets import plain
from emotion.settings import changed, data_dir
from emotion.storage.history import History


def undo_notice(history: History) -> None:
    """After a delete: say what went, and offer to restore the analysis (its kept items are gone for good)."""
    undo = st.session_state.get("history_undo")
    if not undo:
        return
    msg, button = st.columns([5, 1], vertical_alignment="center")
    gone = undo.get("items", 0)
    also = f" and the {gone} faces and voice segments kept from it (those are gone for good)" if gone else ""
    msg.success(f"Deleted **{plain(undo['result'].file)}**{also}.", icon="🗑️")
    if button.button("Undo", icon=":material/undo:", width="stretch"):
        history.add(undo["result"], undo["extras"], undo["created_at"])
        del st.session_state["history_undo"]
        st.rerun()


def table(history: History) -> int | None:
    """The list of analyses and a picker; returns the chosen id (None when there are none)."""
    entries = history.list()
    if not entries:
        st.info("No analyses yet. Files analysed on the **Analyse** page are kept here.", icon="🗂️")
        return None
    st.dataframe(
        [
            {
                "id": e.id,
                "date": e.created_at[:19].replace("T", " "),
                "file": e.file,
                "run": e.run,
                "kind": e.kind,
                "duration (s)": round(e.duration, 1),
                "emotion": e.dominant_emotion or "",
                "error": e.error or "",
            }
            for e in entries
        ],
        hide_index=True,
        height=min(36 * (len(entries) + 1) + 2, 290),
    )
    labels = {e.id: e.label() for e in entries}
    pick, delete = st.columns([5, 1], vertical_alignment="bottom")
    chosen = pick.selectbox("Open an analysis", list(labels), format_func=labels.__getitem__, key="history_pick")
    if delete.button("Delete", icon=":material/delete:", width="stretch", key="history_delete"):
        result, extras = history.get(chosen)
        created = history.created_at(chosen)
        items = privacy.forget_analysis(chosen, history)
        st.session_state["history_undo"] = {"result": result, "extras": extras, "created_at": created, "items": items}
        st.rerun()
    return chosen


def show(history: History, chosen: int) -> None:
    """Reopen one analysis: what produced it, then every view of it."""
    result, extras = history.get(chosen)
    st.divider()
    made = result.produced_by
    if made:
        voice = f", voice {made['voice_model']} ({made['voice_model_version']})" if made.get("voice_model") else ""
        st.caption(
            f"Made by {made.get('project', 'an earlier version')}: face model {made.get('face_model', '?')} "
            f"({made.get('face_model_version', '?')}), detector {made.get('detector', '?')}{voice}. "
            f"{_settings_text(result.settings)}"
        )
    context = context_picker()
    render_result(
        result, extras, context, key=f"h{chosen}", prefix=state.current_settings().export_prefix, just_analyzed=False
    )
    if result.kind == "video":
        st.caption("Uploads are not kept, so the annotated video is only offered right after an analysis.")


def _settings_text(values: dict) -> str:
    """One sentence on the settings a record ran with: the defaults, or what differed from them."""
    diff = changed(values)
    if not diff:
        return "Default settings." if values else ""
    return "Settings changed from the defaults: " + ", ".join(f"{k} {v}" for k, v in diff.items()) + "."


def delete_all_data() -> None:
    """A guarded "Delete all stored data" action: history, learning store, learned models and exports."""
    with st.expander("Delete all stored data", icon=":material/delete_forever:"):
        st.write(
            f"Deletes every analysis in the history, every face crop, voice segment and correction in the learning "
            f"store, the learned model versions and the auto-exports, all under `{data_dir()}`. The shipped models "
            "stay. This cannot be undone."
        )
        sure = st.checkbox("I understand, delete everything", key="delete_all_sure")
        st.button("Delete all stored data", type="primary", disabled=not sure, key="delete_all", on_click=_delete_all)
        done = st.session_state.pop("delete_all_done", None)
        if done:
            st.success(f"Deleted {done['analyses']} analyses and {done['items']} learning items.", icon="🗑️")


def _delete_all() -> None:
    st.session_state["delete_all_done"] = privacy.delete_all(state.history())
    st.session_state.pop("history_undo", None)
    st.session_state["delete_all_sure"] = False
