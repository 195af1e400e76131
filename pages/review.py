"""Review & retrain page: confirm or correct predictions, retrain in the background, manage model versions."""

import streamlit as st

from emotion.app import review

st.title("Review & retrain")
db = review.store()
review.overview(db)
review.table(db, review.filters(db))
st.divider()
review.retrain_panel()
st.divider()
review.versions_panel()
