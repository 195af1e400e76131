"""The Review & retrain page's parts: the correction table, previews, retraining and model versions.

Only the Streamlit app imports this module; everything it does goes through :mod:`emotion.storage.learning_store`,
:mod:`emotion.learning.jobs` and :mod:`emotion.storage.versions`.
"""

from __future__ import annotations

import base64
import sqlite3
import time
from datetime import datetime

import pandas as pd
import streamlit as st

from emotion.app import state
from emotion.errors import EmotionError, one_line
from emotion.labels import FACE_LABELS, VOICE_LABELS
from emotion.learning import jobs as learning
from emotion.learning.retrain import GATE_ALPHA, GATE_COLUMNS, MIN_HELD_OUT, base_score, gate_rows
from emotion.learning.review import corrections
from emotion.storage.learning_store import LearningStore
from emotion.storage.versions import BASE, Registry

LABELS = {"face": FACE_LABELS, "voice": VOICE_LABELS}
NAMES = {"face": "Faces", "voice": "Voice"}
ROWS = 200


def store() -> LearningStore:
    """The learning store, with the session's collection threshold."""
    return LearningStore(auto_threshold=state.current_settings().collect_threshold)


def overview(db: LearningStore) -> None:
    """Metrics per modality: items kept, labels pending a retrain, and the serving model's held-out score."""
    cols = st.columns(2)
    for col, modality in zip(cols, learning.MODALITIES):
        reg = Registry(modality)
        active = reg.active()
        score = _score(reg, active, modality)
        with col.container(border=True):
            st.markdown(f"**{NAMES[modality]}** · serving `{active}`")
            a, b, c = st.columns(3)
            a.metric("Kept", db.size(modality))
            since = float(learning.status(modality).get("started", 0.0))
            pending, collected = db.count(modality, since), db.count(modality, since, human_only=False)
            b.metric("Pending corrections", pending,
                     help=f"Your labels since the last retrain started (with collected predictions: {collected})")
            c.metric("Held-out score", score or "—", help=_score_help(modality))


@st.cache_data(show_spinner=False)
def _base_score(modality: str) -> float | None:
    """The shipped model's held-out score, computed once per server."""
    return base_score(modality)


def _score(reg: Registry, version: str, modality: str) -> str | None:
    """The version's gate score as text; for the shipped model that never served in a retrain, its own."""
    value = reg.score(version)
    value = _base_score(modality) if value is None and version == BASE else value
    return f"{value:.3f}" if isinstance(value, float) else None


def _score_help(modality: str) -> str:
    if modality == "voice":
        return "Accuracy on RAVDESS actor 24 (never trained on), the voice gate's reference set"
    return "Accuracy on 700 reference FER2013 faces (never trained on), the face gate's reference set"


def filters(db: LearningStore) -> dict:
    """The table's filters; returns keyword arguments for :meth:`LearningStore.rows`."""
    c1, c2, c3, c4 = st.columns([1.2, 2, 1.5, 2])
    modality = c1.radio("Show", ["face", "voice"], format_func=NAMES.get, key="review_modality", horizontal=True)
    file = c2.selectbox("File", ["(all)"] + db.files(), key="review_file")
    label = c3.selectbox("Label", ["(all)", *LABELS[modality]], key="review_label")
    low, high = c4.slider("Confidence", 0.0, 1.0, (0.0, 1.0), step=0.05, key="review_confidence")
    return {
        "modality": modality,
        "file": None if file == "(all)" else file,
        "label": None if label == "(all)" else label,
        "min_confidence": low,
        "max_confidence": high,
        "limit": ROWS,
    }


def table(db: LearningStore, query: dict) -> None:
    """The editable table: pick a label or tick "correct", then save; human labels always win."""
    rows = db.rows(**query)
    modality = query["modality"]
    if not rows:
        st.info("Nothing to review here yet. Faces and voice segments are kept when you analyse files with "
                "**Keep faces and voice for learning** on (sidebar, Learning).", icon="🗂️")
        return
    frame = pd.DataFrame(
        {
            "id": [r["id"] for r in rows],
            "face": _thumbs(db, rows) if modality == "face" else None,
            "file": [r["file"] for r in rows],
            "at (s)": [f"{r['start']:.1f}" + (f"–{r['end']:.1f}" if r["end"] > r["start"] else "") for r in rows],
            "predicted": [r["predicted"] for r in rows],
            "confidence": [r["confidence"] for r in rows],
            "correct": [r["label_source"] == "human" and r["label"] == r["predicted"] for r in rows],
            "label": [r["label"] if r["label_source"] == "human" else None for r in rows],
            "source": [r["label_source"] or "" for r in rows],
            "discard": [False] * len(rows),
        }
    )
    if modality != "face":
        frame = frame.drop(columns="face")
    st.caption(f"{len(rows)} shown (newest first, at most {ROWS}). Tick **correct** to confirm a prediction, pick the "
               "right **label**, or **discard** what is not a face or not a voice; then save. *auto* marks confident "
               "predictions kept as training data.")
    edited = st.data_editor(
        frame,
        key=f"review_table_{_table_key(rows)}",  # new rows or a save start a fresh set of edits
        hide_index=True,
        width="stretch",
        disabled=["id", "face", "file", "at (s)", "predicted", "confidence", "source"],
        column_config={
            "id": st.column_config.NumberColumn(width="small"),
            "face": st.column_config.ImageColumn(width="small"),
            "confidence": st.column_config.ProgressColumn(min_value=0.0, max_value=1.0, format="%.2f"),
            "correct": st.column_config.CheckboxColumn(help="The prediction is right"),
            "label": st.column_config.SelectboxColumn(options=list(LABELS[modality]), help="The right emotion"),
            "discard": st.column_config.CheckboxColumn(help="Not a face or not a voice: delete it from the store"),
        },
    )
    discard = [int(i) for i in edited.loc[edited["discard"], "id"]]
    changes = {k: v for k, v in corrections(frame, edited).items() if k not in discard}
    total = len(changes) + len(discard)
    save, note = st.columns([1, 4], vertical_alignment="center")
    if save.button(f"Save {total} change{'s' if total != 1 else ''}", type="primary", disabled=not total,
                   key="review_save"):
        try:
            n = db.correct(changes) + db.delete_ids(discard)
            started = learning.maybe_start(db, state.current_settings().retrain_after)
        except (OSError, sqlite3.Error, EmotionError) as exc:  # a read-only, full or damaged store: say so, keep edits
            note.error(f"The changes could not be saved: {one_line(exc, 200)}", icon="🚫")
        else:
            st.session_state["review_saves"] = st.session_state.get("review_saves", 0) + 1
            st.session_state["review_saved"] = (n, started)
            st.rerun()
    saved = st.session_state.pop("review_saved", None)
    if saved:
        extra = f"; retraining {', '.join(saved[1])} in the background" if saved[1] else ""
        note.success(f"Saved {saved[0]} change{'s' if saved[0] != 1 else ''}{extra}.", icon="✅")
    preview(db, rows, modality)


def _table_key(rows: list[dict]) -> str:
    import hashlib

    ids = ",".join(str(r["id"]) for r in rows)
    return hashlib.sha1(f"{ids}|{st.session_state.get('review_saves', 0)}".encode()).hexdigest()[:12]


def _thumbs(db: LearningStore, rows: list[dict]) -> list[str | None]:
    """The rows' face crops as data URLs, read in one query."""
    crops = db.medias([r["id"] for r in rows])
    return [f"data:image/jpeg;base64,{base64.b64encode(crops[r['id']]).decode()}" if r["id"] in crops else None
            for r in rows]


def preview(db: LearningStore, rows: list[dict], modality: str) -> None:
    """Play one voice segment or show one face larger."""
    labels = {r["id"]: f"#{r['id']} · {r['file']} · {r['start']:.1f} s · {r['predicted']}" for r in rows}
    verb = "Play" if modality == "voice" else "Show"
    pick = st.selectbox(f"{verb} an item", list(labels), format_func=labels.__getitem__, key=f"review_pick_{modality}")
    data = db.media(pick) if pick is not None else None
    if data is None:
        return
    if modality == "voice":
        st.audio(data, format="audio/wav")
    else:
        st.image(data, width=160)


def retrain_panel() -> None:
    """Start a retrain per modality and follow its progress; it runs in a separate process."""
    st.subheader("Retrain")
    st.caption("A new model serves only if it is not worse than the serving one (nor the shipped one) beyond noise "
               "on held-out data: RAVDESS actor 24 for the voice, 700 reference faces for the face adapter, and a "
               f"held-out fifth of your corrections once there are {MIN_HELD_OUT} of them (McNemar's exact test, "
               f"one-sided, {GATE_ALPHA:.0%}). Every retrain is kept as a version below, with how it was judged.")
    cols = st.columns(2)
    for col, modality in zip(cols, learning.MODALITIES):
        with col:
            _job(modality)


@st.fragment(run_every=2.0)
def _job(modality: str) -> None:
    info = learning.status(modality)
    state = info.get("state", "idle")
    seen = f"retrain_seen_{modality}"
    if seen in st.session_state and st.session_state[seen] != info.get("finished"):
        st.session_state[seen] = info.get("finished")
        st.rerun(scope="app")  # a retrain just ended: the serving model and the versions table change
    st.session_state[seen] = info.get("finished")
    busy = state == "running"
    if st.button(f"Retrain {NAMES[modality].lower()}", key=f"retrain_{modality}", disabled=busy,
                 icon=":material/model_training:", width="stretch"):
        if learning.start(modality):  # it records "running" before the process starts
            info, state, busy = learning.status(modality), "running", True
    if busy:
        elapsed = time.time() - float(info.get("started", time.time()))
        st.progress(float(info.get("fraction", 0.0)), text=f"{info.get('stage', 'starting')}… {elapsed:.0f} s")
    elif state == "done" and not info.get("result", {}).get("promoted", True):
        st.warning(f"Refused by the gate: {info.get('message', '')}. The serving model is unchanged.", icon="⛔")
    elif state == "done":
        st.success(info.get("message", "done"), icon="✅")
    elif state in ("failed", "interrupted"):
        st.warning(f"Last retrain {state}: {info.get('message', '')}", icon="⚠️")


def versions_panel() -> None:
    """Every model version with its held-out scores; roll back to any of them."""
    st.subheader("Model versions")
    for modality in learning.MODALITIES:
        reg = Registry(modality)
        active = reg.active()
        rows = [{"version": BASE, "created": "shipped", "promoted": True, "score": None, "serving score": None,
                 "labels used": None, "active": active == BASE}]
        for v in reversed(reg.versions()):
            m = v.get("metrics", {})
            rows.append({
                "version": v["version"],
                "created": datetime.fromtimestamp(v["created"]).strftime("%Y-%m-%d %H:%M"),
                "promoted": bool(v.get("promoted")),
                "score": m.get("score"),
                "serving score": m.get("current_score"),
                "labels used": v.get("data", {}).get("store_items"),
                "active": v["version"] == active,
            })
        st.markdown(f"**{NAMES[modality]}**")
        st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
        _breakdown(reg)
        pick, go = st.columns([4, 1], vertical_alignment="bottom")
        choice = pick.selectbox("Roll back to", reg.names(), index=reg.names().index(active),
                                key=f"rollback_pick_{modality}")
        allowed = choice == active or _override(reg, choice)
        if go.button("Use it", key=f"rollback_{modality}", disabled=choice == active or not allowed, width="stretch"):
            reg.rollback(choice)
            st.toast(f"The {modality} model is now {choice}", icon="↩️")
            st.rerun()


def _refusal(reg: Registry, version: str) -> str | None:
    """Why the gate refused ``version``, or None when it served (or is the shipped model)."""
    found = next((v for v in reg.versions() if v["version"] == version), None)
    if found is None or found.get("promoted"):
        return None
    return str(found.get("metrics", {}).get("verdict") or "no reason was recorded")


def _override(reg: Registry, version: str) -> bool:
    """Whether ``version`` may be served: it passed the gate, or the analyst confirms serving a refused one.

    A refused version shows the gate's reason and needs the box "I know the gate refused it" ticked.
    """
    reason = _refusal(reg, version)
    if reason is None:
        return True
    st.warning(f"The gate refused {version}: {reason}. Serving it may make every reading worse.", icon="⛔")
    return st.checkbox("I know the gate refused it", key=f"rollback_sure_{reg.folder.name}_{version}")


def _breakdown(reg: Registry, newest: int = 10) -> None:
    """How the newest versions were judged: the gate's verdict and every part of it."""
    judged = [v for v in reversed(reg.versions()) if v.get("metrics", {}).get("gate") is not None][:newest]
    if not judged:
        return
    with st.expander(f"How the {NAMES[reg.folder.name].lower()} versions were judged"):
        st.caption("Each part compares the version with a model on the same held-out items: *only this right* and "
                   "*only that right* count the items exactly one of them got right, and *p (worse)* is the chance of "
                   f"losing at least that many if both were equally good; below {GATE_ALPHA} the version is refused.")
        for v in judged:
            m = v["metrics"]
            st.markdown(f"`{v['version']}` against `{m.get('current_version')}`: {m.get('verdict', '')}")
            st.dataframe(pd.DataFrame(gate_rows(m["gate"]), columns=GATE_COLUMNS), hide_index=True, width="stretch")
