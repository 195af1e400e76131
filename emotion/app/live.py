"""The Live page's parts: the webcam and microphone stream, the rolling tracker, and the session once it stops.

Frames are processed by :class:`~emotion.analysis.live.LiveProcessor` on streamlit-webrtc's media thread and the
microphone by :class:`~emotion.analysis.live_voice.VoiceWorker` in its own thread; results reach the page through
their queues, as in the streamlit-webrtc examples. :class:`~emotion.analysis.LiveSession` holds them all.
"""

from __future__ import annotations

import time

import pandas as pd
import plotly.express as px
import streamlit as st
from streamlit_webrtc import WebRtcMode, webrtc_streamer

from emotion.analysis import live, live_record
from emotion.analysis.live_summary import RollingTracker
from emotion.analysis.models import model_key
from emotion.app import state
from emotion.app.webrtc import LiveSession, ice_servers
from emotion.app.widgets import download
from emotion.report.engagement import CONTEXTS
from emotion.report.export import to_csv, to_json
from emotion.settings import Settings

OPTIONS = ("live_resolution", "live_fps", "live_voice", "live_collect", "live_record", "max_faces", "min_face",
           "min_blur", "face_backend", "detector")  # fmt: skip
"""Settings a session is built with: changing one starts a new session (when not streaming)."""


def session(settings: Settings, context: str, playing: bool = False) -> LiveSession:
    """The page's live session, made once, and again when its settings or the active learned models change.

    A session is made again only while nothing streams and it has nothing to show; a rollback or a promoted
    retrain thus reaches the next session (the models come from :func:`emotion.app.state.models_for`).
    """
    ss = st.session_state
    key = (*(getattr(settings, name) for name in OPTIONS), *model_key(settings))
    if "live_session" not in ss or (ss.live_key != key and not playing and not ss.live_session.tracker.history):
        if "live_session" in ss:
            ss.live_session.close()
        ss.live_session = LiveSession.start(state.models_for(settings), settings, context)
        ss.live_key = key
    sess = ss.live_session
    sess.tracker.window, sess.tracker.context = settings.live_window, context
    return sess


def options_note(settings: Settings) -> None:
    """Say what the session does with the camera and microphone: voice, learning, recording."""
    voice = "on" if settings.live_voice else "off"
    learn = (
        "**on**: a saved session keeps a face crop per face every 2 s and its speech windows in the learning "
        "store, under its History entry"
        if settings.live_collect
        else "off (a webcam is more personal than an upload; turn it on in the sidebar's Live group)"
    )
    rec = "**on**: camera and microphone go to a private MP4 in the data dir" if settings.live_record else "off"
    st.caption(f"Voice: {voice} · Learning from live sessions: {learn} · Recording: {rec}")


def stream(sess: LiveSession, settings: Settings) -> object:
    """The webcam (and microphone) streamer: frames and audio go to the session."""
    width, height = (int(v) for v in settings.live_resolution.split("x"))
    video = {"width": {"ideal": width}, "height": {"ideal": height}, "frameRate": {"ideal": settings.live_fps}}
    ctx = webrtc_streamer(
        key="live",
        mode=WebRtcMode.SENDRECV,
        rtc_configuration={"iceServers": ice_servers()},
        media_stream_constraints={"video": video, "audio": sess.audio},
        video_frame_callback=sess.video_callback(),
        queued_audio_frames_callback=sess.audio_callback() if sess.audio else None,
        async_processing=True,
    )
    st.caption(
        "Press **Start** and allow the camera"
        + (" and microphone" if sess.audio else "")
        + ". No picture? The browser may have no camera or may have been denied permission: allow it in the "
        "address bar and press Start again. Remote use needs STUN/TURN (see README)."
    )
    return ctx


def render(sess: LiveSession, head, chart, faces) -> None:  # noqa: ANN001 - st.empty() placeholders
    """Show the session's current state beside the video."""
    tracker = sess.tracker
    label, conf = tracker.dominant()
    stats = tracker.stats()
    with head.container():
        a, b = st.columns(2)
        a.metric(f"Dominant emotion (last {int(tracker.window)} s)", f"{label} {conf:.0%}" if label else "—")
        eng = tracker.engagement()
        b.metric(
            f"Engagement ({CONTEXTS.get(tracker.context, tracker.context)})",
            f"{eng.score:.1f} / 5" if eng.score is not None else "—",
            help="Over the rolling window, faces and voice. " + eng.explain(),
        )
        if sess.voice is not None:
            _voice_metric(tracker)
        c, d = st.columns(2)
        c.metric("Processed fps", f"{stats['fps']:.1f}")
        d.metric("Latency p95", f"{stats['latency_p95_ms']:.0f} ms",
                 help=f"Median {stats['latency_median_ms']:.0f} ms per analysed frame.")
        chosen = sess.processor.describe()
        st.caption(
            f"Camera {chosen['input']}, analysed at {chosen['analysed']}, target {chosen['target_fps']:g} fps; "
            f"full face search every {chosen['detect_every']} frames; {chosen['skipped_frames']} frames passed "
            "through without analysis to hold the target."
        )
        recorder = sess.recorder
        if recorder is not None and recorder.error is not None:
            st.caption(f"Recording stopped: {recorder.error}. The video and voice go on; the file will not be kept.")
        if sess.voice is not None:
            heard = f"Microphone: {sess.voice.heard:.0f} s heard, {len(tracker.voice)} windows read"
            heard += f", {sess.voice.dropped} frames dropped" if sess.voice.dropped else ""
            st.caption(heard + (f"; the voice stopped: {sess.voice.error}" if sess.voice.error else "."))
        moving = {k: v for k, v in tracker.trend().items() if v != "steady"}
        st.caption(
            "Trend: " + (", ".join(f"{k} {'▲' if v == 'rising' else '▼'}" for k, v in moving.items()) or "steady")
        )
    rows = tracker.timeline(60.0)
    if rows:
        frame = pd.DataFrame(rows)
        frame["t"] = frame["t"] - frame["t"].max()
        fig = px.line(frame, x="t", y="p", color="emotion", range_y=[0, 1], hover_data=["label"],
                      labels={"t": "seconds ago", "p": "probability / level", "emotion": "series"})  # fmt: skip
        for trace in fig.data:
            if trace.name.startswith("voice"):
                trace.update(line={"dash": "dot", "width": 3}, mode="lines+markers")
        fig.update_layout(height=280, margin=dict(l=0, r=0, t=10, b=0))
        chart.plotly_chart(fig, key=f"live_chart_{time.time_ns()}")
    per_face = tracker.per_face()
    if per_face:
        faces.dataframe(
            [{"face": f"#{i}", "frames": s["frames"], "emotion": s["dominant_emotion"]} for i, s in per_face.items()],
            hide_index=True,
        )


def _voice_metric(tracker: RollingTracker) -> None:
    now = tracker.voice_now()
    seg = now.segment if now is not None else None
    if seg is None:
        st.metric("Voice emotion", "—", help="Waiting for the first 3 s of audio.")
    elif not seg.speech or not seg.emotion:
        st.metric("Voice emotion", "no speech", help="Nobody spoke in the last 3 s window.")
    else:
        value = f"{seg.emotion} (uncertain)" if seg.uncertain else f"{seg.emotion} {seg.confidence or 0:.0%}"
        value += f", arousal {seg.arousal:.2f}" if seg.arousal is not None else ""
        st.metric("Voice emotion", value, help="The last 3 s window, read every second; arousal from 0 (calm) to 1.")


def problems(sess: LiveSession) -> None:
    """Say, in a line each and without a traceback, what went wrong in the session (a recording that failed)."""
    for problem in sess.problems:
        st.warning(problem)


def last_session(sess: LiveSession, settings: Settings) -> None:
    """After a stop: the session as a result record, to download, save to History (and learning), or clear.

    The record names the models the session ran with, even when another version has become active since.
    """
    result = sess.result(f"live session {time.strftime('%Y-%m-%d %H:%M')}", sess.processor.models, settings)
    st.subheader("Last session")
    dominant = result.summary["dominant_emotion"] or "—"
    eng = result.summary["engagement"]
    voice = result.audio.summary.get("dominant_emotion") if result.audio else None
    st.write(
        f"{len(result.frames)} frames over {result.duration:.0f} s; dominant emotion: **{dominant}**; "
        f"voice: **{voice or '—'}**; engagement ({CONTEXTS.get(eng['context'], eng['context'])}): "
        f"**{eng['score'] if eng['score'] is not None else '—'}**"
    )
    a, b, c, d = st.columns(4)
    download(a, "JSON", to_json([result]), f"{settings.export_prefix}live_session.json", "live-json")
    download(b, "CSV", to_csv([result]), f"{settings.export_prefix}live_session.csv", "live-csv")
    if c.button("Save to History", icon=":material/save:"):
        analysis = live.save_session(result, settings, sess.collector)
        for message in analysis.messages:
            st.warning(message)
        if analysis.history_id is not None:
            kept = f"; {analysis.kept} faces and voice windows kept for learning" if settings.live_collect else ""
            st.success(f"Saved as History entry {analysis.history_id}{kept}. Open it on the History page.")
    if d.button("New session", icon=":material/restart_alt:"):
        sess.close()
        del st.session_state["live_session"]
        st.rerun()
    for name in sess.recordings:
        path = live_record.recordings_dir() / name
        if not path.exists():
            continue
        e, f = st.columns([3, 1])
        e.caption(f"Recorded to `{path}`: analyse it as a file (Analyse page, or `python -m emotion analyze` on it).")
        if f.button("Delete recording", key=f"del-{name}", icon=":material/delete:"):
            live_record.delete(name)
            st.rerun()
