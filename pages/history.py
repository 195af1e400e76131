"""History page: every analysis kept in SQLite, to reopen or delete."""

import streamlit as st

from emotion.app import history as parts
from emotion.app import state

st.title("History")
history = state.history()
st.caption(f"Every analysis is kept in `{history.path}`.")
parts.undo_notice(history)
parts.delete_all_data()
chosen = parts.table(history)
if chosen is not None:
    parts.show(history, chosen)
