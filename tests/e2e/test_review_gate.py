"""A version the gate refused is not one click from serving, and a refused retrain reads as a refusal (issue 26 item 4).

The refused version is a real face adapter, fitted on the base model's outputs for real FER2013 faces and written
through the registry as the retrain writes a refused one (kept, not promoted, with the gate's verdict).
"""

from __future__ import annotations

import time

import pytest

from emotion.face.adapter import FaceAdapter, log_probs
from emotion.learning import jobs
from emotion.storage.versions import Registry
from tests.e2e import test_app
from tests.unit.test_versions import fer_outputs

pytestmark = [pytest.mark.needs_data, pytest.mark.slow]

at = test_app.at
VERDICT = "refused (worse beyond noise on the reference faces)"


def refused_version(models) -> str:
    """A refused face version in the registry, and the retrain status that reports it."""
    probs, truth = fer_outputs(models, 100)
    adapter = FaceAdapter().fit(log_probs(probs), truth)
    metrics = {"score": 0.31, "current_score": 0.87, "verdict": VERDICT}
    version = Registry("face").add(adapter.save, metrics, {"store_items": 100}, ".json", promote=False)
    now = time.time()
    jobs._write_status("face", state="done", fraction=1.0, message=f"{version} kept but not serving; {VERDICT}",
                       result={"version": version, "promoted": False}, started=now - 5, finished=now)
    return version


def test_a_refused_version_needs_an_explicit_override(at, models):
    version = refused_version(models)
    at.switch_page("pages/review.py").run()
    assert not at.exception, at.exception
    assert not any(version in s.value for s in at.success), "the refused retrain was shown as a success"
    assert any("Refused by the gate" in w.value and version in w.value for w in at.warning)
    at.selectbox(key="rollback_pick_face").set_value(version).run()
    assert at.button(key="rollback_face").disabled, "a refused version was one click from serving"
    assert any(f"The gate refused {version}: {VERDICT}" in w.value for w in at.warning)
    at.checkbox(key=f"rollback_sure_face_{version}").check().run()
    at.button(key="rollback_face").click().run()
    assert not at.exception, at.exception
    assert Registry("face").active() == version
