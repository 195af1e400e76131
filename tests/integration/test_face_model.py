"""The project's own face models (the default ``models/fer_cnn.onnx``, ``fer_distilled``) through the app's loader."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from emotion.face.detect import HaarDetector
from emotion.face.model import DEFAULT_FACE_MODEL, OnnxFaceModel
from emotion.files import sha256
from emotion.labels import FACE_LABELS
from emotion.settings import models_dir
from tests.conftest import DATA, MEDIA, need

pytestmark = [pytest.mark.needs_data]

FER = DATA / "fer2013" / "train.npz"
FER_TEST = DATA / "fer2013" / "test.npz"
OWN_MODELS = ("fer_distilled", "fer_cnn")


@pytest.fixture(scope="module")
def model() -> OnnxFaceModel:
    return OnnxFaceModel(DEFAULT_FACE_MODEL)


@pytest.fixture(scope="module")
def detector() -> HaarDetector:
    return HaarDetector()


def portrait_scores(model: OnnxFaceModel, detector: HaarDetector, name: str) -> dict[str, float]:
    """Scores of the largest face in a photo, cut the way the app cuts it."""
    image = cv2.imread(str(need(MEDIA / name)))
    assert image is not None, name
    boxes = detector.detect(image)
    assert boxes, f"no face found in {name}"
    probs = model.predict_proba([model.crop(image, boxes[0])])[0]
    return dict(zip(FACE_LABELS, probs.tolist()))


def test_the_default_is_the_best_candidate_by_the_mean_over_sources():
    """Issue 25: the default is chosen on the mean macro-F1 over sources (``models/face_sources.json``).

    fer_distilled was the default while FER2013 alone chose it; over FER2013, posed portraits and web photos
    fer_cnn's mean is higher, so it is the default again.
    """
    results = json.loads((models_dir() / "face_sources.json").read_text())["models"]
    means = {name: results[name]["mean_box"] for name in OWN_MODELS}
    assert DEFAULT_FACE_MODEL == max(means, key=means.get) == "fer_cnn"


@pytest.mark.parametrize("name", OWN_MODELS)
def test_sidecar_describes_the_file(name):
    model = OnnxFaceModel(name)
    meta = json.loads((models_dir() / f"{name}.json").read_text())
    assert meta["sha256"] == sha256(models_dir() / f"{name}.onnx")
    assert meta["input_size"] == 48 and meta["scale"] == "zero1"
    assert tuple(meta["labels"]) == FACE_LABELS
    assert 0.0 <= meta["margin"] <= 0.3
    assert model.session.get_inputs()[0].name == "face"
    assert model.session.get_outputs()[0].name == "scores"


def test_scores_are_probabilities_and_mirror_invariant(model):
    rng = np.random.default_rng(0)
    faces = [rng.integers(0, 256, (48, 48), dtype=np.uint8) for _ in range(4)]
    probs = model.predict_proba(faces)
    assert probs.shape == (4, 7)
    assert np.allclose(probs.sum(axis=1), 1, atol=1e-5)
    # the graph averages each face with its mirror image, so a mirrored face scores the same
    mirrored = model.predict_proba([f[:, ::-1].copy() for f in faces])
    assert np.allclose(probs, mirrored, atol=1e-5)
    # a batch gives the same scores as one face at a time
    single = np.concatenate([model.predict_proba([f]) for f in faces])
    assert np.allclose(probs, single, atol=1e-5)


def test_posed_happy_portrait_reads_happy(model, detector):
    scores = portrait_scores(model, detector, "0-f15-hao-ph.jpg")
    assert max(scores, key=scores.get) == "happy"
    assert scores["happy"] > 0.5


def test_posed_surprise_portrait_reads_surprise(model, detector):
    scores = portrait_scores(model, detector, "0-f1-su-ph.jpg")
    assert max(scores, key=scores.get) == "surprise"


def test_posed_anger_portrait_reads_angry(detector):
    # fer_distilled reads this closed-mouth posed anger right on the Haar framing that FER2013's faces have (on
    # BlazeFace's box, 12 px to the side, fear edges ahead: the card's limits say so). The default fer_cnn reads it
    # as sad (next test): a known miss of the default, kept visible rather than tested away.
    model = OnnxFaceModel("fer_distilled")
    anger = portrait_scores(model, detector, "15-f13-anc-ph.jpg")
    happy = portrait_scores(model, detector, "0-f15-hao-ph.jpg")
    surprise = portrait_scores(model, detector, "0-f1-su-ph.jpg")
    assert max(anger, key=anger.get) == "angry"
    assert anger["angry"] > 2 * happy["angry"]
    assert anger["angry"] > 2 * surprise["angry"]
    assert anger["happy"] < 0.1


def test_the_default_reads_the_anger_portrait_as_a_negative_emotion(model, detector):
    """fer_cnn (the default) reads this posed anger as sad, as its card's limits say; it is never read as positive."""
    anger = portrait_scores(model, detector, "15-f13-anc-ph.jpg")
    assert max(anger, key=anger.get) in ("angry", "sad", "fear", "disgust")
    assert anger["angry"] > 0.15 and anger["happy"] < 0.1 and anger["surprise"] < 0.1


@pytest.mark.slow
def test_accuracy_on_500_held_out_faces():
    from sklearn.model_selection import train_test_split

    data = np.load(need(FER))
    labels = data["labels"].astype(np.int64)
    # the hold-out that training/train_face.py never trains on, then a stratified 500 of it
    _, hold = train_test_split(np.arange(len(labels)), test_size=0.1, stratify=labels, random_state=42)
    sample, _ = train_test_split(hold, train_size=500, stratify=labels[hold], random_state=0)
    model = OnnxFaceModel(DEFAULT_FACE_MODEL)
    pred = model.predict_proba(list(data["images"][sample])).argmax(axis=1)
    assert (pred == labels[sample]).mean() > 0.65


@pytest.mark.slow
def test_fer_distilled_reaches_0_70_on_the_test_split():
    """FER2013's test split (6,898 faces no model trained or was selected on), through the app's loader.

    The cards give 0.7051 / macro-F1 0.6896 for fer_distilled and 0.6674 / 0.6220 for fer_cnn; a shipped file that
    drifts from them (a wrong graph, a bad half-precision conversion) fails here.
    """
    from sklearn.metrics import f1_score

    data = np.load(need(FER_TEST))
    faces, truth = list(data["images"]), data["labels"].astype(np.int64)
    scores = {}
    for name in OWN_MODELS:
        pred = OnnxFaceModel(name).predict_proba(faces).argmax(axis=1)
        scores[name] = ((pred == truth).mean(), f1_score(truth, pred, average="macro"))
    assert scores["fer_distilled"][0] >= 0.70
    assert scores["fer_distilled"][0] > scores["fer_cnn"][0] + 0.03
    assert scores["fer_distilled"][1] > scores["fer_cnn"][1] + 0.05


def test_a_model_name_is_never_a_path():
    from emotion.face.detect import ModelUnavailable
    from emotion.face.model import get_face_model

    for name in ("../../tmp/evil", "/etc/passwd", "a/b", "x.onnx"):
        with pytest.raises(ModelUnavailable, match="not a model name"):
            get_face_model(name)


def test_the_mixed_head_reads_the_posed_portraits(detector):
    """``fer_mix`` (issue 25: fer_distilled's network, a head fitted on three sources) reads all three right."""
    model = OnnxFaceModel("fer_mix")
    assert model.meta["backbone"] == "fer_distilled"
    for name, truth in (("0-f15-hao-ph.jpg", "happy"), ("0-f1-su-ph.jpg", "surprise"), ("15-f13-anc-ph.jpg", "angry")):
        scores = portrait_scores(model, detector, name)
        assert max(scores, key=scores.get) == truth, (name, scores)
