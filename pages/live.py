"""Live page: the browser webcam streams to the server, which draws faces and emotions on each frame."""

import time

import pandas as pd
import plotly.express as px
import streamlit as st
from streamlit_webrtc import WebRtcMode, webrtc_streamer

from emotion import app_state, live
from emotion.export import to_csv, to_json

st.title("Live")
settings = app_state.current_settings()
state = st.session_state
window = st.sidebar.slider(
    "Live window (s)", 10, 120, 30, 5, key="live_window", help="Dominant emotion and trend look back this far."
)

if "live_processor" not in state:
    state.live_processor = live.LiveProcessor(app_state.models_for(settings))
    state.live_tracker = live.RollingTracker(window=window)
processor, tracker = state.live_processor, state.live_tracker
tracker.window = window

video, side = st.columns([3, 2])
with video:
    ctx = webrtc_streamer(
        key="live",
        mode=WebRtcMode.SENDRECV,
        rtc_configuration={"iceServers": live.ice_servers()},
        media_stream_constraints={"video": {"width": 640, "height": 480}, "audio": False},
        video_frame_callback=live.video_frame_callback(processor),
        async_processing=True,
    )
    st.caption(
        "Press **Start** and allow the camera. No picture? The browser may have no camera or may have been denied "
        "permission: allow it in the address bar and press Start again. Remote use needs STUN/TURN (see README)."
    )

with side:
    head = st.empty()
    chart = st.empty()
    faces = st.empty()


def render() -> None:
    """Show the tracker's current state beside the video."""
    label, conf = tracker.dominant()
    stats = tracker.stats()
    with head.container():
        st.metric(f"Dominant emotion (last {int(tracker.window)} s)", label or "—", f"{conf:.0%}" if label else None)
        b, c = st.columns(2)
        b.metric("Processed fps", f"{stats['fps']:.1f}")
        c.metric("Latency p95", f"{stats['latency_p95_ms']:.0f} ms", f"median {stats['latency_median_ms']:.0f} ms")
        moving = {k: v for k, v in tracker.trend().items() if v != "steady"}
        st.caption(
            "Trend: " + (", ".join(f"{k} {'▲' if v == 'rising' else '▼'}" for k, v in moving.items()) or "steady")
        )
    rows = tracker.timeline(60.0)
    if rows:
        frame = pd.DataFrame(rows)
        frame["t"] = frame["t"] - frame["t"].max()
        fig = px.line(
            frame, x="t", y="p", color="emotion", range_y=[0, 1], labels={"t": "seconds ago", "p": "probability"}
        )
        fig.update_layout(height=260, margin=dict(l=0, r=0, t=10, b=0))
        chart.plotly_chart(fig, key=f"live_chart_{time.time_ns()}")
    per_face = tracker.per_face()
    if per_face:
        faces.dataframe(
            [{"face": f"#{i}", "frames": s["frames"], "emotion": s["dominant_emotion"]} for i, s in per_face.items()],
            hide_index=True,
        )


if ctx.state.playing:
    while ctx.state.playing:
        while not processor.updates.empty():
            tracker.add(processor.updates.get_nowait())
        render()
        time.sleep(1.0)
else:
    while not processor.updates.empty():
        tracker.add(processor.updates.get_nowait())
    if tracker.history:
        render()
        result = tracker.to_result(f"live session {time.strftime('%Y-%m-%d %H:%M')}")
        st.subheader("Last session")
        dominant = result.summary["dominant_emotion"] or "—"
        st.write(f"{len(result.frames)} frames over {result.duration:.0f} s; dominant emotion: **{dominant}**")
        a, b, c, d = st.columns(4)
        a.download_button("JSON", to_json([result]), "live_session.json", "application/json")
        b.download_button("CSV", to_csv([result]), "live_session.csv", "text/csv")
        if c.button("Save to History", icon=":material/save:"):
            app_state.history().add(result, {})
            st.success("Saved. Open it on the History page.")
        if d.button("New session", icon=":material/restart_alt:"):
            tracker.history.clear()
            st.rerun()
