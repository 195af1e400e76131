"""The analyst's workbench under one result.

The arc, per-face lanes linked to the video, markers and their statistics, corrections where they are shown,
clips, voice segments, a blurred copy and the HTML report.

Figures and tables come from :mod:`emotion.report`; corrections go to the learning store as human labels, as the
Review page files them (the items kept under the analysis's History entry).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import streamlit as st

from emotion.analysis.uploads import work_folder
from emotion.app.widgets import label, plain
from emotion.errors import EmotionError, one_line
from emotion.labels import FACE_LABELS, VOICE_LABELS
from emotion.record import Result
from emotion.report import clips
from emotion.report.annotate import annotate_video
from emotion.report.export import export_stem
from emotion.report.html import html_report
from emotion.report.markers import MarkerError, as_dicts, from_dicts, marker, read_csv, span_stats, to_csv
from emotion.report.segments import (
    headline,
    lanes_figure,
    mouth_motion,
    picked_time,
    result_segments,
    seconds,
    segments_table,
    speaker,
)
from emotion.storage.history import History
from emotion.storage.learning_store import LearningStore
from emotion.storage.sqlite import StoreError

CHART = {"displaylogo": False}


def headline_row(result: Result, context: str) -> None:
    """The arc in words ("sad → fear → happy") and its segments, with positivity beside engagement."""
    head = headline(result, context)
    if not head["arc"]:
        return
    st.markdown(f"**Arc:** {plain(head['arc'])}")
    pos, eng = head["positivity"], head["engagement"]
    pos_text = "—" if pos is None else f"{pos:+.2f}"
    eng_text = "—" if eng is None else f"{eng:.1f} / 5"
    st.caption(f"Segments: {plain(head['segments'])} · positivity (mean valence, -1 to +1) {pos_text} · "
               f"engagement {eng_text} (reported beside positivity, not merged into it)")


def _markers(key: str, extras: dict) -> list:
    state = f"{key}-markers"
    if state not in st.session_state:
        st.session_state[state] = from_dicts(extras.get("markers"))
    return st.session_state[state]


def _save_markers(key: str, history_id: int | None) -> None:
    if history_id is None:
        return
    try:
        History().set_extras(history_id, {"markers": as_dicts(st.session_state[f"{key}-markers"])})
    except (StoreError, KeyError) as exc:
        st.toast(f"The markers could not be kept in History: {plain(exc)}", icon="⚠️")


def _video_file(video: bytes, key: str) -> Path:
    """The annotated video as a file for moviepy and the mouth measure, written once per session and result.

    It goes into a private work folder named with this process's id, so :func:`emotion.analysis.uploads.sweep`
    removes it once the server that wrote it is gone.
    """
    cache = st.session_state.setdefault("workbench_files", {})
    path = cache.get(key)
    if path is None or not Path(path).exists() or Path(path).stat().st_size != len(video):
        path = work_folder("emotion-video-") / "annotated.mp4"
        path.write_bytes(video)
        cache[key] = str(path)
    return Path(path)


def render(
    result: Result,
    extras: dict,
    context: str,
    key: str,
    prefix: str,
    video: bytes | None = None,
    history_id: int | None = None,
) -> None:
    """The workbench of one analysed video or audio file (see the module docstring)."""
    spans = _markers(key, extras)
    seek_key = f"{key}-seek"
    motion = None
    if video and len({f.id for fr in result.frames for f in fr.faces}) > 1 and result.audio is not None:
        motion = st.session_state.get(f"{key}-motion")
        if motion is None:
            motion = st.session_state[f"{key}-motion"] = mouth_motion(_video_file(video, key), result)
    who, rule = speaker(result, motion)
    st.markdown("**Per-face lanes**" + (f" · face and voice fused for face {who} ({rule})" if who is not None
                                        else f" · no lane fused with the voice ({plain(rule)})"))
    at = st.session_state.get(seek_key)
    left, right = st.columns([3, 2]) if video else (st.container(), None)
    with left:
        fig = lanes_figure(result, extras.get("thumbnails"), at=at, spans=spans, speaking=who)
        event = st.plotly_chart(fig, key=f"{key}-lanes", on_select="rerun", selection_mode="points", config=CHART)
        picked = picked_time(event)
        if picked is not None and picked != st.session_state.get(f"{key}-picked"):
            st.session_state[f"{key}-picked"] = picked
            st.session_state[seek_key] = at = picked
            st.rerun()
    end = float(max([result.duration] + [fr.t for fr in result.frames] + [0.0]))
    _follow(key, min(float(at or 0.0), end))
    if right is not None:
        with right:
            start = at or 0.0
            st.video(video, start_time=float(start), autoplay=at is not None, muted=False)
            st.caption(f"Annotated video, from {seconds(start)} s. Click a point in the lanes to play from there."
                       if at is not None else "Annotated video. Click a point in the lanes to play from there.")
    c1, c2, _ = st.columns([1, 1, 3], vertical_alignment="bottom")
    chosen = c1.number_input("Moment (s)", 0.0, max(end, 0.1), step=0.5, key=f"{key}-seek-input",
                             help="The chosen moment: the lanes mark it, the video plays from it, and markers and "
                                  "corrections start from it.")
    if c2.button("Go to moment", key=f"{key}-seek-go", width="stretch"):
        st.session_state[seek_key] = float(chosen)
        st.rerun()
    spans_table = segments_table(result_segments(result))
    if len(spans_table):
        with st.expander(f"Segments ({len(spans_table)})"):
            spans_table["label"] = spans_table["label"].map(label)
            st.dataframe(spans_table, hide_index=True, column_config={
                "probability": st.column_config.ProgressColumn("probability", format="percent", min_value=0,
                                                               max_value=1),
                "start": st.column_config.NumberColumn("from (s)", format="%.1f"),
                "end": st.column_config.NumberColumn("to (s)", format="%.1f"),
                "valence": st.column_config.NumberColumn(format="%.2f"),
                "arousal": st.column_config.NumberColumn(format="%.2f")})
    markers_panel(result, context, key, prefix, spans, history_id, float(chosen), end)
    correct_panel(result, key, history_id, float(chosen))
    exports_panel(result, extras, context, key, prefix, video, spans)


def _follow(key: str, moment: float) -> None:
    """Put a newly chosen moment into the moment, marker and correction inputs (once per new moment)."""
    if st.session_state.get(f"{key}-moment-seen") == moment:
        return
    st.session_state[f"{key}-moment-seen"] = moment
    for name in ("seek-input", "mk-a", "mk-b", "fx-a", "fx-b"):
        st.session_state[f"{key}-{name}"] = moment


def markers_panel(result: Result, context: str, key: str, prefix: str, spans: list, history_id: int | None,
                  at: float, end: float) -> None:
    """Add markers and spans (or import them from CSV); their statistics in a table and a CSV."""
    with st.expander(f"Markers and spans ({len(spans)})", expanded=bool(spans)):
        with st.form(f"{key}-marker-form", border=False):
            a, b, c, d = st.columns([2, 1, 1, 1], vertical_alignment="bottom")
            name = a.text_input("Marker name", key=f"{key}-mk-name", placeholder="stimulus shown, question asked…")
            start = b.number_input("From (s)", 0.0, max(end, 0.1), step=0.5, key=f"{key}-mk-a")
            stop = c.number_input("To (s, = from: a point)", 0.0, max(end, 0.1), step=0.5, key=f"{key}-mk-b")
            add = d.form_submit_button("Add marker", icon=":material/bookmark_add:", width="stretch")
        if add:
            try:
                spans.append(marker(start, max(stop, start), name))
            except MarkerError as exc:
                st.error(plain(exc), icon="🚫")
            else:
                _save_markers(key, history_id)
                st.rerun()
        upload = st.file_uploader("Import markers (CSV: start,end,label)", type=["csv"], key=f"{key}-mk-csv")
        if upload is not None and st.session_state.get(f"{key}-mk-csv-done") != upload.file_id:
            try:
                spans.extend(read_csv(upload.getvalue()))
            except MarkerError as exc:
                st.error(f"The markers file cannot be used: {plain(exc)}", icon="🚫")
            else:
                st.session_state[f"{key}-mk-csv-done"] = upload.file_id
                _save_markers(key, history_id)
                st.rerun()
        if not spans:
            st.caption("No markers yet. Name a moment or a span above, or import a CSV.")
            return
        stats = span_stats(result, spans, context)
        st.dataframe(shown_stats(stats), hide_index=True, key=f"{key}-mk-table")
        a, b, c = st.columns([1, 1, 2])
        stem = export_stem(prefix, result.file)
        a.download_button("Span statistics CSV", stats.to_csv(index=False), f"{stem}_spans.csv", "text/csv",
                          key=f"{key}-mk-stats", on_click="ignore", width="stretch")
        b.download_button("Markers CSV", to_csv(spans), f"{stem}_markers.csv", "text/csv", key=f"{key}-mk-dl",
                          on_click="ignore", width="stretch")
        if c.button("Remove all markers", key=f"{key}-mk-clear"):
            spans.clear()
            _save_markers(key, history_id)
            st.rerun()


def shown_stats(stats):  # noqa: ANN001, ANN201 - a DataFrame in and out
    """Span statistics as text to show: labels with their emoji, percentages at one precision, blanks not "None"."""
    out = stats.copy()
    for col in out.columns:
        values = list(out[col])
        if col in ("dominant", "voice"):
            out[col] = [label(v) if v else "—" for v in values]
        elif col in ("confidence", *FACE_LABELS):
            out[col] = [f"{v:.0%}" if isinstance(v, int | float) and v == v else "" for v in values]
        elif col in ("valence", "arousal"):
            out[col] = [f"{v:+.2f}" if isinstance(v, int | float) and v == v else "" for v in values]
        elif col == "engagement":
            out[col] = [f"{v:.1f}" if isinstance(v, int | float) and v == v else "" for v in values]
        elif col in ("start", "end"):
            out[col] = [f"{v:g}" for v in values]
    return out


def _items(history_id: int, result: Result, modality: str) -> list[dict]:
    """The learning-store items kept from this analysis (filed under ``history:<id>``)."""
    db = LearningStore()
    rows = db.rows(modality=modality, file=result.file, limit=100_000)
    return [r for r in rows if r["source"] == f"history:{history_id}"]


def correct_panel(result: Result, key: str, history_id: int | None, at: float) -> None:
    """Set the right label for a face (one moment or a whole span of it) or a voice window, as a human label."""
    ids = sorted({f.id for fr in result.frames for f in fr.faces})
    voiced = [s for s in (result.audio.segments if result.audio else []) if s.speech and s.emotion]
    if not ids and not voiced:
        return
    with st.expander("Correct a reading"):
        if history_id is None:
            st.caption("Corrections go to the learning store under the analysis's History entry; this analysis was "
                       "not saved to History (Export settings).")
            return
        st.caption("The label you set goes to the learning store as a human label, as on the Review page.")
        if ids:
            a, b, c, d, e = st.columns([1, 1.3, 1, 1, 1.2], vertical_alignment="bottom")
            face = a.selectbox("Face", ids, key=f"{key}-fx-face", format_func=lambda i: f"face {i}")
            right = b.selectbox("Right label", FACE_LABELS, key=f"{key}-fx-label", format_func=label)
            start = c.number_input("From (s)", 0.0, step=0.5, key=f"{key}-fx-a")
            stop = d.number_input("To (s)", 0.0, step=0.5, key=f"{key}-fx-b",
                                  help="Equal to From: the sample nearest that moment; later: every sample between")
            if e.button("Set face label", key=f"{key}-fx-go", width="stretch", type="primary"):
                _correct_faces(result, history_id, face, right, start, max(start, stop))
        if voiced:
            names = {i: f"{s.start:.1f}–{s.end:.1f} s · {s.emotion}" for i, s in enumerate(voiced)}
            near = min(names, key=lambda i: abs((voiced[i].start + voiced[i].end) / 2 - at))
            a, b, c = st.columns([2, 1.3, 1.2], vertical_alignment="bottom")
            pick = a.selectbox("Voice window", list(names), index=near, format_func=names.__getitem__,
                               key=f"{key}-vx-win")
            right = b.selectbox("Right label", VOICE_LABELS, key=f"{key}-vx-label", format_func=label)
            if c.button("Set voice label", key=f"{key}-vx-go", width="stretch", type="primary"):
                seg = voiced[pick]
                _correct(history_id, result, "voice", right,
                         lambda r: abs(r["start"] - seg.start) < 0.01 and abs(r["end"] - seg.end) < 0.01,
                         f"voice window {seg.start:.1f}–{seg.end:.1f} s")
        done = st.session_state.pop(f"{key}-fx-done", None)
        if done:
            (st.success if done[0] else st.warning)(done[1], icon="✅" if done[0] else "⚠️")


def _correct_faces(result: Result, history_id: int, face: int, right: str, start: float, stop: float) -> None:
    if stop > start:
        _correct(history_id, result, "face", right,
                 lambda r: r["face_id"] == face and start - 1e-6 <= r["start"] <= stop + 1e-6,
                 f"face {face} over {seconds(start)}–{seconds(stop)} s")
        return
    times = sorted({fr.t for fr in result.frames if any(f.id == face for f in fr.faces)})
    if not times:
        return
    t = min(times, key=lambda x: abs(x - start))
    _correct(history_id, result, "face", right, lambda r: r["face_id"] == face and abs(r["start"] - t) < 1e-3,
             f"face {face} at {seconds(t)} s")


def _correct(history_id: int, result: Result, modality: str, right: str, match, what: str) -> None:  # noqa: ANN001
    try:
        items = [r["id"] for r in _items(history_id, result, modality) if match(r)]
        n = LearningStore().correct(dict.fromkeys(items, right)) if items else 0
    except (OSError, sqlite3.Error, EmotionError) as exc:
        st.error(f"The correction could not be saved: {plain(one_line(exc, 200))}", icon="🚫")
        return
    if n:
        st.toast(f"Labelled {n} {'item' if n == 1 else 'items'} of {what} as {right}", icon="✅")
        st.success(f"Labelled {n} kept {'item' if n == 1 else 'items'} of {plain(what)} as {label(right)}.",
                   icon="✅")
    else:
        st.warning(f"Nothing of {plain(what)} was kept for learning (Learning settings), so there is nothing to "
                   "label.", icon="⚠️")


def exports_panel(result: Result, extras: dict, context: str, key: str, prefix: str, video: bytes | None,
                  spans: list) -> None:
    """The HTML report, a blurred copy of the video, a clip of a span, voice segments."""
    stem = export_stem(prefix, result.file)
    with st.expander("Report, clips and anonymised exports"):
        a, b = st.columns(2)
        hide = a.toggle("Blur faces in the report", value=bool(result.settings.get("anonymise")),
                        key=f"{key}-rep-anon")
        if b.button("Make the HTML report", key=f"{key}-rep-go", icon=":material/description:", width="stretch"):
            with st.spinner("Writing the report…"):
                st.session_state[f"{key}-rep"] = html_report(
                    [result], context, extras=[extras], markers=[spans], anonymise=hide).encode("utf-8")
        if st.session_state.get(f"{key}-rep"):
            b.download_button("Download the report (HTML, opens offline)", st.session_state[f"{key}-rep"],
                              f"{stem}_report.html", "text/html", key=f"{key}-rep-dl", on_click="ignore",
                              icon=":material/download:", width="stretch")
        if not video:
            st.caption("Clips, voice segments and the blurred video are cut from the annotated video, which is made "
                       "right after an analysis (uploads are not kept).")
            return
        source = _video_file(video, key)
        st.markdown("**Blurred video**: every detected face pixelated, for sharing.")
        if st.button("Make a blurred copy", key=f"{key}-blur-go", icon=":material/blur_on:"):
            with st.spinner("Blurring every face…"):
                out = source.with_name(source.stem + "-blurred.mp4")
                try:
                    annotate_video(source, result, out, anonymise=True, labels=False)
                    st.session_state[f"{key}-blur"] = out.read_bytes()
                except (EmotionError, OSError) as exc:
                    st.error(f"The blurred copy could not be made: {plain(exc)}", icon="🚫")
        if st.session_state.get(f"{key}-blur"):
            st.download_button("Download the blurred video", st.session_state[f"{key}-blur"],
                               f"{stem}_blurred.mp4", "video/mp4", key=f"{key}-blur-dl", on_click="ignore",
                               icon=":material/movie:")
        st.markdown("**A clip or a voice segment** of a span")
        choices = {f"segment: {s.label} {seconds(s.start)}–{seconds(s.end)} s": (s.start, s.end)
                   for s in result_segments(result) if s.end > s.start}
        choices |= {f"marker: {m.text()}": (m.start, m.end) for m in spans if m.end > m.start}
        choices["the chosen moment ±2 s"] = (max(0.0, (st.session_state.get(f"{key}-seek") or 0.0) - 2),
                                             (st.session_state.get(f"{key}-seek") or 0.0) + 2)
        a, b, c, d = st.columns([2.5, 1, 1, 1], vertical_alignment="bottom")
        pick = a.selectbox("Span", list(choices), key=f"{key}-clip-span")
        start, end = choices[pick]
        if b.button("Cut clip (MP4)", key=f"{key}-clip-go", width="stretch"):
            _job(f"{key}-clip", lambda: clips.clip_bytes(source, start, end + 0.5))
        if c.button("Voice (WAV)", key=f"{key}-wav-go", width="stretch"):
            _job(f"{key}-wav", lambda: clips.voice_clip(source, start, end + 0.5, "wav"))
        if d.button("Voice (MP3)", key=f"{key}-mp3-go", width="stretch"):
            _job(f"{key}-mp3", lambda: clips.voice_clip(source, start, end + 0.5, "mp3"))
        for job, name, mime in ((f"{key}-clip", "clip.mp4", "video/mp4"), (f"{key}-wav", "voice.wav", "audio/wav"),
                                (f"{key}-mp3", "voice.mp3", "audio/mpeg")):
            if st.session_state.get(job):
                st.download_button(f"Download {name}", st.session_state[job], f"{stem}_{name}", mime,
                                   key=f"{job}-dl", on_click="ignore", icon=":material/download:")
        voiced = [s for s in (result.audio.segments if result.audio else []) if s.speech]
        if voiced and st.button("Voice only: every speech window (ZIP of WAVs)", key=f"{key}-vo-go"):
            _job(f"{key}-vo", lambda: clips.voice_only(source, voiced))
        if st.session_state.get(f"{key}-vo"):
            st.download_button("Download the voice segments", st.session_state[f"{key}-vo"], f"{stem}_voice.zip",
                               "application/zip", key=f"{key}-vo-dl", on_click="ignore", icon=":material/download:")


def _job(state: str, make) -> None:  # noqa: ANN001
    with st.spinner("Cutting…"):
        try:
            st.session_state[state] = make()
        except clips.ClipError as exc:
            st.error(plain(exc), icon="🚫")
