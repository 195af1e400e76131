"""Hostile requests to the real service (issue 24): the rate limit holds whatever header a client sends, and an
upload that names another file is refused without opening it."""

from __future__ import annotations

import secrets
import shutil
from pathlib import Path

import pytest
import requests

from tests.conftest import MEDIA, need
from tests.e2e.test_service import Service
from tests.integration.test_indirection import Watch, ffconcat, mpd

pytestmark = [pytest.mark.needs_data, pytest.mark.slow]


@pytest.fixture
def service(private_data_dir):
    svc = Service(private_data_dir)
    yield svc
    assert "Traceback" not in svc.stop()


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def test_random_api_keys_neither_bypass_the_rate_limit_nor_grow_the_server(service):
    session = requests.Session()
    url = f"{service.url}/v1/analyses/nope"
    codes = [session.get(url, headers={"X-API-Key": secrets.token_hex(16)}).status_code for _ in range(101)]
    assert codes[:100] == [404] * 100 and codes[100] == 429, codes
    before = rss_mb(service.proc.pid)
    for _ in range(1500):  # 8 kB keys, each new: before the fix each one was a new client, kept for good
        assert session.get(url, headers={"X-API-Key": secrets.token_hex(4000)}).status_code == 429
    assert rss_mb(service.proc.pid) - before < 8, "the server grew with the keys it was sent"


def test_guessing_the_api_key_is_rate_limited_and_the_key_still_works(private_data_dir):
    svc = Service(private_data_dir, key="s3cret")
    try:
        session = requests.Session()
        url = f"{svc.url}/v1/models"
        codes = [session.get(url, headers={"X-API-Key": f"guess{i}"}).status_code for i in range(101)]
        assert codes[:100] == [401] * 100 and codes[100] == 429, codes
        assert session.get(url, headers={"X-API-Key": "s3cret"}).status_code == 200
    finally:
        assert "Traceback" not in svc.stop()


def test_uploads_that_name_other_files_are_refused_without_opening_them(service, tmp_path):
    source = need(MEDIA / "single_face.mp4")
    secret = tmp_path / "secret.mp4"
    shutil.copy(source, secret)
    files = [
        ("files", ("talk.m4a", mpd(str(secret)).encode(), "audio/mp4")),
        ("files", ("clip.mp4", ffconcat("upload-2.mp4").encode(), "video/mp4")),  # the upload stored beside it
        ("files", ("real.mp4", source.read_bytes(), "video/mp4")),
    ]
    watch = Watch(secret)
    answer = requests.post(f"{service.url}/v1/analyses", files=files, data={"audio": "true"})
    assert answer.status_code == 202, answer.text
    state = service.wait(answer.json()["id"])
    assert not watch.opened(), "the service opened the file a manifest named"
    watch.close()
    assert [f["status"] for f in state["files"]] == ["failed", "failed", "done"], state["files"]
    errors = [f["error"] for f in state["files"][:2]]
    assert errors[0].startswith("cannot read audio: ") and "never a playlist" in errors[1], errors
    assert all("\n" not in e and str(tmp_path) not in e for e in errors), errors
