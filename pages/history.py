"""History page: every analysis kept in SQLite, to reopen or delete."""

import streamlit as st

from emotion import app_state, privacy, ui

st.title("History")
history = app_state.history()
st.caption(f"Every analysis is kept in `{history.path}`.")

undo = st.session_state.get("history_undo")
if undo:
    msg, button = st.columns([5, 1], vertical_alignment="center")
    gone = undo.get("items", 0)
    also = f" and the {gone} faces and voice segments kept from it (those are gone for good)" if gone else ""
    msg.success(f"Deleted **{undo['result'].file}**{also}.", icon="🗑️")
    if button.button("Undo", icon=":material/undo:", width="stretch"):
        history.add(undo["result"], undo["extras"], undo["created_at"])
        del st.session_state["history_undo"]
        st.rerun()

ui.delete_all_data()
entries = history.list()
if not entries:
    st.info("No analyses yet. Files analysed on the **Analyse** page are kept here.", icon="🗂️")
    st.stop()

st.dataframe(
    [
        {
            "date": e.created_at[:19].replace("T", " "),
            "file": e.file,
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
ids = [e.id for e in entries]
labels = {e.id: e.label() for e in entries}
pick, delete = st.columns([5, 1], vertical_alignment="bottom")
chosen = pick.selectbox("Open an analysis", ids, format_func=labels.get, key="history_pick")
if delete.button("Delete", icon=":material/delete:", width="stretch", key="history_delete"):
    result, extras = history.get(chosen)
    created = history.created_at(chosen)
    items = privacy.forget_analysis(chosen, history)
    st.session_state["history_undo"] = {"result": result, "extras": extras, "created_at": created, "items": items}
    st.rerun()

result, extras = history.get(chosen)
st.divider()
context = ui.context_picker()
ui.render_result(
    result, extras, context, key=f"h{chosen}", prefix=app_state.export_options()["prefix"], just_analysed=False
)
if result.kind == "video":
    st.caption("Uploads are not kept, so the annotated video is only offered right after an analysis.")
