"""Analyse page: upload videos, audio files or images and see what the faces and voices show."""

import streamlit as st

from emotion.app import results, runner, state

st.title("Analyse")
st.caption("Upload videos, audio files or images. Faces and voices are read offline; nothing leaves this machine.")

settings = state.current_settings()
uploads = st.file_uploader(
    "Media files", type=runner.accepted_types(), accept_multiple_files=True, key="uploads", help=runner.uploader_help()
)
done = state.analyses()
pending = [f for f in uploads or [] if f.file_id not in done]
todo = pending or list(uploads or [])
left, right, _ = st.columns([2, 1, 4])
if not uploads:
    label = "Analyse"
elif pending:
    label = f"Analyse {len(todo)} file{'s' if len(todo) != 1 else ''}"
else:
    label = "Analyse again"
start = left.button(label, type="primary", disabled=not uploads, icon=":material/play_arrow:", width="stretch")
if done and right.button("Clear results", icon=":material/delete_sweep:", width="stretch"):
    done.clear()
    st.rerun()

runner.batch_notice()
if start:
    runner.run_batch(todo, settings)

entries = list(state.analyses().values())
if entries:
    st.divider()
    results.render_entries(entries, results.context_picker(), settings.export_prefix)
elif not uploads:
    st.info("Drop one or more files above, then press **Analyse**. Settings are in the sidebar.", icon="👆")
