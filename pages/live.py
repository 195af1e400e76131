"""Live page: the browser's webcam and microphone stream to the server, which draws faces and reads the voice."""

import time

import streamlit as st

from emotion.app import live, state
from emotion.app.results import context_picker

st.title("Live")
settings = state.current_settings()
context = context_picker()
playing = bool(st.session_state.get("live_playing"))
sess = live.session(settings, context, playing)
live.options_note(settings)
video, side = st.columns([3, 2])
with video:
    ctx = live.stream(sess, settings)
with side:
    head, chart, faces = st.empty(), st.empty(), st.empty()
st.session_state.live_playing = ctx.state.playing

if ctx.state.playing:
    while ctx.state.playing:
        sess.drain()
        live.render(sess, head, chart, faces)
        time.sleep(1.0)
else:
    sess.stop()
    live.problems(sess)
    if sess.tracker.history:
        live.render(sess, head, chart, faces)
        live.last_session(sess, settings)
