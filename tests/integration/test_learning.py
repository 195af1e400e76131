"""The learning loop on real data: collect, correct, retrain in the background, gate, version, roll back, forget.

The voice tests need the RAVDESS features of the base model; a fresh machine extracts them once (about 2.5 min on
2 cores) into the feature cache, as a first retrain would.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
import soundfile as sf

from emotion import privacy
from emotion.analysis.pipeline import Models, analyze_file
from emotion.errors import ModelError
from emotion.labels import FACE_LABELS, VOICE_LABELS
from emotion.learning import jobs as learning
from emotion.learning.active import load_active_voice_model
from emotion.learning.collect import CROP_SIDE, Collector
from emotion.learning.retrain import _face_label
from emotion.settings import Settings, ravdess_dir
from emotion.storage.history import History
from emotion.storage.learning_store import LearningStore
from emotion.storage.versions import BASE, Registry
from emotion.voice import corpora as ravdess
from tests.conftest import DATA, ROOT, need

pytestmark = [pytest.mark.needs_data]

ONE_WINDOW = Settings(segment_seconds=10.0)
"""One voice window per RAVDESS clip, as in training."""


@pytest.fixture()
def data_dir(tmp_path, monkeypatch) -> Path:
    """A private data dir (store, registry, retrain jobs) for one test; child processes inherit it."""
    monkeypatch.setenv("EMOTION_DATA_DIR", str(tmp_path / "data"))
    return tmp_path / "data"


@pytest.fixture(scope="session")
def base_features() -> dict:
    """The cached RAVDESS features, and TESS's for the retrain's multi-corpus base (each extracted on first use)."""
    need(ravdess_dir())
    if ravdess.tess_dir().is_dir():
        ravdess.load_features(corpus="tess")
    return ravdess.load_features()


def actor_clips(actor: int) -> list[Path]:
    return sorted(need(ravdess_dir() / f"Actor_{actor:02d}").glob("03-01-*.flac"))


def truth(clip: Path) -> str:
    return ravdess.parse_name(clip)[0]


def clip_accuracy(clips: list[Path], models: Models) -> float:
    """Accuracy of the serving voice model on whole clips, through the public analysis API.

    Each clip is one window; its label (the model's own vote) counts, sure or not, against the 7 classes the model
    reads ("calm" is "neutral").
    """
    results = [analyze_file(c, ONE_WINDOW, models) for c in clips]
    tops = [next((s.emotion for s in r.audio.segments if s.speech), None) for r in results]
    return float(np.mean([top == ravdess.seven([truth(c)])[0] for top, c in zip(tops, clips)]))


def test_collector_keeps_faces_and_voice_and_forgetting_leaves_no_trace(data_dir, media, models):
    clip = actor_clips(ravdess.HELD_OUT_ACTOR)[0]
    history, store = History(), LearningStore(auto_threshold=0.0)  # keep every prediction as a label
    ids = []
    for path in (media / "multi_face.jpg", clip):
        collector = Collector(path.name)
        result = analyze_file(path, ONE_WINDOW, models, collector=collector)
        assert not result.error
        entry = history.add(result)
        assert collector.save(store, f"history:{entry}") > 0
        ids.append(entry)
    faces, voices = store.rows(modality="face"), store.rows(modality="voice")
    image_faces = [f for fr in analyze_file(media / "multi_face.jpg", Settings(), models).frames for f in fr.faces]
    assert len(faces) == len(image_faces) >= 2 and len(voices) == 1
    crop = cv2.imdecode(np.frombuffer(store.media(faces[0]["id"]), np.uint8), cv2.IMREAD_COLOR)
    assert crop is not None and max(crop.shape[:2]) <= CROP_SIDE
    wav, sr = sf.read(__import__("io").BytesIO(store.media(voices[0]["id"])))
    assert sr == 16000 and 2.0 < len(wav) / sr <= 10.0
    data = store.labelled("face", auto_weight=1.0)
    assert all(abs(x.sum() - 1) < 1e-3 for x in data["X"])  # the base model's 7 probabilities
    assert voices[0]["file"] == clip.name and voices[0]["predicted"] in VOICE_LABELS

    marker = clip.name.encode()
    assert privacy.forget_analysis(ids[1], history, store) == 1
    assert store.rows(modality="voice") == [] and store.files() == ["multi_face.jpg"]
    for db in data_dir.glob("*.sqlite*"):  # the file name, its audio and features: overwritten, not unlinked
        assert marker not in db.read_bytes(), db.name
    counts = privacy.delete_all(history, store)
    assert counts["analyses"] == 1 and counts["items"] == len(faces)
    assert len(history) == 0 and store.rows() == []
    for db in data_dir.glob("*.sqlite*"):
        assert b"multi_face.jpg" not in db.read_bytes(), db.name


def test_collector_keeps_at_most_its_limit_per_file(media, models):
    collector = Collector("multi_face.jpg", limit=2)
    result = analyze_file(media / "multi_face.jpg", Settings(), models, collector=collector)
    assert result.summary["faces"] == 5
    assert len(collector.items) == 2 and collector.skipped == {"face": 3, "voice": 0}


@pytest.mark.slow
def test_corrections_of_a_held_out_actor_improve_its_other_clips(data_dir, base_features, models):
    """Correct the first take of each of actor 24's sentences; the second takes are then recognised better."""
    clips = actor_clips(ravdess.HELD_OUT_ACTOR)
    first = [c for c in clips if c.stem.split("-")[5] == "01"]
    second = [c for c in clips if c.stem.split("-")[5] == "02"]
    assert len(first) == len(second) == 30
    before = clip_accuracy(second, models)

    store = LearningStore(auto_threshold=1.01)  # only human labels here
    for clip in first:
        collector = Collector(clip.name)
        analyze_file(clip, ONE_WINDOW, models, collector=collector)
        collector.save(store, f"test:{clip.name}")
    rows = store.rows(modality="voice", limit=100)
    assert len(rows) == 30
    store.correct({r["id"]: truth(Path(r["file"])) for r in rows})

    t0 = time.perf_counter()
    out = learning.retrain("voice", store)
    seconds = time.perf_counter() - t0
    after = clip_accuracy(second, models)
    print(f"actor {ravdess.HELD_OUT_ACTOR} second takes: {before:.3f} -> {after:.3f}; retrain {seconds:.0f} s; {out}")
    assert out["promoted"] and Registry("voice").active() == out["version"]
    assert out["data"]["human"] + out["data"]["held_out_items"] == 30
    assert after > before, f"accuracy on the other clips did not improve: {before:.3f} -> {after:.3f}"
    assert learning.status("voice")["state"] == "done"
    Registry("voice").rollback(BASE)
    assert clip_accuracy(second, models) == before


@pytest.mark.slow
def test_killing_a_retrain_keeps_the_old_model_and_every_correction(data_dir, base_features, models):
    store = LearningStore()
    collector = Collector("clip")
    for clip in actor_clips(1)[:6]:
        analyze_file(clip, ONE_WINDOW, models, collector=collector)
    collector.save(store, "test:kill")
    ids = [r["id"] for r in store.rows()]
    store.correct(dict.fromkeys(ids, "angry"))
    labelled = store.labelled("voice")

    assert learning.start("voice")
    assert not learning.start("voice")  # one at a time
    deadline = time.time() + 120
    while not learning.status("voice").get("stage", "").startswith("fitting"):
        assert time.time() < deadline, learning.status("voice")
        time.sleep(0.5)
    os.kill(learning.status("voice")["pid"], signal.SIGKILL)
    deadline = time.time() + 30
    while learning.running("voice"):
        assert time.time() < deadline
        time.sleep(0.2)
    time.sleep(16)  # past the just-started grace
    assert learning.status("voice")["state"] == "interrupted"
    assert Registry("voice").active() == BASE and Registry("voice").versions() == []
    assert not list((data_dir / "models").glob("**/*.skops"))
    again = store.labelled("voice")
    assert again["ids"] == labelled["ids"] and list(again["y"]) == ["angry"] * len(ids)
    model, _, note = load_active_voice_model()
    assert note is None and model is not None


@pytest.mark.slow
def test_a_corrupt_voice_version_falls_back_with_a_message(data_dir, models):
    from emotion.voice.persistence import dump_voice_model, load_voice_model

    registry = Registry("voice")
    good = registry.add(lambda p: dump_voice_model(load_voice_model(), p), {"score": 0.7}, {}, ".skops", True)
    bad = registry.add(lambda p: dump_voice_model(load_voice_model(), p), {"score": 0.8}, {}, ".skops", True)
    (registry.folder / f"{bad}.skops").write_bytes(b"garbage")
    model, _, note = load_active_voice_model()
    assert note and bad in note and "earlier good version" in note
    clip = actor_clips(ravdess.HELD_OUT_ACTOR)[0]
    result = analyze_file(clip, ONE_WINDOW, models)
    assert result.audio.segments[0].speech and bad in (result.audio.note or "")
    (registry.folder / f"{good}.skops").unlink()
    model, _, note = load_active_voice_model()
    assert note and model is not None  # down to the shipped model
    with pytest.raises(ModelError):
        load_voice_model(registry.folder / f"{bad}.skops", sha256="0" * 64)


def fer_faces(n: int, seed: int) -> tuple[list[np.ndarray], list[str]]:
    data = np.load(need(DATA / "fer2013" / "train.npz"))
    names = [_face_label(str(x).lower()) for x in data["label_names"]]
    idx = np.random.default_rng(seed).choice(len(data["labels"]), n, replace=False)
    return [cv2.cvtColor(im, cv2.COLOR_GRAY2BGR) for im in data["images"][idx]], [names[i] for i in data["labels"][idx]]


@pytest.mark.slow
def test_face_adapter_retrains_from_corrections_is_gated_and_rolls_back(data_dir, models):
    faces, labels = fer_faces(240, seed=11)
    store = LearningStore(auto_threshold=1.01)
    collector = Collector("fer.png")
    probs = models.face.predict_proba(faces)
    for i, (face, p) in enumerate(zip(faces, probs)):
        collector.face(face, [0, 0, 48, 48], face, p, float(i), 0)
    collector.save(store, "test:fer")
    ids = [r["id"] for r in sorted(store.rows(limit=1000), key=lambda r: r["start"])]
    store.correct(dict(zip(ids, labels)))

    out = learning.retrain("face", store)
    metrics = out["metrics"]
    print(out["message"], metrics, out["seconds"])
    assert set(metrics["candidate"]) == {"reference_faces", "held_out_corrections"}
    assert metrics["candidate"]["held_out_corrections"] is not None and metrics["current_version"] == BASE
    registry = Registry("face")
    assert registry.active() == (out["version"] if out["promoted"] else BASE)
    card = (registry.folder / f"{out['version']}.md").read_text()
    assert "held out corrections" in card and f"| reference faces | 700 | {metrics['score']} |" in card
    assert out["promoted"] == (not any(part["worse"] for part in metrics["gate"].values()))
    if out["promoted"]:
        adapted = Models.load(Settings()).face
        assert adapted.name.endswith(out["version"]) and adapted.predict_proba(faces[:3]).shape == (3, len(FACE_LABELS))
    registry.rollback(BASE)
    assert not hasattr(Models.load(Settings()).face, "adapter")


@pytest.mark.slow
def test_cli_keeps_items_only_when_asked(data_dir, media, tmp_path):
    image = str(media / "multi_face.jpg")
    run = [sys.executable, "-m", "emotion", "analyze", image, "--quiet", "--out", str(tmp_path / "r.json")]
    assert subprocess.run(run, cwd=ROOT, capture_output=True).returncode == 0
    assert LearningStore().rows() == []
    proc = subprocess.run([*run, "--keep"], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0 and "kept 5 faces and voice segments for learning" in proc.stderr
    assert len(LearningStore().rows(modality="face")) == 5


@pytest.mark.slow
def test_cli_retrain_and_models_list(data_dir):
    proc = subprocess.run(
        [sys.executable, "-m", "emotion", "retrain", "--modality", "face"], cwd=ROOT, capture_output=True, text=True
    )
    assert proc.returncode == 1 and "needs at least 5 corrected faces" in proc.stderr
    assert "Traceback" not in proc.stderr
    listing = subprocess.run([sys.executable, "-m", "emotion", "models", "list"], cwd=ROOT, capture_output=True,
                             text=True)
    assert listing.returncode == 0 and "* base" in listing.stdout


@pytest.mark.slow
def test_enough_new_labels_start_a_background_retrain(data_dir, models):
    faces, labels = fer_faces(40, seed=5)
    store = LearningStore(auto_threshold=1.01)
    collector = Collector("fer.png")
    for i, (face, p) in enumerate(zip(faces, models.face.predict_proba(faces))):
        collector.face(face, [0, 0, 48, 48], face, p, float(i), 0)
    collector.save(store, "test:auto")
    assert learning.maybe_start(store, every=50) == []  # 0 labels so far
    store.correct(dict(zip([r["id"] for r in store.rows()], labels)))
    assert learning.new_labels("face", store) == 40
    assert learning.maybe_start(store, every=0) == []  # 0 turns it off
    assert learning.maybe_start(store, every=30) == ["face"]  # the voice has no new labels
    deadline = time.time() + 120
    while learning.status("face")["state"] == "running":
        assert time.time() < deadline
        time.sleep(0.5)
    info = learning.status("face")
    assert info["state"] == "done", info
    assert info["result"]["version"] in Registry("face").names()
    assert learning.new_labels("face", store) == 0
