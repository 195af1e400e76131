"""The Live page's parts: the webcam stream, the rolling tracker beside it, and the session once it stops.

Frames are processed by :class:`~emotion.analysis.live.LiveProcessor` on streamlit-webrtc's media thread; results
reach the page through the processor's queue, as in the streamlit-webrtc examples.
"""

from __future__ import annotations

import time

import pandas as pd
import plotly.express as px
import streamlit as st
from streamlit_webrtc import WebRtcMode, webrtc_streamer

from emotion.analysis import live
from emotion.app import state
from emotion.app.widgets import download
from emotion.report.export import to_csv, to_json
from emotion.settings import Settings


def session(settings: Settings) -> tuple[live.LiveProcessor, live.RollingTracker]:
    """The session's processor and tracker, made once (with the session's models and face limit)."""
    ss = st.session_state
    if "live_processor" not in ss:
        ss.live_processor = live.LiveProcessor(state.models_for(settings), max_faces=settings.max_faces)
        ss.live_tracker = live.RollingTracker(window=settings.live_window)
    ss.live_tracker.window = settings.live_window
    return ss.live_processor, ss.live_tracker


def stream(processor: live.LiveProcessor) -> object:
    """The webcam streamer: each frame goes to the processor and comes back annotated."""
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
    return ctx


def render(tracker: live.RollingTracker, head: st.delta_generator.DeltaGenerator,
           chart: st.delta_generator.DeltaGenerator, faces: st.delta_generator.DeltaGenerator) -> None:
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


def drain(processor: live.LiveProcessor, tracker: live.RollingTracker) -> None:
    """Move every update the media thread queued into the tracker."""
    while not processor.updates.empty():
        tracker.add(processor.updates.get_nowait())


def last_session(tracker: live.RollingTracker, settings: Settings) -> None:
    """After a stop: the session as a result record, to download, save to History, or clear."""
    result = tracker.to_result(f"live session {time.strftime('%Y-%m-%d %H:%M')}")
    st.subheader("Last session")
    dominant = result.summary["dominant_emotion"] or "—"
    st.write(f"{len(result.frames)} frames over {result.duration:.0f} s; dominant emotion: **{dominant}**")
    a, b, c, d = st.columns(4)
    download(a, "JSON", to_json([result]), f"{settings.export_prefix}live_session.json", "live-json")
    download(b, "CSV", to_csv([result]), f"{settings.export_prefix}live_session.csv", "live-csv")
    if c.button("Save to History", icon=":material/save:"):
        state.history().add(result, {})
        st.success("Saved. Open it on the History page.")
    if d.button("New session", icon=":material/restart_alt:"):
        tracker.history.clear()
        st.rerun()
