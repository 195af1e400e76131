"""Every view of a result on the page: metrics, timeline, distribution, faces, windows, dropped frames, downloads.

The figures and tables come from :mod:`emotion.report.views`; this module only lays them out.
"""

from __future__ import annotations

import base64

import streamlit as st

from emotion.analysis.batch import Analysis
from emotion.app import workbench
from emotion.app.widgets import download, label, plain
from emotion.record import Result
from emotion.report.engagement import CONTEXTS, engagement_score
from emotion.report.export import export_stem, to_csv, to_json
from emotion.report.views import (
    affect_figure,
    disagreements,
    distribution_figure,
    dropped_table,
    faces_table,
    image_caption,
    overview_table,
    timeline_figure,
    window_summaries,
)


def context_picker() -> str:
    """Draw the engagement-context picker (kept for the session) and return the context key."""
    st.session_state.setdefault("engagement_context", "general")
    return st.columns([1, 2])[0].selectbox(
        "Engagement context",
        list(CONTEXTS),
        format_func=CONTEXTS.__getitem__,
        key="engagement_context",
        persist_state="session",
        help="Weights the engagement score for the setting: see the README for the formula.",
    )


def render_entries(entries: list[Analysis], context: str, prefix: str = "emotion_") -> None:
    """Show analysed uploads: an overview and batch downloads for several, then one tab per file."""
    if not entries:
        return
    results = [e.result for e in entries]
    if len(entries) > 1:
        table = overview_table(results, context)
        for col in ("face_emotion", "voice_emotion"):
            table[col] = table[col].map(label)
        table["face_confidence"] = table["face_confidence"] * 100
        st.dataframe(table, hide_index=True, column_config=_overview_columns())
        c1, c2, _ = st.columns([1, 1, 3])
        download(c1, "All as JSON", to_json(results), f"{prefix}batch.json", "batch-json")
        download(c2, "All as CSV", to_csv(results), f"{prefix}batch.csv", "batch-csv")
        names = [("⚠️ " if r.error else "") + plain(r.file) for r in results]
        for i, (tab, entry) in enumerate(zip(st.tabs(names), entries)):
            with tab:
                _render_entry(entry, context, f"r{i}", prefix)
    else:
        st.subheader(plain(entries[0].result.file), anchor=False)
        _render_entry(entries[0], context, "r0", prefix)


def _overview_columns() -> dict:
    return {
        "file": st.column_config.TextColumn("file"),
        "kind": st.column_config.TextColumn("kind"),
        "face_emotion": st.column_config.TextColumn("face emotion"),
        "voice_emotion": st.column_config.TextColumn("voice emotion"),
        "error": st.column_config.TextColumn("error"),
        "face_confidence": st.column_config.ProgressColumn(
            "face confidence", format="%.0f%%", min_value=0, max_value=100
        ),
        "engagement": st.column_config.NumberColumn("engagement (1–5)", format="%.1f"),
        "duration_s": st.column_config.NumberColumn("duration (s)", format="%.1f"),
    }


def _render_entry(analysis: Analysis, context: str, key: str, prefix: str) -> None:
    for message in analysis.messages:  # a store that could not be written: said for as long as the result shows
        show = st.warning if "could not" in message else st.info
        show(f"**{plain(analysis.result.file)}**: {plain(message)}", icon="⚠️" if show is st.warning else "ℹ️")
    render_result(analysis.result, analysis.extras, context, key, prefix, analysis.video, analysis.video_error,
                  history_id=analysis.history_id)
    if analysis.export_paths:
        st.caption("Auto-exported to " + " and ".join(plain(p) for p in analysis.export_paths))


def render_result(
    result: Result,
    extras: dict | None,
    context: str,
    key: str,
    prefix: str = "emotion_",
    video: bytes | None = None,
    video_error: str | None = None,
    just_analyzed: bool = True,
    history_id: int | None = None,
) -> None:
    """Show every view of one result: metrics, timeline, distribution, faces, windows, dropped frames, exports.

    Args:
        result: The record.
        extras: Side data: ``thumbnails`` and, for images, ``image`` (base64 JPEGs).
        context: Engagement context key.
        key: Unique prefix for this result's widgets.
        prefix: File-name prefix of the downloads.
        video: The annotated video's bytes, when it was made.
        video_error: Why the annotated video could not be made.
        just_analyzed: False for records reopened from the history (their upload is gone).
        history_id: The record's History entry (markers and corrections are filed under it), if saved.
    """
    extras = extras or {}
    if result.error:
        st.error(f"**{plain(result.file)}**: {plain(result.error)}", icon="⚠️")
        _downloads(result, key, prefix, None, None)
        return
    _metrics(result, context)
    if result.kind != "image":
        workbench.headline_row(result, context)
    notes = list(result.notes)
    voice = (result.audio.summary or {}) if result.audio else {}
    voice_note = result.audio.note if result.audio else None
    under_metric = result.kind == "video" and not voice.get("dominant_emotion") and len(voice_note or "") < 40
    if voice_note and not under_metric:  # a short note already shows under the Voice metric
        notes.append(voice_note)
    for note in notes:
        st.caption(f"ℹ️ {plain(note)}")
    if result.kind == "image":
        left, right = st.columns([3, 2])
        with left:
            if extras.get("image"):
                st.image(base64.b64decode(extras["image"]), caption=image_caption(result), width="stretch")
            else:
                st.caption(image_caption(result))
        with right:
            _faces(result, extras, key)
        _dropped(result)
    else:
        _timeline(result, key)
        has_faces = bool(result.summary.get("faces"))
        if has_faces:
            left, right = st.columns([1, 1])
            with left:
                st.markdown("**Emotion distribution**")
                st.plotly_chart(distribution_figure(result), key=f"{key}-dist", config={"displaylogo": False})
            with right:
                _faces(result, extras, key)
        elif result.audio and result.audio.segments:
            st.markdown("**Emotion distribution**")
            st.plotly_chart(distribution_figure(result), key=f"{key}-dist", config={"displaylogo": False})
        with st.expander("Rolling summaries: 30 s, 1 min and cumulative"):
            table = window_summaries(result, context=context)
            for col in ("face_emotion", "voice_emotion"):
                if col in table:
                    table[col] = table[col].map(label)
            for col in ("face_confidence", "voice_confidence"):
                if col in table:
                    table[col] = table[col] * 100
            st.dataframe(table, hide_index=True, column_config=_window_columns())
        if result.kind != "audio":
            _dropped(result)
    if result.kind != "image" and (result.frames or (result.audio and result.audio.segments)):
        st.divider()
        workbench.render(result, extras, context, key, prefix, video if result.kind == "video" else None,
                         history_id)
    _downloads(result, key, prefix, video, extras.get("image"))
    if result.kind == "video" and not video and just_analyzed:
        if video_error:
            st.caption(f"The annotated video could not be made: {plain(video_error)}")
        else:
            st.caption("The annotated video is made right after an analysis (turn it on under Export).")


def _metrics(result: Result, context: str) -> None:
    summary = result.summary or {}
    voice = (result.audio.summary or {}) if result.audio else {}
    eng = engagement_score(result, context)
    cols = st.columns(4)
    dominant = summary.get("dominant_emotion")
    if result.kind == "audio":
        dominant, conf, title = voice.get("dominant_emotion"), voice.get("confidence", 0.0), "Dominant emotion (voice)"
    else:
        conf, title = summary.get("confidence", 0.0), "Dominant emotion (face)"
    unsure = summary.get("uncertain_share", 0.0) if result.kind != "audio" else 0.0
    missing = "uncertain in every face" if summary.get("faces") and result.kind != "audio" else "no face found"
    cols[0].metric(
        title,
        label(dominant),
        delta=(f"{conf:.0%} confidence" + (f" · {unsure:.0%} uncertain" if unsure else "")) if dominant else missing,
        delta_color="off",
        delta_arrow="off",
        border=True,
    )
    if result.kind == "audio":
        speech = voice.get("speech_seconds", 0.0)
        segments = result.audio.segments if result.audio else []
        length = result.duration or max((seg.end for seg in segments), default=0.0)
        cols[1].metric(
            "Speech",
            f"{speech:.1f} s",
            delta=f"of {length:.1f} s",
            delta_color="off",
            delta_arrow="off",
            border=True,
        )
    elif result.audio is not None and voice.get("dominant_emotion"):
        cols[1].metric(
            "Voice",
            label(voice["dominant_emotion"]),
            delta=f"{voice.get('confidence', 0):.0%} confidence"
            + (f" · {voice['uncertain_share']:.0%} uncertain" if voice.get("uncertain_share") else ""),
            delta_color="off",
            delta_arrow="off",
            border=True,
        )
    else:
        if result.kind == "image":
            why = "images have no sound"
        elif result.audio is not None and voice.get("n_speech_segments"):
            why = "uncertain in every speech window"
        elif result.audio is not None:
            why = result.audio.note or "no speech"
        else:
            why = "not analysed" if not result.settings.get("audio", True) else "no audio"
        why = why if len(why) < 40 else why[:38] + "…"
        cols[1].metric("Voice", "—", delta=why, delta_color="off", delta_arrow="off", border=True)
    cols[2].metric(
        "Engagement",
        f"{eng.score:.1f} / 5" if eng.score is not None else "—",
        delta=CONTEXTS[context],
        delta_color="off",
        delta_arrow="off",
        help=eng.explain(),
        border=True,
    )
    if result.kind == "audio":
        n = voice.get("n_speech_segments", 0)
        cols[3].metric(
            "Speech windows",
            n,
            delta=f"of {voice.get('n_segments', 0)}",
            delta_color="off",
            delta_arrow="off",
            border=True,
        )
    else:
        ids = summary.get("face_ids") or []
        cols[3].metric(
            "Faces tracked",
            len(ids),
            delta=f"{summary.get('frames_ok', 0)}/{summary.get('frames', 0)} frames usable",
            delta_color="off",
            delta_arrow="off",
            border=True,
        )


def _timeline(result: Result, key: str) -> None:
    head = st.columns([3, 2], vertical_alignment="bottom")
    if result.kind == "audio":
        head[0].markdown("**Timeline** of the voice")
    elif result.audio is not None and result.audio.segments:
        head[0].markdown("**Timeline**: face and voice on one time axis")
    else:
        head[0].markdown("**Timeline** of the faces")
    mode = "top"
    if result.kind != "audio" and result.summary.get("faces"):
        mode = (
            head[1].segmented_control(
                "Face view",
                ["top", "stacked"],
                default="top",
                format_func=lambda v: "Top emotion" if v == "top" else "All classes",
                key=f"{key}-mode",
                label_visibility="collapsed",
            )
            or "top"
        )
    st.plotly_chart(timeline_figure(result, mode), key=f"{key}-timeline", config={"displaylogo": False})
    affect = affect_figure(result)
    if affect is not None:
        with st.expander("Valence and arousal", expanded=False):
            st.caption(
                "Valence: unpleasant (-1) to pleasant (+1); arousal: calm (0) to activated (1). The face's are a "
                "documented mapping of its emotion probabilities (Russell's circumplex), not a separate model."
            )
            st.plotly_chart(affect, key=f"{key}-affect", config={"displaylogo": False})
    clash = disagreements(result)
    if len(clash):
        spans = ", ".join(
            f"{r.start:.1f}–{r.end:.1f} s (face {r.face}, voice {r.voice})" for r in clash.head(4).itertuples()
        )
        more = f" and {len(clash) - 4} more" if len(clash) > 4 else ""
        st.caption(f"🟥 Face and voice disagree in {len(clash)} window{'s' if len(clash) > 1 else ''}: {spans}{more}.")
    elif result.kind == "video" and result.audio is not None and result.audio.segments:
        if any(s.speech and s.emotion for s in result.audio.segments):
            st.caption("Face and voice agree wherever both were read.")
        else:
            st.caption("No speech: face and voice were not compared.")


def _faces(result: Result, extras: dict, key: str) -> None:
    table = faces_table(result, extras.get("thumbnails"))
    st.markdown(f"**Faces** ({len(table)})")
    if table.empty:
        st.caption("No face passed the quality filters.")
        return
    table["emotion"] = table["emotion"].map(label)
    table["confidence"] = table["confidence"] * 100
    table["seen"] = [
        f"{a:.1f}–{b:.1f} s ({n})" if result.kind != "image" else "in the picture"
        for a, b, n in zip(table["first_s"], table["last_s"], table["frames"])
    ]
    columns = ["thumbnail", "face", "emotion", "confidence", "seen"]
    if table["thumbnail"].isna().all():
        columns.remove("thumbnail")
    st.dataframe(
        table[columns],
        hide_index=True,
        row_height=64,
        key=f"{key}-faces",
        column_config={
            "thumbnail": st.column_config.ImageColumn("face", width="small"),
            "face": st.column_config.NumberColumn("id", width=40),
            "emotion": st.column_config.TextColumn("emotion", width="small"),
            "confidence": st.column_config.ProgressColumn(
                "confidence", format="%.0f%%", min_value=0, max_value=100, width="small"
            ),
            "seen": st.column_config.TextColumn("seen (frames)", help="First and last sampled time, and frame count"),
        },
    )


def _reasons(result: Result) -> dict[float, str]:
    """Each dropped frame's reasons, each said once: "blur 12 < 20 (2 faces); no face detected"."""
    out = {}
    for fr in result.frames:
        counts: dict[str, int] = {}
        for d in fr.dropped_faces:
            counts[d.reason] = counts.get(d.reason, 0) + 1
        said = list(dict.fromkeys(fr.quality.reasons))
        said += [f"{why} ({n} faces)" if n > 1 else why for why, n in counts.items() if why not in said]
        out[fr.t] = "; ".join(said)
    return out


def _dropped(result: Result) -> None:
    table = dropped_table(result)
    if not table.empty:
        reasons = _reasons(result)
        table["reasons"] = [reasons.get(t, r) for t, r in zip(table["t"], table["reasons"])]
    with st.expander(f"Dropped frames and faces ({len(table)})"):
        if table.empty:
            st.caption("Every sampled frame was used.")
        else:
            st.dataframe(
                table,
                hide_index=True,
                column_config={
                    "t": st.column_config.NumberColumn("t (s)", format="%.2f"),
                    "used": st.column_config.CheckboxColumn("frame used"),
                    "faces_dropped": st.column_config.NumberColumn("faces dropped"),
                    "reasons": st.column_config.TextColumn("reasons", width="large"),
                },
            )


def _window_columns() -> dict:
    return {
        "window": st.column_config.TextColumn("window"),
        "start_s": st.column_config.NumberColumn("from (s)", format="%.1f"),
        "end_s": st.column_config.NumberColumn("to (s)", format="%.1f"),
        "faces": st.column_config.NumberColumn("faces"),
        "face_emotion": st.column_config.TextColumn("face"),
        "speech_windows": st.column_config.NumberColumn("speech"),
        "voice_emotion": st.column_config.TextColumn("voice"),
        "face_confidence": st.column_config.ProgressColumn("face conf.", format="%.0f%%", min_value=0, max_value=100),
        "voice_confidence": st.column_config.ProgressColumn("voice conf.", format="%.0f%%", min_value=0,
                                                            max_value=100),
        "engagement": st.column_config.NumberColumn("engagement", format="%.1f"),
    }


def _downloads(result: Result, key: str, prefix: str, video: bytes | None, image: str | None) -> None:
    stem = export_stem(prefix, result.file)
    cols = st.columns(4)
    download(cols[0], "JSON", to_json([result]), f"{stem}.json", f"{key}-json")
    download(cols[1], "CSV", to_csv([result]), f"{stem}.csv", f"{key}-csv")
    if video:
        download(cols[2], "Annotated video", video, f"{stem}_annotated.mp4", f"{key}-video")
    if image:
        download(cols[2], "Annotated image", base64.b64decode(image), f"{stem}_annotated.jpg", f"{key}-image")
