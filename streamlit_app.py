"""Emotion Studio: the Streamlit app's entry point (run with ``streamlit run streamlit_app.py``)."""

import streamlit as st

from emotion.app import sidebar, state

st.set_page_config(page_title="Emotion Studio", page_icon="🎭", layout="wide")
state.init()
st.html("<style>[data-testid='stMainBlockContainer']{padding-top:3rem}</style>")  # less empty space on top

page = st.navigation(
    [
        st.Page("pages/analyze.py", title="Analyse", icon=":material/upload_file:", default=True),
        st.Page("pages/live.py", title="Live", icon=":material/videocam:"),
        st.Page("pages/review.py", title="Review & retrain", icon=":material/model_training:"),
        st.Page("pages/history.py", title="History", icon=":material/history:"),
        st.Page("pages/compare.py", title="Compare", icon=":material/compare_arrows:"),
    ],
    position="top",
)
st.sidebar.markdown("## :material/theater_comedy: Emotion Studio")
st.sidebar.caption("Settings for this session")
sidebar.sidebar_settings()
page.run()
