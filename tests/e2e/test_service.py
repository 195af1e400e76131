"""The REST service, started for real (uvicorn on a free loopback port) and driven over HTTP."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from tests.conftest import MEDIA, need

pytestmark = [pytest.mark.needs_data, pytest.mark.slow]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Service:
    """``python -m emotion serve`` in a subprocess with its own data dir."""

    def __init__(self, data: Path, *args: str, key: str | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = dict(os.environ, EMOTION_DATA_DIR=str(data))
        env.pop("EMOTION_API_KEY", None)
        if key:
            env["EMOTION_API_KEY"] = key
        cmd = [sys.executable, "-m", "emotion", "serve", "--port", str(self.port), *args]
        self.proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        deadline = time.time() + 60
        while True:
            try:
                requests.get(self.url + "/healthz", timeout=1)
                return
            except requests.ConnectionError:
                assert self.proc.poll() is None, self.proc.stdout.read()
                assert time.time() < deadline, "the service did not start"
                time.sleep(0.2)

    def wait(self, job: str, session: requests.Session | None = None) -> dict:
        for _ in range(600):
            state = (session or requests).get(f"{self.url}/v1/analyses/{job}").json()
            if state["status"] in ("done", "failed", "cancelled"):
                return state
            time.sleep(0.5)
        raise AssertionError(f"job {job} did not finish")

    def stop(self) -> str:
        self.proc.terminate()
        out, _ = self.proc.communicate(timeout=30)
        return out


@pytest.fixture
def service(private_data_dir):
    svc = Service(private_data_dir)
    yield svc
    assert "Traceback" not in svc.stop()


def comparable(record: dict) -> dict:
    """A record without what differs between two runs of the same file (the run time is not in it)."""
    return {k: v for k, v in record.items() if k not in ("settings",)}


def test_upload_job_result_equals_the_cli_record_and_delete_forgets_it(service, tmp_path):
    image = need(MEDIA / "multi_face.jpg")
    bad = ("notes.mp4", b"this is not a video", "video/mp4")
    odd = ("run.sh", b"#!/bin/sh", "text/x-sh")
    files = [("files", (image.name, image.read_bytes(), "image/jpeg")), ("files", bad), ("files", odd)]
    answer = requests.post(f"{service.url}/v1/analyses", files=files, data={"collect": "true"})
    assert answer.status_code == 202, answer.text
    body = answer.json()
    assert body["files"] == ["multi_face.jpg", "notes.mp4"]
    [refused] = body["rejected"]
    assert (refused["file"], refused["status"]) == ("run.sh", 415), refused
    assert refused["error"].startswith("unsupported file type '.sh' (use ") and "mp4" in refused["error"], refused
    state = service.wait(body["id"])
    assert state["status"] == "done" and [f["status"] for f in state["files"]] == ["done", "failed"]
    assert "not a readable video" in state["files"][1]["error"]
    served = state["results"][0]
    out = tmp_path / "cli.json"
    env = dict(os.environ, EMOTION_DATA_DIR=str(tmp_path / "cli-data"))
    subprocess.run([sys.executable, "-m", "emotion", "analyze", str(image), "--quiet", "--out", str(out)],
                   check=True, env=env, capture_output=True)
    assert comparable(json.loads(out.read_text())[0]) == comparable(served)
    entry = state["files"][0]["history_id"]
    assert requests.get(f"{service.url}/v1/analyses/{entry}").json()["results"][0] == served
    listing = requests.get(f"{service.url}/v1/analyses", params={"file": "multi"}).json()
    assert [row["id"] for row in listing] == [entry]
    exported = requests.get(f"{service.url}/v1/analyses/{body['id']}/export.csv")
    assert exported.status_code == 200 and exported.text.startswith("file,kind,modality")
    page = requests.get(f"{service.url}/v1/analyses/{entry}/export.html").text
    assert "multi_face.jpg" in page and "<script" in page
    gone = requests.delete(f"{service.url}/v1/analyses/{body['id']}").json()
    assert gone["deleted"] == [entry] and gone["items"] == 5
    assert requests.get(f"{service.url}/v1/analyses/{entry}").status_code == 404
    from emotion.storage.learning_store import LearningStore

    assert LearningStore().rows() == []


def test_bad_requests_get_one_line_4xx(service):
    image = need(MEDIA / "single_face.jpg").read_bytes()
    post = lambda files, **data: requests.post(f"{service.url}/v1/analyses", files=files, data=data)  # noqa: E731
    cases = {
        415: post([("files", ("x.txt", b"abc", "text/plain"))]),
        400: post([("files", ("empty.jpg", b"", "image/jpeg"))]),
        422: post([("files", ("a.jpg", image, "image/jpeg"))], fps="nan"),
    }
    for status, answer in cases.items():
        assert answer.status_code == status and "\n" not in answer.json()["detail"], answer.text
    assert post([("files", ("a.jpg", image, "image/jpeg"))], min_face="-3").status_code == 422
    assert post([("files", ("a.jpg", image, "image/jpeg"))], bogus="1").json()["detail"] == "unknown setting: bogus"
    assert post([], x="1").status_code == 400
    assert requests.get(f"{service.url}/v1/analyses/nope").status_code == 404
    assert requests.get(f"{service.url}/v1/analyses/1/export.exe").status_code == 404
    assert requests.get(f"{service.url}/docs").status_code == 200


def test_the_101st_request_in_a_minute_gets_429(service):
    codes = [requests.get(f"{service.url}/v1/models").status_code for _ in range(101)]
    assert codes[:100] == [200] * 100 and codes[100] == 429
    assert requests.get(f"{service.url}/healthz").status_code == 200  # liveness is never limited


def test_api_key_is_required_when_set(private_data_dir):
    svc = Service(private_data_dir, key="s3cret")
    try:
        assert requests.get(f"{svc.url}/v1/models").status_code == 401
        assert requests.get(f"{svc.url}/v1/models", headers={"X-API-Key": "s3cret"}).status_code == 200
        assert requests.get(f"{svc.url}/v1/models", headers={"Authorization": "Bearer s3cret"}).status_code == 200
    finally:
        svc.stop()


def test_fifty_concurrent_uploads_finish_and_leave_no_temporary_file(service):
    image = need(MEDIA / "single_face.jpg").read_bytes()
    before = set(Path(tempfile.gettempdir()).glob("emotion-upload-*"))

    def send(i: int) -> int:
        answer = requests.post(f"{service.url}/v1/analyses", files=[("files", (f"face{i}.jpg", image, "image/jpeg"))])
        assert answer.status_code == 202, answer.text
        return answer.status_code

    with ThreadPoolExecutor(16) as pool:
        assert list(pool.map(send, range(50))) == [202] * 50
    deadline = time.time() + 300
    while len(requests.get(f"{service.url}/v1/analyses", params={"limit": 100}).json()) < 50:
        assert time.time() < deadline
        time.sleep(2)
    assert requests.get(f"{service.url}/healthz").json()["jobs_waiting"] == 0
    time.sleep(0.5)  # the last job removes its folder right after saving
    assert set(Path(tempfile.gettempdir()).glob("emotion-upload-*")) <= before
