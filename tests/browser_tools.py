"""Browser-test helpers that wait for the page's state instead of for time (not a test module).

Under load a keystroke or a click can land while Streamlit reruns the script or while the data editor redraws, and
is dropped. These helpers act, then wait until the state they need is there (a selected grid cell, a finished
rerun), and act again only where repeating cannot do harm (moving the grid's selection), never where it would undo
what the first action did (toggling a checkbox).
"""

from __future__ import annotations

from typing import Any

STEP_MS = 2_000
"""How long one action may take to show before a repeatable action is tried again."""
RERUN_MS = 60_000
"""How long a rerun of the script may take under load."""
ROW_PX = 35
"""The data editor's row (and header) height in pixels."""


def settle(page: Any, timeout_ms: int = RERUN_MS) -> None:
    """Wait until the app is not running its script (Streamlit's status widget shows no "Running")."""
    from playwright.sync_api import expect

    expect(page.locator('[data-testid="stStatusWidget"]').filter(has_text="Running")).to_have_count(
        0, timeout=timeout_ms
    )


def _selected(grid: Any) -> tuple[int, int] | None:
    """The (column, row) of the data editor's selected cell, from its accessible table; None when none is."""
    chosen = grid.locator('td[role="gridcell"][aria-selected="true"]')
    if chosen.count() != 1:
        return None
    col, row = chosen.first.get_attribute("data-testid").rsplit("-", 2)[1:]
    return int(col), int(row)


def _wait_change(page: Any, grid: Any, before: tuple[int, int] | None) -> None:
    waited = 0
    while _selected(grid) == before and waited < STEP_MS:
        page.wait_for_timeout(100)
        waited += 100


def select_cell(page: Any, grid: Any, col: int, row: int, tries: int = 60) -> None:
    """Select a data-editor cell: click the row's first (read-only) cell, then walk with the arrow keys.

    After every click or key the grid's accessible table is read back; a dropped key is simply sent again, since
    moving the selection is safe to repeat.

    Raises:
        AssertionError: If the cell could not be selected.
    """
    for _ in range(tries):
        now = _selected(grid)
        if now == (col, row):
            return
        if now is None or now[1] != row:  # no selection, or another row: click this row's first cell
            settle(page)
            box = grid.bounding_box()
            page.mouse.click(box["x"] + 30, box["y"] + ROW_PX * (row + 1) + ROW_PX // 2)
        else:
            page.keyboard.press("ArrowRight" if now[0] < col else "ArrowLeft")
        _wait_change(page, grid, now)
    raise AssertionError(f"could not select cell ({col}, {row}); selected: {_selected(grid)}")
