"""Model cards: one plain Markdown layout for the shipped models and the learned versions alike.

A card is a title, an optional introduction, then sections in order::

    # title

    intro

    ## heading

    body

``training/`` writes the shipped models' cards (``models/*.md``) with it, and the learning loop
(:mod:`emotion.learning.retrain`) writes a short card for each learned model version.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from emotion.files import write_text


def _cell(value: Any) -> str:
    """A value as one Markdown table cell: on one line, with its pipes escaped."""
    return " ".join(str(value).splitlines()).replace("|", "\\|")


def markdown_table(header: Sequence[Any], rows: Sequence[Sequence[Any]]) -> str:
    """Return a Markdown table (no trailing newline).

    Args:
        header: The column titles.
        rows: The rows; each value is written with ``str`` (format numbers before passing them). A short row is
            padded with empty cells.

    Returns:
        The header line, the ``| --- |`` line and one line per row.

    Raises:
        ValueError: A row has more cells than the header.
    """
    width = len(header)
    lines = ["| " + " | ".join(_cell(h) for h in header) + " |", "|" + " --- |" * width]
    for row in rows:
        if len(row) > width:
            raise ValueError(f"a row has {len(row)} cells, the header {width}: {row!r}")
        cells = [_cell(v) for v in row] + [""] * (width - len(row))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def render_card(title: str, sections: Mapping[str, str], intro: str = "") -> str:
    """Return a model card in Markdown.

    Args:
        title: The card's title (the ``#`` heading).
        sections: Section heading -> Markdown body, in order; each becomes ``## heading`` and its body. A section
            whose body is empty is left out.
        intro: Markdown between the title and the first section (none when empty).

    Returns:
        The card, ending in one newline.
    """
    parts = [f"# {title.strip()}"]
    if intro.strip():
        parts.append(intro.strip())
    for heading, body in sections.items():
        if body.strip():
            parts += [f"## {heading.strip()}", body.strip()]
    return "\n\n".join(parts) + "\n"


def write_card(path: str | Path, title: str, sections: Mapping[str, str], intro: str = "") -> Path:
    """Write a model card (see :func:`render_card`) atomically to ``path``.

    Args:
        path: The ``.md`` file to write; its folder is made if missing.
        title: The card's title.
        sections: Section heading -> Markdown body, in order.
        intro: Markdown between the title and the first section.

    Returns:
        The path written.
    """
    path = Path(path)
    write_text(path, render_card(title, sections, intro))
    return path
