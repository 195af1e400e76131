"""Batch analysis on a real local Dask cluster with worker processes: saved here, nothing lost when a worker dies."""

from __future__ import annotations

import os
import signal
import threading

import pytest

from emotion.analysis import cluster
from emotion.analysis.batch import Source
from emotion.settings import Settings
from emotion.storage.history import History
from emotion.storage.learning_store import LearningStore
from tests.conftest import MEDIA, need

pytestmark = [pytest.mark.needs_data, pytest.mark.slow]


@pytest.fixture(scope="module")
def client():
    client = cluster.connect(workers=2)
    yield client
    client.close()
    client.cluster.close()


def test_cluster_results_equal_local_ones_and_are_saved_here(client, private_data_dir):
    from emotion import analyze

    files = [need(MEDIA / n) for n in ("multi_face.jpg", "single_face.mp4", "no_face.mp4")]
    bad = private_data_dir / "notes.mp4"
    bad.write_text("not a video")
    got = {a.key: a for a in cluster.run([Source.file(f) for f in [*files, bad]], Settings(collect=True), client)}
    assert set(got) == {str(f) for f in [*files, bad]}
    assert "not a readable video" in got[str(bad)].result.error
    for f in files:
        remote, local = got[str(f)].result, analyze(f, Settings(collect=True))
        assert remote.to_dict() == local.to_dict(), f.name
    saved = {e.file for e in History().list()}
    assert saved == {f.name for f in files}  # saved by this process, as results arrived; a failed file is not
    assert {r["file"] for r in LearningStore().rows(modality="face")} == {"multi_face.jpg", "single_face.mp4"}


def test_a_worker_killed_mid_batch_loses_no_file(client, tmp_path):
    from tests import media_tools as mt

    video = need(MEDIA / "single_face.mp4")
    files = [mt.transcode(video, tmp_path / f"clip{i}.mp4", "libx264", seconds=2.0) for i in range(8)]
    first_done = threading.Event()

    pids = client.run(os.getpid)  # worker address -> its process

    def kill_one() -> None:
        first_done.wait(120)
        busy = [w for w, keys in client.processing().items() if keys]
        os.kill(pids[busy[0]], signal.SIGKILL)  # the nanny starts a new worker; its tasks go elsewhere

    killer = threading.Thread(target=kill_one)
    killer.start()
    results = []
    for analysis in cluster.run([Source.file(f) for f in files], Settings(save=False), client, retries=2):
        results.append(analysis)
        first_done.set()
    killer.join()
    assert sorted(a.key for a in results) == sorted(str(f) for f in files)  # every file came back
    assert all(not a.result.error for a in results), [a.result.error for a in results]
    assert all(a.result.summary["faces"] > 0 for a in results)
    retried = [a for a in results if any("a worker failed or was lost" in m for m in a.messages)]
    assert retried, "the killed worker's file should have been analysed again elsewhere"
