"""The one batch flow, through the CLI and the API: saved, kept once per file, forgotten with its analysis."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from emotion import analyze_many
from emotion.settings import Settings
from emotion.storage.history import History
from emotion.storage.learning_store import LearningStore
from tests.conftest import MEDIA, need

pytestmark = pytest.mark.needs_data


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "emotion", *args], capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_cli_keep_then_delete_leaves_nothing_and_a_rerun_keeps_nothing_twice(tmp_path):
    image = str(need(MEDIA / "multi_face.jpg"))
    out = tmp_path / "r.json"
    first = cli("analyze", image, "--keep", "--quiet", "--out", str(out))
    assert first.returncode == 0, first.stderr
    assert "saved to History as entry 1; kept 5 faces and voice segments for learning" in first.stderr
    record = json.loads(out.read_text())[0]
    made = record["produced_by"]
    assert made["face_model"] == "fer_cnn" and made["face_model_version"] == "base"
    assert made["detector"] == "blazeface" and made["project"].startswith("emotion-studio ")
    assert record["settings"]["collect"] is True and len(record["sha256"]) == 64
    store = LearningStore()
    assert {r["face_id"] for r in store.rows(modality="face")} == {0, 1, 2, 3, 4}

    again = cli("analyze", image, "--keep", "--quiet", "--out", str(out))
    assert again.returncode == 0 and "nothing new kept for learning" in again.stderr
    assert len(store.rows()) == 5  # the same file analysed twice keeps its faces once
    runs = {e.id: e.run for e in History().list()}
    assert runs == {1: 1, 2: 2}

    gone = cli("history", "delete", "1")
    assert gone.returncode == 0 and "the 5 faces and voice segments kept from it" in gone.stdout
    assert store.rows() == [] and [e.id for e in History().list()] == [2]
    missing = cli("history", "delete", "1")
    assert missing.returncode == 2 and "no analysis with id 1" in missing.stderr and "Traceback" not in missing.stderr


@pytest.mark.slow
def test_cli_keep_needs_save_and_flags_come_from_settings():
    image = str(need(MEDIA / "multi_face.jpg"))
    refused = cli("analyze", image, "--keep", "--no-save", "--quiet")
    assert refused.returncode == 2 and "--keep needs --save" in refused.stderr
    assert History().list() == [] and LearningStore().rows() == []
    strict = cli("analyze", image, "--min-face", "2000", "--no-save", "--quiet")
    record = json.loads(strict.stdout)[0]
    assert record["summary"]["faces"] == 0 and record["settings"]["min_face"] == 2000
    assert any("too small" in d["reason"] for d in record["frames"][0]["dropped_faces"])
    bad = cli("analyze", image, "--min-face", "-3")
    assert bad.returncode == 2 and "outside 8..2000" in bad.stderr and "Traceback" not in bad.stderr
    assert History().list() == []  # --no-save stored nothing


def test_api_batch_saves_keeps_and_exports(private_data_dir):
    image = need(MEDIA / "multi_face.jpg")
    settings = Settings(auto_export=True, export_prefix="study 1/")
    (done,) = analyze_many([image], settings)
    assert done.history_id == 1 and done.kept == 5 and not done.messages
    assert [p.split("/")[-1][:21] for p in done.export_paths] == ["study_1_multi_face-20"] * 2
    assert all(p.startswith(str(private_data_dir / "exports")) for p in done.export_paths)
    stored, extras = History().get(1)
    assert stored.produced_by == done.result.produced_by and set(extras) == {"thumbnails", "image"}
