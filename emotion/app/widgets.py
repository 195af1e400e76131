"""Small widgets every page uses: emotion labels with emoji, plain-text names, one download button."""

from __future__ import annotations

import re

import streamlit as st

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
MIME = {"json": "application/json", "csv": "text/csv", "mp4": "video/mp4", "jpg": "image/jpeg"}
ICONS = {"mp4": ":material/movie:", "jpg": ":material/image:"}


def plain(text: str) -> str:
    """Escape Markdown in a user-supplied text (a file name), so it shows as typed."""
    return re.sub(r"([\\`*_{}\[\]()#+\-.!|<>~$])", r"\\\1", text)


def label(emotion: str | None) -> str:
    """Return an emotion with its emoji ("😊 happy"), or "—" for None."""
    return f"{EMOJI.get(emotion, '')} {emotion}".strip() if isinstance(emotion, str) and emotion else "—"


def download(slot: st.delta_generator.DeltaGenerator, text: str, data: str | bytes, file_name: str, key: str) -> None:
    """A download button whose type and icon follow the file's extension; it never reruns the page."""
    ext = file_name.rsplit(".", 1)[-1]
    slot.download_button(text, data, file_name, MIME.get(ext, "application/octet-stream"), key=key,
                         on_click="ignore", icon=ICONS.get(ext, ":material/download:"), width="stretch")
