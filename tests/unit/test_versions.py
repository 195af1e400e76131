"""Model versions and the face adapter: atomic saves, rollback, fallback from a corrupt file."""

from __future__ import annotations

import numpy as np
import pytest

from emotion.face.adapter import FaceAdapter, log_probs
from emotion.labels import FACE_LABELS
from emotion.storage.versions import BASE, Registry

pytestmark = [pytest.mark.needs_data]


def fer_outputs(models, n: int = 400) -> tuple[np.ndarray, np.ndarray]:
    """Real base-model probabilities and true labels on FER2013 faces."""
    from tests.conftest import DATA, need

    data = np.load(need(DATA / "fer2013" / "train.npz"))
    idx = np.random.default_rng(0).choice(len(data["labels"]), n, replace=False)
    probs = models.face.predict_proba(list(data["images"][idx]))
    return probs, np.array(FACE_LABELS)[data["labels"][idx]]


@pytest.mark.slow
def test_adapter_learns_a_bias_and_stays_near_identity(models):
    probs, truth = fer_outputs(models)
    # an analyst who calls every 'neutral' prediction 'sad': the adapter should learn that shift
    y = np.where(probs.argmax(1) == FACE_LABELS.index("neutral"), "sad", truth)
    half = len(y) // 2
    adapter = FaceAdapter(alpha=0.1).fit(log_probs(probs[:half]), y[:half])
    base_acc = np.mean(np.array(FACE_LABELS)[probs[half:].argmax(1)] == y[half:])
    new_acc = np.mean(adapter.predict(log_probs(probs[half:])) == y[half:])
    assert new_acc > base_acc + 0.03
    untouched = FaceAdapter(alpha=1e6).fit(log_probs(probs[:half]), y[:half])
    assert np.allclose(untouched.predict_proba(log_probs(probs)), probs / probs.sum(1, keepdims=True), atol=1e-3)


def test_registry_versions_rollback_and_corrupt_fallback(tmp_path, models):
    probs, truth = fer_outputs(models, 100)
    reg = Registry("face", tmp_path)
    assert reg.active() == BASE and reg.active_file() == (BASE, None, None)
    a = FaceAdapter().fit(log_probs(probs), truth)
    v1 = reg.add(a.save, {"accuracy": 0.5}, {"items": 100}, ".json", promote=True)
    v2 = reg.add(a.save, {"accuracy": 0.6}, {"items": 100}, ".json", promote=True)
    assert reg.active() == v2 and reg.names() == [BASE, v1, v2]
    reg.rollback(v1)
    assert reg.active_file()[0] == v1
    with pytest.raises(ValueError, match="no face model version"):
        reg.rollback("v-nope")
    reg.rollback(v2)
    (reg.folder / f"{v2}.json").write_text("{broken")  # a damaged file: fall back to the last good one
    version, path, message = reg.active_file()
    assert version == v1 and path.name == f"{v1}.json" and "corrupt" in message
    assert FaceAdapter.load(path).predict(log_probs(probs[:3])).shape == (3,)
    assert not list(reg.folder.glob(".tmp-*"))


@pytest.mark.slow
def test_models_cli_lists_and_rolls_back(tmp_path, models):
    import os
    import subprocess
    import sys

    from tests.conftest import ROOT

    probs, truth = fer_outputs(models, 60)
    reg = Registry("face", tmp_path / "models")
    v1 = reg.add(FaceAdapter().fit(log_probs(probs), truth).save, {"accuracy": 0.61}, {}, ".json", promote=True)
    env = dict(os.environ, EMOTION_DATA_DIR=str(tmp_path))

    def cli(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "emotion", "models", *args], cwd=ROOT, env=env, capture_output=True, text=True
        )

    listed = cli("list")
    assert listed.returncode == 0 and f"* {v1}" in listed.stdout and "accuracy 0.610" in listed.stdout
    assert cli("rollback", "base").returncode == 2  # both modalities have a base: ambiguous
    done = cli("rollback", "base", "--modality", "face")
    assert done.returncode == 0 and reg.active() == BASE
    missing = cli("rollback", "v-nope")
    assert missing.returncode == 2 and "not found" in missing.stderr and "Traceback" not in missing.stderr


def test_active_face_adapter_serves_and_a_damaged_one_falls_back(tmp_path, monkeypatch, media, models):
    from emotion.analysis.pipeline import Models, analyze_file
    from emotion.settings import Settings

    monkeypatch.setenv("EMOTION_DATA_DIR", str(tmp_path))
    probs, truth = fer_outputs(models, 60)
    reg = Registry("face")
    adapter = FaceAdapter(alpha=0.01).fit(
        log_probs(probs), np.full(len(truth), "sad")
    )  # an analyst who sees only sadness
    v1 = reg.add(adapter.save, {"accuracy": 0.5}, {}, ".json", promote=True)
    served = Models.load(Settings(audio=False))
    assert served.face.name.endswith(v1)
    stale = FaceAdapter(alpha=0.01, base="fer_mini_xception").fit(log_probs(probs), np.full(len(truth), "sad"))
    stale_version = reg.add(stale.save, {"accuracy": 0.5}, {}, ".json", promote=True)
    refused = Models.load(Settings(audio=False))  # fitted on another base model's outputs: not served
    assert refused.face.name == "fer_cnn" and any("fitted on fer_mini_xception" in n for n in refused.notes)
    reg.rollback(v1)
    assert stale_version != v1
    happy = analyze_file(media / "0-f15-hao-ph.jpg", Settings(audio=False), served)
    base = analyze_file(media / "0-f15-hao-ph.jpg", Settings(audio=False), models)
    assert happy.frames[0].faces[0].scores["sad"] > base.frames[0].faces[0].scores["sad"]

    (reg.folder / f"{v1}.json").write_bytes(b"\0garbage")
    result = analyze_file(media / "0-f15-hao-ph.jpg", Settings(audio=False))
    assert result.error is None and result.summary["dominant_emotion"] == "happy"  # the shipped model serves again
    assert any("corrupt" in n for n in result.notes)
