"""The History page's parts: the list of saved analyses, reopening one, deleting one (with undo) or everything."""

from __future__ import annotations

import streamlit as st

from emotion import privacy
from emotion.app import state
from emotion.app.results import context_picker, render_result
from emotion.app.widgets import errors_shown, inert, plain
from emotion.settings import changed, data_dir
from emotion.storage.history import History
from emotion.storage.sqlite import StoreError


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
        with errors_shown("The analysis could not be restored"):
            history.add(undo["result"], undo["extras"], undo["created_at"])
            del st.session_state["history_undo"]
            st.rerun()


def table(history: History) -> int | None:
    """The list of analyses and a picker; returns the chosen id (None when there are none or they cannot be read)."""
    entries = None
    with errors_shown("History cannot be read"):
        if not len(history):
            st.info("No analyses yet. Files analysed on the **Analyse** page are kept here.", icon="🗂️")
            return None
        entries = history.list(**filters(history))
    if entries is None:
        return None
    if not entries:
        st.info("No analysis matches these filters.", icon="🔎")
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
                "tags": ", ".join(e.tags),
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
        st.session_state["history_confirm"] = chosen
    if st.session_state.get("history_confirm") == chosen and _confirmed(labels[chosen]):
        st.session_state["history_confirm"] = None
        with errors_shown("The analysis could not be deleted"):
            try:
                result, extras = history.get(chosen)
                undo = {"result": result, "extras": extras, "created_at": history.created_at(chosen)}
            except (KeyError, StoreError):  # gone already, or damaged: delete it all the same, without an undo
                undo = None
            items = privacy.forget_analysis(chosen, history)
            st.session_state["history_undo"] = {**undo, "items": items} if undo else None
            st.rerun()
    tags_editor(history, chosen, next(e.tags for e in entries if e.id == chosen))
    return chosen


def _confirmed(label: str) -> bool:
    """Ask before deleting the analysis ``label``; True once the analyst confirms (Cancel forgets the question)."""
    st.warning(f"Delete {label}, its faces and voice segments kept for learning, and its exports' records?",
               icon="🗑️")
    yes, no = st.columns(2)
    if no.button("Cancel", key="history_delete_cancel", width="stretch"):
        st.session_state["history_confirm"] = None
        st.rerun()
    return yes.button("Yes, delete it", key="history_delete_confirm", type="primary", width="stretch")


def filters(history: History) -> dict:
    """Search and filters over the stored analyses; returns keyword arguments for :meth:`History.list`."""
    a, b, c, d = st.columns([2, 1.4, 1.2, 1.2])
    search = a.text_input("Search", key="history_search", placeholder="file name, emotion or tag")
    picked = b.date_input("Dates", value=[], key="history_dates", help="From and to (both inclusive)")
    emotion = c.selectbox("Dominant emotion", ["(all)", *history.emotions()], key="history_emotion")
    tag = d.selectbox("Tag", ["(all)", *history.tags()], key="history_tag")
    dates = list(picked) if isinstance(picked, list | tuple) else [picked]
    return {
        "search": search or "",
        "since": dates[0].isoformat() if dates else None,
        "until": (dates[1] if len(dates) > 1 else dates[0]).isoformat() if dates else None,
        "emotion": None if emotion == "(all)" else emotion,
        "tag": None if tag == "(all)" else tag,
    }


def tags_editor(history: History, chosen: int, tags: list[str]) -> None:
    """Edit the chosen analysis's tags (comma-separated)."""
    text, save = st.columns([5, 1], vertical_alignment="bottom")
    if st.session_state.get("history_tags_for") != chosen:
        st.session_state["history_tags_for"] = chosen
        st.session_state["history_tags"] = ", ".join(tags)
    value = text.text_input("Tags of this analysis (comma-separated: participant, condition…)", key="history_tags")
    if save.button("Save tags", key="history_tags_save", width="stretch"):
        with errors_shown("The tags could not be saved"):
            try:
                kept = history.set_tags(chosen, value.split(","))
            except KeyError:
                st.info("That analysis was deleted meanwhile.", icon="🗑️")
                return
            st.toast(f"Tags saved: {', '.join(kept) or 'none'}", icon="🏷️")
            st.session_state.pop("history_tags_for", None)
            st.rerun()


def show(history: History, chosen: int) -> None:
    """Reopen one analysis: what produced it, then every view of it."""
    st.divider()
    try:
        result, extras = history.get(chosen)
    except KeyError:
        st.info("That analysis was deleted meanwhile.", icon="🗑️")
        return
    except StoreError as exc:
        st.error(plain(exc), icon="🚫")
        return
    made = result.produced_by if isinstance(result.produced_by, dict) else {}
    if made:
        voice = f", voice {made['voice_model']} ({made.get('voice_model_version')})" if made.get("voice_model") else ""
        text = (
            f"Made by {made.get('project', 'an earlier version')}: face model {made.get('face_model', '?')} "
            f"({made.get('face_model_version', '?')}), detector {made.get('detector', '?')}{voice}. "
        )
        st.caption(inert(text) + _settings_text(result.settings))
    context = context_picker()
    render_result(
        result, extras, context, key=f"h{chosen}", prefix=state.current_settings().export_prefix, just_analyzed=False,
        history_id=chosen,
    )
    if result.kind == "video":
        st.caption("Uploads are not kept, so the annotated video is only offered right after an analysis.")


def _settings_text(values: dict) -> str:
    """One sentence on the settings a record ran with: the defaults, or what differed from them."""
    diff = changed(values)
    if not diff:
        return "Default settings." if values else ""
    return "Settings changed from the defaults: " + ", ".join(f"{k} {plain(v)}" for k, v in diff.items()) + "."


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
        failed = st.session_state.pop("delete_all_failed", None)
        if failed:
            st.error(f"Not everything could be deleted: {plain(failed)}", icon="🚫")


def _delete_all() -> None:
    try:
        st.session_state["delete_all_done"] = privacy.delete_all()
    except StoreError as exc:
        st.session_state["delete_all_failed"] = str(exc)
    st.session_state.pop("history_undo", None)
    st.session_state["delete_all_sure"] = False
