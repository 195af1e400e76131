"""The Compare page's parts.

Pick analyses from this session's batch or History, overlay their curves, show their summaries side by side and
per-span statistics across files, and export the comparison (CSV, HTML).
"""

from __future__ import annotations

import streamlit as st

from emotion.app import state
from emotion.app.results import context_picker
from emotion.app.widgets import errors_shown, plain
from emotion.app.workbench import shown_stats
from emotion.record import Result
from emotion.report.compare import MEASURES, curves_figure, span_table, summaries, to_csv
from emotion.report.html import html_report
from emotion.report.markers import Marker, MarkerError, from_dicts, read_csv
from emotion.storage.sqlite import StoreError


def choices() -> dict[str, tuple[str, object]]:
    """Option key -> (label, source): ``s:<upload>`` for this session's analyses, ``h:<id>`` for History's."""
    out: dict[str, tuple[str, object]] = {}
    for key, analysis in state.analyses().items():
        if not analysis.result.error:
            out[f"s:{key}"] = (f"this session · {analysis.result.file}", analysis)
    shown = {a.history_id for a in state.analyses().values()}
    with errors_shown("History cannot be read"):
        for entry in state.history().list(300):
            if entry.error or entry.id in shown:
                continue
            tags = f" · {', '.join(entry.tags)}" if entry.tags else ""
            out[f"h:{entry.id}"] = (f"History · {entry.label()}{tags}", entry.id)
    return out


def load(options: dict, picked: list[str]) -> tuple[list[Result], list[dict], list[list[Marker]]]:
    """The chosen records, their extras and their markers."""
    results, extras, markers = [], [], []
    for key in picked:
        source = options[key][1]
        try:
            if key.startswith("s:"):
                result, extra = source.result, source.extras
                spans = st.session_state.get(f"r{list(state.analyses()).index(key[2:])}-markers")
            else:
                result, extra = state.history().get(int(source))
                spans = None
        except (KeyError, StoreError, ValueError) as exc:
            st.warning(f"{plain(options[key][0])} cannot be opened: {plain(exc)}", icon="⚠️")
            continue
        results.append(result)
        extras.append(extra)
        markers.append(list(spans) if spans is not None else from_dicts(extra.get("markers")))
    return results, extras, markers


def page() -> None:
    """The whole Compare page."""
    options = choices()
    if len(options) < 2:
        st.info("Analyse at least two files (or keep them in History) to compare them.", icon="🗂️")
        return
    picked = st.multiselect("Analyses to compare", list(options), format_func=lambda k: options[k][0],
                            key="compare_pick", placeholder="Pick two or more analyses")
    if len(picked) < 2:
        st.caption("Pick two or more analyses.")
        return
    results, extras, markers = load(options, picked)
    if len(results) < 2:
        return
    context = context_picker()
    a, b = st.columns([1, 1], vertical_alignment="bottom")
    measure = a.selectbox("Curve", MEASURES, key="compare_measure",
                          help="Valence (-1 to +1), arousal (0 to 1) or one emotion's probability, mean over the "
                               "faces of each frame")
    normalised = b.toggle("Normalised time (0–100% of each file)", key="compare_norm")
    st.plotly_chart(curves_figure(results, measure, normalised), key="compare_curves", config={"displaylogo": False})
    st.markdown("**Side by side**")
    side = summaries(results, context)
    side["face confidence"] = [f"{v:.0%}" if isinstance(v, float) else "" for v in side["face confidence"]]
    side["positivity"] = side["positivity"].astype(float)
    st.dataframe(side, hide_index=True, key="compare_summary", column_config={
        "positivity": st.column_config.NumberColumn("positivity (valence)", format="%+.2f"),
        "engagement": st.column_config.NumberColumn("engagement (1–5)", format="%.1f")})
    spans = _spans(markers)
    if spans:
        st.markdown(f"**Per-span statistics across files** ({len(spans)} spans)")
        st.dataframe(shown_stats(span_table(results, spans, context)), hide_index=True, key="compare_spans")
    st.session_state["compare_csv"] = to_csv(results, spans, context)
    c1, c2, _ = st.columns([1, 1, 2])
    c1.download_button("Comparison CSV", st.session_state["compare_csv"], "emotion_comparison.csv", "text/csv",
                       key="compare_csv_dl", on_click="ignore", icon=":material/table:", width="stretch")
    if c2.button("Make the HTML report", key="compare_report_go", icon=":material/description:", width="stretch"):
        with st.spinner("Writing the report…"):
            st.session_state["compare_report"] = html_report(
                results, context, extras=extras, markers=[spans] + [[] for _ in results[1:]],
                anonymise=state.current_settings().anonymise, compare=True).encode("utf-8")
    if st.session_state.get("compare_report"):
        c2.download_button("Download the report", st.session_state["compare_report"], "emotion_comparison.html",
                           "text/html", key="compare_report_dl", on_click="ignore", width="stretch")


def _spans(markers: list[list[Marker]]) -> list[Marker]:
    """The spans to compare over: a CSV imported here, else the first chosen analysis's markers that has some."""
    upload = st.file_uploader("Spans for every file (CSV: start,end,label)", type=["csv"], key="compare_spans_csv",
                              help="Without a file, the markers of the first chosen analysis that has some")
    if upload is not None:
        try:
            return read_csv(upload.getvalue())
        except MarkerError as exc:
            st.error(f"The spans file cannot be used: {plain(exc)}", icon="🚫")
            return []
    return next((m for m in markers if m), [])
