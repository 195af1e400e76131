"""Review & retrain page: confirm or correct predictions, retrain in the background, manage model versions."""

import streamlit as st

from emotion import review_ui

st.title("Review & retrain")
db = review_ui.store()
review_ui.overview(db)
query = review_ui.filters(db)
review_ui.table(db, query)
st.divider()
review_ui.retrain_panel()
st.divider()
review_ui.versions_panel()
