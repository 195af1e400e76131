"""History's Delete asks before it deletes (issue 26 item 7)."""

from __future__ import annotations

import pytest

from tests.e2e import test_app
from tests.e2e.test_app import media, upload

pytestmark = [pytest.mark.needs_data, pytest.mark.slow]

at = test_app.at


def test_delete_asks_first_and_cancel_keeps_the_analysis(at):
    upload(at, media("multi_face.jpg", "image/jpeg"))
    at.switch_page("pages/history.py").run()
    at.button(key="history_delete").click().run()
    assert len(at.selectbox(key="history_pick").options) == 1, "Delete acted without asking"
    assert any(w.value.startswith("Delete ") and "multi_face.jpg" in w.value for w in at.warning)
    at.button(key="history_delete_cancel").click().run()
    assert len(at.selectbox(key="history_pick").options) == 1
    assert not any(w.value.startswith("Delete ") for w in at.warning)
    at.button(key="history_delete").click().run()
    at.button(key="history_delete_confirm").click().run()
    assert not at.exception, at.exception
    assert any("No analyses yet" in i.value for i in at.info)
