"""Emotion Studio: the Streamlit app's entry point (run with ``streamlit run streamlit_app.py``)."""

import streamlit as st

from emotion import app_state, ui

st.set_page_config(page_title="Emotion Studio", page_icon="🎭", layout="wide")
app_state.init()
st.html("<style>[data-testid='stMainBlockContainer']{padding-top:3rem}</style>")  # less empty space on top

page = st.navigation(
    [
        st.Page("pages/analyse.py", title="Analyse", icon=":material/upload_file:", default=True),
        st.Page("pages/live.py", title="Live", icon=":material/videocam:"),
        st.Page("pages/review.py", title="Review & retrain", icon=":material/model_training:"),
        st.Page("pages/history.py", title="History", icon=":material/history:"),
    ],
    position="top",
)
st.sidebar.markdown("## :material/theater_comedy: Emotion Studio")
st.sidebar.caption("Settings for this session")
ui.sidebar_settings()
page.run()
