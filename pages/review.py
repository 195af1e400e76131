"""Review & retrain page: correct labels and retrain the models (a later issue builds it)."""

import streamlit as st

st.title("Review & retrain")
st.info(
    "Reviewing results and retraining the models on your corrections is coming: you will confirm or fix the emotion "
    "of faces and voice segments, and retrain from them.",
    icon="🛠️",
)
st.caption("Your analyses are already kept on the **History** page for that.")
st.page_link("pages/history.py", label="Go to History", icon=":material/history:")
