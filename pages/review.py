"""Review & retrain page: confirm or correct predictions, retrain in the background, manage model versions."""

import streamlit as st

from emotion.app import review
from emotion.app.widgets import errors_shown, plain
from emotion.learning import jobs

st.title("Review & retrain")
with errors_shown("The learning store cannot be used"):
    db = review.store()
    if db.notice():
        st.warning(plain(db.notice()), icon="⚠️")
    review.overview(db)
    review.table(db, review.filters(db))
st.divider()
with errors_shown("Retraining cannot be followed"):
    jobs.status("face")  # raises here, not in the panel's fragment, when the data folder cannot be written
    review.retrain_panel()
st.divider()
with errors_shown("The model versions cannot be read"):
    review.versions_panel()
