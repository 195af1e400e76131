"""The one model cache: after a promotion or a rollback, the next analysis in the app, the REST service, a Dask
worker and the live page runs, and names in its record, the version that is active now.

The learned version is a real face adapter stored through the version registry: fitted on the shipped model's
outputs on FER2013 faces for an analyst who sees only sadness, so that it visibly moves a happy face towards "sad".
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from emotion.analysis.models import ModelCache
from emotion.analysis.pipeline import Models, analyze_file
from emotion.settings import Settings
from emotion.storage.versions import BASE, Registry
from tests.conftest import DATA, need
from tests.e2e import test_app

pytestmark = [pytest.mark.needs_data]

FACE = "0-f15-hao-ph.jpg"
"""One happy face."""


def promote_sad(models: Models) -> str:
    """Store and promote a learned face version that reads every face as sadder; return its name."""
    from emotion.face.adapter import FaceAdapter, log_probs

    data = np.load(need(DATA / "fer2013" / "train.npz"))
    idx = np.random.default_rng(0).choice(len(data["labels"]), 60, replace=False)
    probs = models.face.base.predict_proba(list(data["images"][idx]))
    adapter = FaceAdapter(alpha=0.01).fit(log_probs(probs), np.full(len(idx), "sad"))
    return Registry("face").add(adapter.save, {"accuracy": 0.5}, {}, ".json", promote=True)


def reading(record: dict[str, Any]) -> tuple[str, float]:
    """The face model version a record names and the "sad" score of its first face."""
    return record["produced_by"]["face_model_version"], record["frames"][0]["faces"][0]["scores"]["sad"]


@pytest.fixture
def base_sad(media: Path, models: Models) -> float:
    """The shipped model's "sad" score for the happy face."""
    version, sad = reading(analyze_file(media / FACE, Settings(audio=False), models).to_dict())
    assert version == BASE and sad < 0.2
    return sad


def check(before: tuple[str, float], promoted: tuple[str, float], after: tuple[str, float], version: str,
          base_sad: float, tol: float = 1e-6) -> None:
    """Base before the promotion, the promoted version after it, base again after the rollback.

    ``tol`` is how far the base model's "sad" score may be from the file analysis's (the live page reads the face
    at its own size).
    """
    assert before == (BASE, pytest.approx(base_sad, abs=tol)), before
    assert promoted[0] == version, f"the analysis after the promotion ran {promoted[0]}, not {version}"
    assert promoted[1] > base_sad + 0.1, promoted  # and the adapter really read the face
    assert after == (BASE, pytest.approx(base_sad, abs=tol)), f"the analysis after the rollback ran {after}"


@pytest.mark.slow
def test_the_cache_follows_the_active_version_loads_once_and_stays_bounded(models):
    loads: list[str] = []
    lock = threading.Lock()

    def load(settings: Settings) -> Models:
        with lock:
            loads.append(settings.detector)
        return Models.load(settings)

    cache = ModelCache(max_entries=2, load=load)
    settings = Settings(audio=False)
    got: list[Models] = []
    threads = [threading.Thread(target=lambda: got.append(cache.get(settings))) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(loads) == 1 and len({id(m) for m in got}) == 1  # eight threads asked at once: one load
    base = got[0]
    assert cache.get(settings) is base and base.face.version == BASE

    version = promote_sad(models)
    promoted = cache.get(settings)
    assert promoted is not base and promoted.face.version == version and len(loads) == 2
    Registry("face").rollback(BASE)
    assert cache.get(settings) is base and len(loads) == 2  # the base set is still loaded: no reload

    other = cache.get(Settings(audio=False, detector="haar"))
    assert other.detector.name != base.detector.name and len(cache) == 2  # bounded: the promoted set went
    assert cache.get(settings) is base and len(loads) == 3


@pytest.mark.slow
def test_service_jobs_run_the_active_version(private_data_dir, media, models, base_sad):
    import requests

    from tests.e2e.test_service import Service

    image = media / FACE
    service = Service(private_data_dir)  # python -m emotion serve, on this test's data dir

    def analyse() -> tuple[str, float]:
        answer = requests.post(f"{service.url}/v1/analyses", data={"audio": "false", "save": "false"},
                               files=[("files", (image.name, image.read_bytes(), "image/jpeg"))])
        assert answer.status_code == 202, answer.text
        state = service.wait(answer.json()["id"])
        assert state["status"] == "done", state
        return reading(state["results"][0])

    try:
        before = analyse()
        version = promote_sad(models)
        promoted = analyse()
        Registry("face").rollback(BASE)
        after = analyse()
    finally:
        assert "Traceback" not in service.stop()
    check(before, promoted, after, version, base_sad)


@pytest.mark.slow
def test_cluster_workers_run_the_active_version(media, models, base_sad):
    from emotion.analysis import cluster
    from emotion.analysis.batch import Source

    client = cluster.connect(workers=1)  # a worker process, started with this test's data dir

    def analyse() -> tuple[str, float]:
        (done,) = cluster.run([Source.file(media / FACE)], Settings(audio=False, save=False), client)
        assert not done.result.error, done.result.error
        return reading(done.result.to_dict())

    try:
        before = analyse()
        version = promote_sad(models)
        promoted = analyse()
        Registry("face").rollback(BASE)
        after = analyse()
    finally:
        client.close()
        client.cluster.close()
    check(before, promoted, after, version, base_sad)


at = test_app.at
"""The app on this test's data dir, run by AppTest (the app tests' fixture)."""


@pytest.mark.slow
def test_the_app_analyses_with_the_active_version(at, models, base_sad):
    def analyse() -> tuple[str, float]:
        test_app.upload(at, test_app.media(FACE, "image/jpeg"))
        latest = list(at.session_state["analyses"].values())[-1]
        return reading(latest.result.to_dict())

    at.toggle(key="cfg_audio").set_value(False).run()
    before = analyse()
    version = promote_sad(models)
    promoted = analyse()
    Registry("face").rollback(BASE)
    after = analyse()
    check(before, promoted, after, version, base_sad)


@pytest.mark.slow
def test_the_next_live_session_runs_the_active_version(at, media, models, base_sad):
    import av

    from emotion.app.webrtc import LiveSession
    from emotion.media import read_image

    image = read_image(media / FACE)
    settings = Settings(audio=False, live_voice=False)

    def page() -> LiveSession:
        """Run the Live page; AppTest has no WebRTC runtime, so it stops at the streamer, after the session."""
        at.switch_page("pages/live.py").run()
        assert "_session_mgr" in str(at.exception[0].message), at.exception
        return at.session_state["live_session"]

    def stream(sess: LiveSession) -> tuple[str, float]:
        """Camera frames through the session's own callback until a face is read; the record the page shows."""
        callback = sess.video_callback()
        deadline = time.time() + 60
        while True:
            frame = av.VideoFrame.from_ndarray(image, format="bgr24")
            frame.pts = 0
            callback(frame)
            sess.drain()
            record = sess.result("live", sess.processor.models, settings).to_dict()
            record["frames"] = [f for f in record["frames"] if f["faces"]][-1:]
            if record["frames"]:
                break
            assert time.time() < deadline, "no face was read"
            time.sleep(0.1)
        return reading(record)

    def new_session(sess: LiveSession) -> None:
        """What the page's "New session" button does."""
        sess.close()
        del at.session_state["live_session"]

    at.toggle(key="cfg_live_voice").set_value(False).run()
    first = page()
    before = stream(first)
    new_session(first)
    idle = page()
    version = promote_sad(models)
    second = page()
    assert second is not idle, "a session with nothing to show was kept after the promotion"
    promoted = stream(second)
    Registry("face").rollback(BASE)
    assert page() is second  # a session with frames stays on the page until "New session"
    new_session(second)
    third = page()
    after = stream(third)
    third.close()
    check(before, promoted, after, version, base_sad, tol=0.05)
