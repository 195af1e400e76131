"""History page: every analysis kept in SQLite, to reopen or delete."""

import streamlit as st

from emotion.app import history as parts
from emotion.app import state
from emotion.app.widgets import plain
from emotion.storage.sqlite import StoreError

st.title("History")
try:
    history = state.history()
except StoreError as exc:  # a read-only or missing data folder, a full disk: say so on every visit
    st.error(f"History cannot be opened: {plain(exc)}", icon="🚫")
    parts.delete_all_data()
    st.stop()
if history.notice():
    st.warning(plain(history.notice()), icon="⚠️")
st.caption(f"Every analysis is kept in {plain(history.path)}.")
parts.undo_notice(history)
parts.delete_all_data()
chosen = parts.table(history)
if chosen is not None:
    parts.show(history, chosen)
