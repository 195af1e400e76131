"""Live page: the browser webcam streams to the server, which draws faces and emotions on each frame."""

import time

import streamlit as st

from emotion.app import live, state

st.title("Live")
settings = state.current_settings()
processor, tracker = live.session(settings)
video, side = st.columns([3, 2])
with video:
    ctx = live.stream(processor)
with side:
    head, chart, faces = st.empty(), st.empty(), st.empty()

if ctx.state.playing:
    while ctx.state.playing:
        live.drain(processor, tracker)
        live.render(tracker, head, chart, faces)
        time.sleep(1.0)
else:
    live.drain(processor, tracker)
    if tracker.history:
        live.render(tracker, head, chart, faces)
        live.last_session(tracker, settings)
