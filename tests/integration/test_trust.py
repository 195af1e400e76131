"""Nothing a file, a folder or a retrain can do runs code or takes the app down (issue 14).

Hostile model files are made here, at test time: a skops file that names a scikit-learn function, ONNX files and
sidecars that lie. A retrain that is stopped or killed must leave no work files, and only human labels start one.
"""

from __future__ import annotations

import importlib
import inspect
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import zipfile
import zoneinfo
from pathlib import Path

import cv2
import numpy as np
import pytest

from emotion.errors import ModelError, ModelUnavailable
from emotion.face.adapter import FaceAdapter
from emotion.face.model import OnnxFaceModel
from emotion.files import sha256
from emotion.learning import jobs as learning
from emotion.learning.active import load_active_voice_model
from emotion.learning.collect import Collector
from emotion.settings import models_dir, ravdess_dir
from emotion.storage.learning_store import LearningStore
from emotion.storage.versions import BASE, Registry
from emotion.voice import corpora
from emotion.voice.persistence import TRUSTED_TYPES, default_model_path, load_voice_model
from emotion.voice.scratch import sweep_work, work_root
from tests.conftest import DATA, ROOT, need

pytestmark = [pytest.mark.needs_data]

RUNS_PYTHON = "sklearn.utils._testing.assert_run_python_script_without_output"
"""A scikit-learn test helper that runs the Python source it is given: what an old allow-list of 'sklearn.*' let in."""


def evil_skops(path: Path, marker: Path) -> Path:
    """A skops file whose schema calls :data:`RUNS_PYTHON` with code that creates ``marker``."""
    import skops.io as sio

    schema = json.loads(zipfile.ZipFile(io.BytesIO(sio.dumps(zoneinfo.ZoneInfo("UTC")))).read("schema.json"))
    module, name = RUNS_PYTHON.rsplit(".", 1)
    schema.update(__class__=name, __module__=module)  # a node that calls its "class" with the arguments below
    schema["content"]["content"][0]["content"] = json.dumps(f"open({str(marker)!r}, 'w').close()")
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("schema.json", json.dumps(schema))
    return path


def test_a_voice_model_that_names_an_sklearn_function_is_refused_and_runs_nothing(tmp_path):
    import skops.io as sio

    marker = tmp_path / "ran"
    evil = evil_skops(tmp_path / "evil.skops", marker)
    with pytest.raises(ModelError, match="outside the voice model's allow-list") as err:
        load_voice_model(evil, sha256=sha256(evil))  # its checksum matches: whoever wrote it wrote the record too
    assert RUNS_PYTHON in str(err.value) and "\n" not in str(err.value)
    assert not marker.exists()

    registry = Registry("voice")  # the same file as a learned version, made active
    version = registry.add(lambda p: shutil.copy(evil, p), {}, {}, ".skops", promote=True)
    model, serving, note = load_active_voice_model()
    assert serving == BASE and version in (note or "") and "allow-list" in (note or "")
    assert model.predict_proba(np.zeros((1, model.model_.n_features_in_), np.float32)).shape == (1, 7)
    assert not marker.exists()

    # the file is real: trusting the function, as the old "sklearn." prefix did, runs its code
    sio.load(evil, trusted=[RUNS_PYTHON])
    assert marker.exists()


def test_the_voice_allow_list_is_exactly_the_shipped_models_classes():
    """The shipped file names the classes by their path before the split (emotion.voice.model); new files by theirs."""
    import skops.io as sio

    shipped = set(sio.get_untrusted_types(file=default_model_path()))
    sidecar = json.loads(default_model_path().with_suffix(".json").read_text())
    assert shipped == set(sidecar["trusted_types"])
    moved = {n.replace("emotion.voice.model.", "emotion.voice.classifier.") for n in shipped}
    assert TRUSTED_TYPES == shipped | moved and moved != shipped
    for name in TRUSTED_TYPES:
        module, attr = name.rsplit(".", 1)
        assert inspect.isclass(getattr(importlib.import_module(module), attr)), f"{name} is not a class"


def test_a_version_retrained_with_smote_is_refused_with_a_note_and_the_shipped_model_serves(tmp_path):
    """Versions retrained before SMOTE left the pipeline name imbalanced-learn's types: refused, never a traceback."""
    import skops.io as sio
    import soundfile as sf

    from emotion.voice.classifier import VoiceEmotionClassifier
    from emotion.voice.process import process_signal
    from training.voice_study import StudyClassifier

    rng = np.random.default_rng(0)
    X = rng.normal(size=(70, 40)).astype(np.float32)
    y = np.repeat(["angry", "disgust", "fearful", "happy", "neutral", "sad", "surprised"], 10)
    old = StudyClassifier(smote=True, k=20, cv=2, feature_sets=("compare",)).fit(X, y)
    registry = Registry("voice")
    version = registry.add(lambda p: sio.dump(old, p), {}, {}, ".skops", promote=True)  # as the old app saved it
    saved = registry.folder / f"{version}.skops"
    assert "imblearn.over_sampling._smote.base.SMOTE" in sio.get_untrusted_types(file=saved)
    model, serving, note = load_active_voice_model()
    assert serving == BASE and version in (note or "") and "SMOTE" in (note or "") and "allow-list" in (note or "")
    assert type(model) is VoiceEmotionClassifier
    assert model.predict(np.zeros((1, model.model_.n_features_in_), np.float32)).shape == (1,)

    clip = sorted((ravdess_dir() / "Actor_24").glob("03-01-05-*.flac"))[0]  # through the analysis, as the app runs
    x, sr = sf.read(clip, dtype="float32")
    result = process_signal(x, sr, source=load_active_voice_model)
    assert result.model_version == BASE and "SMOTE" in (result.note or "")
    assert result.summary["n_speech_segments"] >= 1


def test_a_damaged_voice_file_or_sidecar_is_refused_with_a_message(tmp_path):
    garbage = tmp_path / "garbage.skops"
    garbage.write_bytes(os.urandom(4000))
    with pytest.raises(ModelError, match="not a readable skops file"):
        load_voice_model(garbage, sha256=sha256(garbage))
    copy = tmp_path / "voice_svm.skops"
    shutil.copy(default_model_path(), copy)
    for sidecar, message in (({"format": "skops"}, "records no sha256"), ("[1,", "not a JSON object")):
        copy.with_suffix(".json").write_text(sidecar if isinstance(sidecar, str) else json.dumps(sidecar))
        with pytest.raises(ModelError, match=message):
            load_voice_model(copy)


# ----------------------------------------------------------------------------------------------------------------
# Face models: the sidecar and the ONNX graph are checked on load


def onnx_copy(folder: Path, name: str, onnx: bytes | None = None, **changes) -> str:
    """Write ``name``.onnx (the shipped default, or ``onnx``) and a sidecar with its true checksum and ``changes``."""
    (folder / f"{name}.onnx").write_bytes(onnx or (models_dir() / "fer_mini_xception.onnx").read_bytes())
    meta = json.loads((models_dir() / "fer_mini_xception.json").read_text())
    meta.update({"sha256": sha256(folder / f"{name}.onnx"), **changes})
    (folder / f"{name}.json").write_text(json.dumps({k: v for k, v in meta.items() if v is not None}))
    return name


@pytest.mark.parametrize(
    ("onnx", "changes", "message"),
    [
        (b"\x08\x07garbage" * 500, {}, "is not a valid ONNX model"),
        (None, {"sha256": None}, "records no sha256 checksum"),
        (None, {"input_size": "64"}, "input_size '64' is not a whole number"),
        (None, {"input_size": 48}, "does not map a 48x48 gray face to 7 scores"),
        (None, {"scale": "raw", "margin": -1}, "scale 'raw' is not one of minus1to1, zero1; margin -1"),
        (None, {"labels": ["happy"] * 7}, "labels"),
    ],
    ids=["garbage", "no-sha256", "size-text", "size-mismatch", "scale-margin", "labels"],
)
def test_a_lying_face_model_or_sidecar_is_refused_with_a_message(tmp_path, onnx, changes, message):
    name = onnx_copy(tmp_path, "fake", onnx, **changes)
    with pytest.raises(ModelUnavailable, match=message) as err:
        OnnxFaceModel(name, tmp_path)
    assert "\n" not in str(err.value)
    assert OnnxFaceModel(onnx_copy(tmp_path, "good"), tmp_path).predict_proba([np.zeros((64, 64), np.uint8)]).shape


def test_an_absurd_input_size_is_refused_before_any_memory_is_spent(tmp_path):
    """It once reached a 37 GiB MemoryError; now the sidecar is refused, in a child with 3 GiB of address space."""
    name = onnx_copy(tmp_path, "huge", input_size=100_000)
    code = f"""
import resource
resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))
import numpy as np
from pathlib import Path
from emotion.errors import ModelUnavailable
from emotion.face.model import OnnxFaceModel
try:
    model = OnnxFaceModel({name!r}, Path({str(tmp_path)!r}))
except ModelUnavailable as exc:
    print("refused:", exc)
else:
    model.predict_proba([np.zeros((48, 48), np.uint8)])
    print("loaded and ran")
print("peak MiB", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)
"""
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    print(proc.stdout, proc.stderr[-2000:])
    assert proc.returncode == 0 and "refused:" in proc.stdout and "input_size 100000" in proc.stdout


def test_a_damaged_face_adapter_is_a_model_error(tmp_path):
    path = tmp_path / "adapter.json"
    for text in ("{", json.dumps({"alpha": 1, "W": [[1e400] * 7] * 7, "b": [0] * 7}), json.dumps({"W": 1})):
        path.write_text(text)
        with pytest.raises(ModelError, match="is not a face adapter"):
            FaceAdapter.load(path)


# ----------------------------------------------------------------------------------------------------------------
# Retrains: work files, progress, and what starts one


def voice_store(models) -> LearningStore:
    """Six corrected voice clips, enough for a voice retrain to start fitting."""
    from emotion.analysis.pipeline import analyze_file
    from emotion.settings import Settings

    store = LearningStore()
    collector = Collector("clip")
    for clip in sorted(need(ravdess_dir() / "Actor_01").glob("03-01-*.flac"))[:6]:
        analyze_file(clip, Settings(segment_seconds=10.0), models, collector=collector)
    collector.save(store, "test:work")
    store.correct(dict.fromkeys([r["id"] for r in store.rows()], "angry"))
    return store


def wait_for_work_folder(deadline: float = 120) -> Path:
    end = time.time() + deadline
    while not list(work_root().glob("voice_fit_*")):
        assert time.time() < end, learning.status("voice")
        time.sleep(0.2)
    return next(work_root().glob("voice_fit_*"))


@pytest.mark.slow
def test_a_stopped_or_killed_voice_retrain_leaves_no_work_files(private_data_dir, models):
    system_tmp = set(Path(tempfile.gettempdir()).glob("voice_fit_*"))
    voice_store(models)
    assert learning.start("voice")
    folder = wait_for_work_folder()
    assert folder.parent == private_data_dir / "work" and oct(folder.stat().st_mode)[-3:] == "700"
    assert learning.stop("voice")  # SIGTERM: the fit is cancelled and its finally removes the folder
    assert not folder.exists()
    assert learning.status("voice")["state"] == "interrupted"
    log, end = private_data_dir / "retrain" / "voice.log", time.time() + 20
    while "not retrained" not in log.read_text():  # the CLI child says so and exits, without a traceback
        assert time.time() < end, log.read_text()[-2000:]
        time.sleep(0.2)
    assert "the retrain was stopped" in log.read_text() and "Traceback" not in log.read_text()

    assert learning.start("voice")
    folder = wait_for_work_folder()
    os.kill(learning.status("voice")["pid"], signal.SIGKILL)  # nothing runs after this: the folder stays
    end = time.time() + 30
    while learning.running("voice"):
        assert time.time() < end
        time.sleep(0.2)
    assert folder.exists()
    assert sweep_work() == 1 and not folder.exists()  # what the next retrain does first
    assert set(Path(tempfile.gettempdir()).glob("voice_fit_*")) == system_tmp
    assert Registry("voice").versions() == []


@pytest.mark.slow
def test_extracting_the_ravdess_features_reports_its_progress(tmp_path, monkeypatch):
    """Extraction runs from a process that already decodes with PyAV's threads and runs a Dask client's threads.

    Issue 23: the fork-based pool once deadlocked here in CI, its children freeing an FFmpeg filter graph inherited
    from the threaded parent. The pool must be spawned: conftest's guard fails any fork made while threads run.
    """
    import av
    from distributed import Client

    clips = sorted(need(ravdess_dir() / "Actor_01").glob("03-01-*.flac"))[:17]
    (tmp_path / "ravdess" / "Actor_01").mkdir(parents=True)
    for clip in clips:
        os.symlink(clip, tmp_path / "ravdess" / "Actor_01" / clip.name)
    monkeypatch.setenv("EMOTION_CACHE_DIR", str(tmp_path / "cache"))
    calls: list[tuple[int, int]] = []
    with av.open(str(need(DATA / "media" / "single_face.mp4"))) as video, Client(
        processes=False, n_workers=1, threads_per_worker=2, dashboard_address=None
    ) as client:
        stream = video.streams.video[0]
        stream.thread_type = "AUTO"
        graph = av.filter.Graph()  # a live filter graph, as the analysis keeps while it decodes
        graph.link_nodes(graph.add_buffer(template=stream), graph.add("scale", "64:48"), graph.add("buffersink"))
        graph.configure()
        frames = [f for _, f in zip(range(8), video.decode(stream))]
        assert frames and client.submit(sum, [1, 2]).result(timeout=60) == 3
        assert len(os.listdir("/proc/self/task")) > 2  # decoder, Dask and event-loop threads are running
        out = corpora.load_features(tmp_path / "ravdess", progress=lambda done, total: calls.append((done, total)))
    assert calls == [(16, 17), (17, 17)] and out["X"].shape[0] == 17
    calls.clear()
    corpora.load_features(tmp_path / "ravdess", progress=lambda done, total: calls.append((done, total)))
    assert calls == []  # cached: nothing to extract


def fer_faces(n: int, seed: int) -> tuple[list[np.ndarray], np.ndarray]:
    data = np.load(need(DATA / "fer2013" / "train.npz"))
    idx = np.random.default_rng(seed).choice(len(data["labels"]), n, replace=False)
    return [cv2.cvtColor(im, cv2.COLOR_GRAY2BGR) for im in data["images"][idx]], data["labels"][idx]


def test_collected_guesses_never_start_a_retrain(models):
    faces, _ = fer_faces(12, seed=3)
    store = LearningStore(auto_threshold=0.0)  # every prediction is kept as a (collected) label
    collector = Collector("fer.png")
    for i, (face, p) in enumerate(zip(faces, models.face.predict_proba(faces))):
        collector.face(face, [0, 0, 48, 48], face, p, float(i), 0)
    collector.save(store, "test:auto")
    assert store.count("face", human_only=False) == 12
    assert learning.new_labels("face", store) == 0 and learning.maybe_start(store, every=1) == []
    ids = [r["id"] for r in store.rows()]
    store.correct({i: "happy" for i in ids[:3]})  # human labels, but fewer than the face adapter needs
    assert learning.new_labels("face", store) == 3 and learning.maybe_start(store, every=1) == []
    assert learning.status("face")["state"] == "idle"
