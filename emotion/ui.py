"""Streamlit building blocks shared by the pages: the settings sidebar, the batch runner and the result views.

The figures and tables come from :mod:`emotion.views`; this module only lays them out.
"""

from __future__ import annotations

import base64
import dataclasses
import os
import re
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import streamlit as st

from emotion import app_state, learning
from emotion.detect import ModelUnavailable
from emotion.engagement import CONTEXTS, engagement_score
from emotion.export import to_csv, to_json, write_atomic
from emotion.history import data_dir
from emotion.labels import FACE_LABELS
from emotion.pipeline import Cancelled
from emotion.record import Result
from emotion.settings import Settings
from emotion.uploads import MEDIA_EXTS, Analysis, analyse_upload, display_name, progress_value, safe_extension
from emotion.views import (
    disagreements,
    distribution_figure,
    dropped_table,
    faces_table,
    image_caption,
    overview_table,
    timeline_figure,
    window_summaries,
)

EMOJI = {
    "angry": "😠",
    "disgust": "🤢",
    "fear": "😨",
    "happy": "😊",
    "sad": "😢",
    "surprise": "😮",
    "neutral": "😐",
    "calm": "😌",
    "fearful": "😨",
    "surprised": "😮",
}
DETECTORS = ["haar", "opencv", "ssd", "mtcnn", "retinaface", "mediapipe", "yunet", "yolov8", "centerface", "dlib"]
STAGES = {
    "decode": "decoding frames",
    "faces": "reading faces",
    "audio": "listening to the voice",
    "summary": "summarising",
    "thumbnails": "cropping face thumbnails",
    "video": "drawing the annotated video",
}
_GROUPED = {
    "collect",
    "collect_threshold",
    "retrain_after",
    "max_frames",
    "fps",
    "max_duration",
    "workers",
    "detect_interval",
    "face_backend",
    "detector",
    "face_crop",
    "min_face",
    "min_blur",
    "min_brightness",
    "max_brightness",
    "max_faces",
    "audio",
    "denoise",
    "segment_seconds",
    "segment_hop",
}


def plain(text: str) -> str:
    """Escape Markdown in a user-supplied text (a file name), so it shows as typed."""
    return re.sub(r"([\\`*_{}\[\]()#+\-.!|<>~$])", r"\\\1", text)


def label(emotion: str | None) -> str:
    """Return an emotion with its emoji ("😊 happy"), or "—" for None."""
    return f"{EMOJI.get(emotion, '')} {emotion}".strip() if isinstance(emotion, str) and emotion else "—"


def _field_help() -> dict[str, str]:
    """Return each Settings field's description from the dataclass docstring."""
    helps, current = {}, None
    for line in (Settings.__doc__ or "").splitlines():
        m = re.match(r"\s{8}(\w+): (.*)", line)
        if m:
            current = m.group(1)
            helps[current] = m.group(2)
        elif current and line.startswith(" " * 12):
            helps[current] += " " + line.strip()
    return helps


# ---------------------------------------------------------------------------------------------------------------
# Sidebar


def sidebar_settings() -> Settings:
    """Draw the settings sidebar (performance, model, quality, export) and return the current settings."""
    app_state.init()
    helps = _field_help()
    sb = st.sidebar
    with sb.expander("Performance", expanded=True, icon=":material/speed:"):
        st.radio(
            "Sampling",
            ["frames", "fps"],
            format_func=lambda v: "Frames per video" if v == "frames" else "Frames per second",
            key="cfg_sampling",
            horizontal=True,
        )
        if st.session_state["cfg_sampling"] == "frames":
            st.number_input("Frames per video", 1, 600, step=1, key="cfg_max_frames", help=helps.get("max_frames"))
        else:
            st.number_input("Frames per second", 0.1, 30.0, step=0.5, key="cfg_fps", help=helps.get("fps"))
        st.number_input(
            "Duration limit (s, 0 = all)",
            0.0,
            36000.0,
            step=10.0,
            key="cfg_max_duration",
            help="Seconds of each video or audio file analysed, faces and voice alike. 0 analyses everything.",
        )
        st.slider("Workers", 1, max(8, os.cpu_count() or 1), key="cfg_workers", help=helps.get("workers"))
        if "cfg_detect_interval" in st.session_state:
            st.number_input(
                "Full face search every (s)",
                0.0,
                60.0,
                step=0.5,
                key="cfg_detect_interval",
                help=helps.get("detect_interval"),
            )
    with sb.expander("Model", icon=":material/psychology:"):
        st.selectbox(
            "Face emotion model",
            ["default", "deepface"],
            key="cfg_face_backend",
            format_func=lambda v: "default (shipped, offline)" if v == "default" else "DeepFace (needs its weights)",
        )
        options = DETECTORS + (
            [st.session_state["cfg_detector"]] if st.session_state["cfg_detector"] not in DETECTORS else []
        )
        st.selectbox(
            "Face detector",
            options,
            key="cfg_detector",
            help="haar runs offline; the others are DeepFace backends, and most need weights downloaded once.",
        )
        st.toggle("Images are face crops", key="cfg_face_crop", help=helps.get("face_crop"))
        st.toggle("Analyse the voice", key="cfg_audio", help=helps.get("audio"))
        st.toggle("Reduce noise first", key="cfg_denoise", help=helps.get("denoise"))
        c1, c2 = st.columns(2)
        c1.number_input("Voice window (s)", 0.5, 30.0, step=0.5, key="cfg_segment_seconds")
        c2.number_input("Window hop (s)", 0.25, 30.0, step=0.25, key="cfg_segment_hop")
        for f in dataclasses.fields(Settings):  # fields added later (e.g. by the voice path) get a plain widget
            if f.name not in _GROUPED:
                _generic_widget(f.name, helps.get(f.name))
    with sb.expander("Quality", icon=":material/verified:"):
        st.number_input("Smallest face (px)", 8, 2000, step=4, key="cfg_min_face", help=helps.get("min_face"))
        st.number_input("Blur threshold", 0.0, 1000.0, step=5.0, key="cfg_min_blur", help=helps.get("min_blur"))
        st.slider(
            "Accepted brightness", 0.0, 255.0, key="cfg_brightness", help="Frames darker or brighter are dropped."
        )
        st.number_input("Most faces per frame", 1, 100, step=1, key="cfg_max_faces", help=helps.get("max_faces"))
    with sb.expander("Learning", icon=":material/model_training:"):
        st.toggle("Keep faces and voice for learning", key="cfg_collect", help=helps.get("collect"))
        st.slider(
            "Keep predictions above", 0.5, 1.0, step=0.01, key="cfg_collect_threshold",
            help=helps.get("collect_threshold"),
        )
        st.number_input(
            "Retrain after new labels", 0, 100000, step=10, key="cfg_retrain_after", help=helps.get("retrain_after")
        )
    with sb.expander("Export", icon=":material/save:"):
        st.toggle(
            "Auto-export JSON and CSV",
            key="cfg_auto_export",
            help=f"After each analysis, save both files in {data_dir() / 'exports'}.",
        )
        st.text_input("File name prefix", key="cfg_prefix", max_chars=40)
        st.toggle("Make annotated videos", key="cfg_annotated_video", help="Boxes and labels drawn on, audio kept.")
    sb.button("Reset settings", on_click=app_state.reset_settings, width="stretch")
    return app_state.current_settings()


def _generic_widget(name: str, help_text: str | None) -> None:
    key, value = f"cfg_{name}", st.session_state.get(f"cfg_{name}")
    text = name.replace("_", " ").capitalize()
    if isinstance(value, bool):
        st.toggle(text, key=key, help=help_text)
    elif isinstance(value, int):
        st.number_input(text, step=1, key=key, help=help_text)
    elif isinstance(value, float):
        st.number_input(text, step=0.1, key=key, help=help_text)
    elif isinstance(value, str):
        st.text_input(text, key=key, help=help_text)


# ---------------------------------------------------------------------------------------------------------------
# Running a batch


def _cancel() -> None:
    event = st.session_state.get("cancel_event")
    if event is not None:
        event.set()
    st.session_state["batch_cancelled"] = True


def batch_notice() -> None:
    """Say so when the last batch was cancelled or cut short (Streamlit stops a run when a widget changes)."""
    batch = st.session_state.get("batch")
    if not batch or not batch.get("running"):
        return
    batch["running"] = False
    done, total = batch["done"], batch["total"]
    why = (
        "Cancelled"
        if st.session_state.pop("batch_cancelled", False)
        else "Interrupted (the page was changed or stopped)"
    )
    st.warning(f"{why} after {done} of {total} files. Press **Analyse** to analyse the rest.", icon="⏹️")


def run_batch(files: list, settings: Settings) -> None:
    """Analyse uploaded files one by one with a progress bar and a Cancel button.

    Each result goes to the session's list, the history database and, if enabled, the export folder.
    A bad file gets its one-line error and the others go on.

    Args:
        files: Streamlit ``UploadedFile`` objects (anything with ``name``, ``file_id`` and file reading).
        settings: The analysis settings.
    """
    try:
        models = app_state.models_for(settings)
    except ModelUnavailable as exc:
        st.error(f"The models could not load: {exc}", icon="🚫")
        return
    options = app_state.export_options()
    cancel = threading.Event()
    st.session_state["cancel_event"] = cancel
    st.session_state.pop("batch_cancelled", None)
    batch = st.session_state["batch"] = {"total": len(files), "done": 0, "running": True}
    slot = st.empty()
    with slot.container(border=True):
        top = st.columns([6, 1], vertical_alignment="center")
        overall = top[0].empty()
        top[1].button("Cancel", on_click=_cancel, icon=":material/stop_circle:", width="stretch", key="cancel_batch")
        bar = st.progress(0.0)
    for i, upload in enumerate(files):
        shown = display_name(upload.name)
        overall.markdown(f"**Analysing {i + 1} of {len(files)}:** {plain(shown)}")
        kind = _kind(upload.name)
        last = [0.0]

        def progress(stage: str, frac: float, kind: str = kind, last: list = last, name: str = shown) -> None:
            last[0] = max(last[0], progress_value(kind, stage, frac, options["annotated_video"]))
            bar.progress(last[0], text=f"{name}: {STAGES.get(stage, stage)} {frac:.0%}")

        started = time.perf_counter()
        collector = learning.Collector(shown) if settings.collect else None
        try:
            analysis = analyse_upload(
                upload,
                upload.name,
                settings,
                models,
                progress,
                cancel,
                make_video=options["annotated_video"],
                collector=collector,
            )
        except Cancelled:
            break
        entry = {"analysis": analysis, "seconds": round(time.perf_counter() - started, 1)}
        entry["history_id"] = _remember(analysis)
        if collector is not None:
            _learn(collector, entry["history_id"], settings)
        if options["auto_export"]:
            entry["export_paths"] = auto_export(analysis.result, options["prefix"])
        app_state.add_analysis(upload.file_id, entry)
        batch["done"] = i + 1
    slot.empty()
    if batch["done"] == batch["total"]:
        batch["running"] = False
        st.toast(f"Analysed {batch['done']} file{'s' if batch['done'] != 1 else ''}", icon="✅")
        st.rerun()  # redraw the page with the new results and the Analyse button's new label


def _kind(name: str) -> str:
    from emotion.media import media_kind

    return media_kind(f"x{safe_extension(name)}")


def _learn(collector: learning.Collector, history_id: int | None, settings: Settings) -> None:
    try:
        _, started = learning.keep(collector, history_id, settings)
    except Exception as exc:  # noqa: BLE001 - a full disk must not lose the on-screen result
        st.warning(f"Could not keep the faces and voice for learning: {exc}")
        return
    for modality in started:
        st.toast(f"Enough new labels: retraining the {modality} model in the background", icon="🧠")
    for modality, n in collector.skipped.items():
        if n:
            st.toast(f"{collector.file}: kept the first {collector.limit} {modality} items for learning, not {n} more")


def _remember(analysis: Analysis) -> int | None:
    try:
        return app_state.history().add(analysis.result, analysis.extras)
    except Exception as exc:  # noqa: BLE001 - a full disk must not lose the on-screen result
        st.warning(f"Could not save to history: {exc}")
        return None


def export_stem(prefix: str, file: str) -> str:
    """Return a safe file-name stem: the prefix and the display name, letters, digits, '-' and '_' only."""
    stem = re.sub(r"[^A-Za-z0-9_-]+", "_", Path(file).stem).strip("_") or "result"
    prefix = re.sub(r"[^A-Za-z0-9_-]+", "_", prefix or "")
    return (prefix + stem)[:100]


def auto_export(result: Result, prefix: str) -> list[str]:
    """Write a result's JSON and CSV to ``<data dir>/exports`` atomically and return the paths."""
    folder = data_dir() / "exports"
    folder.mkdir(parents=True, exist_ok=True)
    stem = f"{export_stem(prefix, result.file)}-{datetime.now():%Y%m%d-%H%M%S}"
    paths = [folder / f"{stem}.json", folder / f"{stem}.csv"]
    write_atomic(str(paths[0]), to_json([result]))
    write_atomic(str(paths[1]), to_csv([result]))
    return [str(p) for p in paths]


# ---------------------------------------------------------------------------------------------------------------
# Showing results


def context_picker() -> str:
    """Draw the engagement-context picker (kept for the session) and return the context key."""
    st.session_state.setdefault("engagement_context", "general")
    return st.columns([1, 2])[0].selectbox(
        "Engagement context",
        list(CONTEXTS),
        format_func=CONTEXTS.get,
        key="engagement_context",
        persist_state="session",
        help="Weights the engagement score for the setting: see the README for the formula.",
    )


def render_entries(entries: list[dict], context: str, prefix: str = "emotion_") -> None:
    """Show analysed uploads: an overview and batch downloads for several, then one tab per file."""
    if not entries:
        return
    results = [e["analysis"].result for e in entries]
    if len(entries) > 1:
        table = overview_table(results, context)
        for col in ("face_emotion", "voice_emotion"):
            table[col] = table[col].map(label)
        st.dataframe(table, hide_index=True, column_config=_overview_columns())
        c1, c2, _ = st.columns([1, 1, 3])
        c1.download_button(
            "All as JSON",
            to_json(results),
            f"{prefix}batch.json",
            "application/json",
            on_click="ignore",
            icon=":material/download:",
            key="batch-json",
        )
        c2.download_button(
            "All as CSV",
            to_csv(results),
            f"{prefix}batch.csv",
            "text/csv",
            on_click="ignore",
            icon=":material/download:",
            key="batch-csv",
        )
        names = [("⚠️ " if r.error else "") + r.file for r in results]
        for i, (tab, entry) in enumerate(zip(st.tabs(names), entries)):
            with tab:
                _render_entry(entry, context, f"r{i}", prefix)
    else:
        _render_entry(entries[0], context, "r0", prefix)


def _overview_columns() -> dict:
    return {
        "face_confidence": st.column_config.ProgressColumn(
            "face confidence", format="percent", min_value=0, max_value=1
        ),
        "engagement": st.column_config.NumberColumn("engagement (1–5)", format="%.1f"),
        "duration_s": st.column_config.NumberColumn("duration (s)", format="%.1f"),
    }


def _render_entry(entry: dict, context: str, key: str, prefix: str) -> None:
    analysis: Analysis = entry["analysis"]
    render_result(analysis.result, analysis.extras, context, key, prefix, analysis.video, analysis.video_error)
    if entry.get("export_paths"):
        st.caption("Auto-exported to " + " and ".join(f"`{p}`" for p in entry["export_paths"]))


def render_result(
    result: Result,
    extras: dict | None,
    context: str,
    key: str,
    prefix: str = "emotion_",
    video: bytes | None = None,
    video_error: str | None = None,
    just_analysed: bool = True,
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
        just_analysed: False for records reopened from the history (their upload is gone).
    """
    extras = extras or {}
    if result.error:
        st.error(f"**{result.file}**: {result.error}", icon="⚠️")
        _downloads(result, key, prefix, None, None)
        return
    _metrics(result, context)
    notes = list(result.notes)
    voice = (result.audio.summary or {}) if result.audio else {}
    voice_note = result.audio.note if result.audio else None
    under_metric = result.kind == "video" and not voice.get("dominant_emotion") and len(voice_note or "") < 40
    if voice_note and not under_metric:  # a short note already shows under the Voice metric
        notes.append(voice_note)
    for note in notes:
        st.caption(f"ℹ️ {note}")
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
            st.dataframe(table, hide_index=True, column_config=_window_columns())
        if result.kind != "audio":
            _dropped(result)
    if result.kind == "video" and video:
        with st.expander("Annotated video"):
            st.video(video)
    _downloads(result, key, prefix, video, extras.get("image"))
    if result.kind == "video" and not video and just_analysed:
        if video_error:
            st.caption(f"The annotated video could not be made: {video_error}")
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
    cols[0].metric(
        title,
        label(dominant),
        delta=f"{conf:.0%} confidence" if dominant else "no face found",
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
            delta=f"{voice.get('confidence', 0):.0%} confidence",
            delta_color="off",
            delta_arrow="off",
            border=True,
        )
    else:
        if result.kind == "image":
            why = "images have no sound"
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
    clash = disagreements(result)
    if len(clash):
        spans = ", ".join(
            f"{r.start:.1f}–{r.end:.1f} s (face {r.face}, voice {r.voice})" for r in clash.head(4).itertuples()
        )
        more = f" and {len(clash) - 4} more" if len(clash) > 4 else ""
        st.caption(f"🟥 Face and voice disagree in {len(clash)} window{'s' if len(clash) > 1 else ''}: {spans}{more}.")
    elif result.kind == "video" and result.audio is not None and result.audio.segments:
        st.caption("Face and voice agree wherever both were read.")


def _faces(result: Result, extras: dict, key: str) -> None:
    table = faces_table(result, extras.get("thumbnails"))
    st.markdown(f"**Faces** ({len(table)})")
    if table.empty:
        st.caption("No face passed the quality filters.")
        return
    table["emotion"] = table["emotion"].map(label)
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
                "confidence", format="percent", min_value=0, max_value=1, width="small"
            ),
            "seen": st.column_config.TextColumn("seen (frames)", help="First and last sampled time, and frame count"),
        },
    )


def _dropped(result: Result) -> None:
    table = dropped_table(result)
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
        "face_confidence": st.column_config.ProgressColumn("face conf.", format="percent", min_value=0, max_value=1),
        "voice_confidence": st.column_config.ProgressColumn("voice conf.", format="percent", min_value=0, max_value=1),
        "engagement": st.column_config.NumberColumn("engagement", format="%.1f"),
    }


def _downloads(result: Result, key: str, prefix: str, video: bytes | None, image: str | None) -> None:
    stem = export_stem(prefix, result.file)
    cols = st.columns(4)
    cols[0].download_button(
        "JSON",
        to_json([result]),
        f"{stem}.json",
        "application/json",
        key=f"{key}-json",
        on_click="ignore",
        icon=":material/download:",
        width="stretch",
    )
    cols[1].download_button(
        "CSV",
        to_csv([result]),
        f"{stem}.csv",
        "text/csv",
        key=f"{key}-csv",
        on_click="ignore",
        icon=":material/download:",
        width="stretch",
    )
    if video:
        cols[2].download_button(
            "Annotated video",
            video,
            f"{stem}_annotated.mp4",
            "video/mp4",
            key=f"{key}-video",
            on_click="ignore",
            icon=":material/movie:",
            width="stretch",
        )
    if image:
        cols[2].download_button(
            "Annotated image",
            base64.b64decode(image),
            f"{stem}_annotated.jpg",
            "image/jpeg",
            key=f"{key}-image",
            on_click="ignore",
            icon=":material/image:",
            width="stretch",
        )


def uploader_help() -> str:
    """The uploader's help: what it takes, and its size limit (``server.maxUploadSize``)."""
    limit = int(st.get_option("server.maxUploadSize"))
    return (
        "Videos (mp4, mov, webm, …), audio (wav, mp3, flac, …) or images (jpg, png, …). Several at once is fine. "
        f"Up to {limit} MB per file (`server.maxUploadSize` in `.streamlit/config.toml`)."
    )


def accepted_types() -> list[str]:
    """Return the upload extensions the analysis reads, without dots."""
    return [e.lstrip(".") for e in MEDIA_EXTS]


def face_labels() -> tuple[str, ...]:
    """Return the facial labels (for pages that list them)."""
    return FACE_LABELS


def data_dir_text() -> str:
    """Return where the app keeps its data, for display."""
    return str(data_dir())


def entry_from_history(result: Result, extras: dict[str, Any]) -> dict:
    """Wrap a stored record as an entry for :func:`render_entries`."""
    return {"analysis": Analysis(result, extras)}


def delete_all_data() -> None:
    """A guarded "Delete all stored data" action: history, learning store, learned models and exports."""
    with st.expander("Delete all stored data", icon=":material/delete_forever:"):
        st.write(
            f"Deletes every analysis in the history, every face crop, voice segment and correction in the learning "
            f"store, the learned model versions and the auto-exports, all under `{data_dir()}`. The shipped models "
            "stay. This cannot be undone."
        )
        sure = st.checkbox("I understand, delete everything", key="delete_all_sure")
        st.button("Delete all stored data", type="primary", disabled=not sure, key="delete_all", on_click=_delete_all)
        done = st.session_state.pop("delete_all_done", None)
        if done:
            st.success(f"Deleted {done['analyses']} analyses and {done['items']} learning items.", icon="🗑️")


def _delete_all() -> None:
    from emotion import privacy

    st.session_state["delete_all_done"] = privacy.delete_all(app_state.history())
    st.session_state.pop("history_undo", None)
    st.session_state["delete_all_sure"] = False
