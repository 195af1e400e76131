"""Compare page: several analyses side by side, their curves on one time axis, per-span statistics, CSV."""

import streamlit as st

from emotion.app import compare

st.title("Compare")
st.caption("Pick analyses from this session or from History: participants, conditions, takes.")
compare.page()
