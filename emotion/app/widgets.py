"""Small widgets every page uses: emotion labels with emoji, plain-text names, one download button."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager

import streamlit as st

from emotion.storage.sqlite import StoreError, reason

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
JOINER = "\u2060"
"""An invisible word joiner: put in a shown name where GFM would otherwise find a bare link."""


def plain(text: object) -> str:
    """Escape a user-supplied text (a file name, a message quoting one) for Streamlit's Markdown.

    Every ASCII punctuation character gets a backslash, which CommonMark allows before any of them: no image, link
    (``![x](https://...)``), no ``:red[...]`` directive, ``:material/...:`` icon or emoji shortcode, no ``$`` math,
    HTML, entity, code or emphasis. GFM's bare links (``http://x``, ``www.x``, ``a@b.x``) are found after escapes
    are undone, so an invisible word joiner goes after ``:`` in ``://``, ``www`` and ``@``. Controls and line
    breaks become spaces; bidi and zero-width characters are dropped (as ``uploads.display_name`` does to names).
    """
    return _escape(text, r"([!-/:-@\[-`{-~])")


def inert(text: object) -> str:
    """Like :func:`plain`, but only for the marks that make links, images, HTML, directives, math or code.

    So ``fer_mini_xception (base)`` stays as it is in the Markdown source; emphasis may still form.
    """
    return _escape(text, r"([!\[\]<>:$&`\\])")


def _escape(text: object, marks: str) -> str:
    text = "".join(" " if unicodedata.category(c) in ("Cc", "Zl", "Zp") else c for c in str(text))
    text = "".join(c for c in text if unicodedata.category(c) != "Cf")
    text = re.sub(r"(?i)(:(?=//)|www(?=\.)|@)", "\\1" + JOINER, text)  # GFM autolinks ignore escapes
    return re.sub(marks, r"\\\1", text)


@contextmanager
def errors_shown(what: str) -> Iterator[None]:
    """Show a store or file error raised in the block as one line on the page (``what: why``), not a traceback."""
    try:
        yield
    except (StoreError, OSError) as exc:
        st.error(f"{what}: {plain(str(exc) if isinstance(exc, StoreError) else reason(exc))}", icon="🚫")


def label(emotion: str | None) -> str:
    """Return an emotion with its emoji ("😊 happy"), or "—" for None."""
    return f"{EMOJI.get(emotion, '')} {emotion}".strip() if isinstance(emotion, str) and emotion else "—"


def download(slot: st.delta_generator.DeltaGenerator, text: str, data: str | bytes, file_name: str, key: str) -> None:
    """A download button whose type and icon follow the file's extension; it never reruns the page."""
    ext = file_name.rsplit(".", 1)[-1]
    slot.download_button(text, data, file_name, MIME.get(ext, "application/octet-stream"), key=key,
                         on_click="ignore", icon=ICONS.get(ext, ":material/download:"), width="stretch")
