"""The CLI and bad input: clear one-line errors, no traceback, other files still analysed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from emotion.analysis.pipeline import analyze_file
from emotion.media import read_image
from emotion.record import Result
from emotion.report.export import CSV_COLUMNS, to_csv
from emotion.settings import Settings
from tests.conftest import ROOT

pytestmark = [pytest.mark.needs_data]


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "emotion", *args], cwd=ROOT, capture_output=True, text=True, timeout=300
    )


@pytest.fixture()
def bad_files(tmp_path: Path, media: Path) -> dict[str, Path]:
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    truncated = tmp_path / "truncated.mp4"
    truncated.write_bytes((media / "single_face.mp4").read_bytes()[:3000])
    text = tmp_path / "notes.mp4"
    text.write_text("this is not a video\n" * 50)
    noise = tmp_path / "noise.jpg"
    noise.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    return {"empty": empty, "truncated": truncated, "text": text, "noise": noise}


def test_bad_files_give_clear_errors(bad_files, models):
    for name, path in bad_files.items():
        result = analyze_file(path, Settings(), models)
        assert result.error, name
        assert "\n" not in result.error and "Traceback" not in result.error
    assert "empty" in analyze_file(bad_files["empty"], Settings(), models).error


@pytest.mark.slow
def test_cli_batch_with_bad_files(tmp_path, bad_files, media):
    out, csv_path = tmp_path / "r.json", tmp_path / "r.csv"
    proc = run_cli(
        "analyze",
        str(media / "single_face.jpg"),
        *map(str, bad_files.values()),
        "--out",
        str(out),
        "--csv",
        str(csv_path),
        "--quiet",
    )
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert "empty.mp4: the file is empty" in proc.stderr
    records = json.loads(out.read_text())
    assert [r["file"] for r in records][0] == "single_face.jpg"
    assert records[0]["error"] is None and len(records[0]["frames"][0]["faces"]) == 1
    assert all(r["error"] for r in records[1:])
    header = csv_path.read_text().splitlines()[0].split(",")
    assert header == CSV_COLUMNS


@pytest.mark.slow
def test_cli_json_has_the_documented_fields(media):
    proc = run_cli("analyze", str(media / "multi_face.jpg"), "--no-audio", "--quiet")
    assert proc.returncode == 0, proc.stderr
    (record,) = json.loads(proc.stdout)
    assert {"file", "kind", "error", "frames", "summary", "audio"} <= record.keys()
    frame = record["frames"][0]
    assert {"t", "index", "quality", "faces"} <= frame.keys() and {"ok", "reasons"} <= frame["quality"].keys()
    assert {"id", "box", "emotion", "scores"} <= frame["faces"][0].keys()
    assert {"dominant_emotion", "emotion_shares"} <= record["summary"].keys()


@pytest.mark.slow
def test_cli_folder_and_unknown_backend(tmp_path, media):
    proc = run_cli("analyze", str(media), "--face-backend", "no-such-model", "--quiet")
    assert proc.returncode == 2 and "no-such-model" in proc.stderr and "Traceback" not in proc.stderr


def test_deepface_backend_without_weights_names_the_file(tmp_path, monkeypatch):
    from emotion.face.detect import ModelUnavailable
    from emotion.face.model import get_face_model

    monkeypatch.setenv("DEEPFACE_HOME", str(tmp_path))
    with pytest.raises(ModelUnavailable) as err:
        get_face_model("deepface")
    assert "facial_expression_model_weights.onnx" in str(err.value) and str(tmp_path) in str(err.value)


def test_deepface_detector_backend_by_name(media):
    from emotion.face.detect import get_detector

    boxes = get_detector("opencv").detect(read_image(media / "multi_face.jpg"))
    assert len(boxes) >= 4


def test_image_variants_read_as_bgr(tmp_path, media):
    alpha = read_image(media / "Image_with_alpha.png")
    assert alpha.ndim == 3 and alpha.shape[2] == 3 and alpha.dtype == np.uint8
    face = cv2.imread(str(media / "single_face.jpg"))
    gray16 = cv2.cvtColor(face, cv2.COLOR_BGR2GRAY).astype(np.uint16) * 257
    cv2.imwrite(str(tmp_path / "g16.png"), gray16)
    img = read_image(tmp_path / "g16.png")
    assert img.shape == face.shape and img.dtype == np.uint8
    result = analyze_file(tmp_path / "g16.png", Settings(audio=False))
    assert len(result.frames[0].faces) == 1


def test_record_round_trip_and_csv(media, models):
    result = analyze_file(media / "multi_face.jpg", Settings(audio=False), models)
    again = Result.from_dict(json.loads(json.dumps(result.to_dict())))
    assert again == result
    rows = to_csv([result]).splitlines()
    assert len(rows) == 1 + len(result.frames[0].faces)
    with pytest.raises(ValueError):
        Result.from_dict({"frames": "nope"})


@pytest.mark.slow
def test_non_ascii_file_name(tmp_path, media):
    odd = tmp_path / "café ☕ – 写真.jpg"
    odd.write_bytes((media / "single_face.jpg").read_bytes())
    proc = run_cli("analyze", str(odd), "--quiet", "--no-audio")
    assert proc.returncode == 0, proc.stderr
    (record,) = json.loads(proc.stdout)
    assert record["file"] == odd.name and len(record["frames"][0]["faces"]) == 1
