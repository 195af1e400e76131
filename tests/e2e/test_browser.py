"""End-to-end: the real app in headless Chromium (system /usr/bin/chromium driven by Python Playwright).

Uploads a real video on the Analyse page, waits for the results and checks the timeline chart and the
download buttons. A screenshot is kept in the test's tmp dir (pytest keeps the last runs' folders).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.app_support import MEDIA, ROOT, voice_error
from tests.browser_tools import RERUN_MS, select_cell, settle

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.needs_data]

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def app_url(tmp_path_factory):
    """Start the app on a free port with a private data dir; yield its URL; stop it."""
    if not CHROMIUM.exists():
        pytest.skip("headless browser test needs /usr/bin/chromium (apt-get install -y chromium)")
    pytest.importorskip("playwright.sync_api", reason="needs Python Playwright (pip install playwright)")
    port = _free_port()
    env = dict(os.environ, EMOTION_DATA_DIR=str(tmp_path_factory.mktemp("data")))
    log = open(tmp_path_factory.mktemp("log") / "streamlit.log", "w")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            "streamlit_app.py",
            "--server.headless=true",
            f"--server.port={port}",
            "--server.address=127.0.0.1",
            "--browser.gatherUsageStats=false",
            "--server.fileWatcherType=none",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 60
        while True:
            try:
                if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read() == b"ok":
                    break
            except OSError:
                pass
            if time.time() > deadline or proc.poll() is not None:
                pytest.fail(f"streamlit did not start: {Path(log.name).read_text()[-2000:]}")
            time.sleep(0.3)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def test_upload_video_in_browser(app_url, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    video = MEDIA / "WolfgangLanger_Pexels.mp4"
    if not video.exists():
        pytest.skip(f"shared test data not found: {video}")
    assert voice_error() is None, voice_error()  # the voice is analysed too: a broken voice path fails here
    shot = tmp_path / "app_screenshot.png"
    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(tmp_path / "profile"),
            executable_path=str(CHROMIUM),
            headless=True,
            args=FLAGS,
            viewport={"width": 1400, "height": 2400},
        )
        try:
            page = context.new_page()
            page.goto(app_url, wait_until="domcontentloaded")
            expect(page.get_by_role("heading", name="Analyse")).to_be_visible(timeout=30_000)
            page.locator('[data-testid="stFileUploader"] input[type="file"]').set_input_files(str(video))
            start = page.get_by_role("button", name="Analyse 1 file")
            expect(start).to_be_enabled(timeout=15_000)
            start.click()

            charts = page.locator('[data-testid="stPlotlyChart"]')
            errors = page.locator('[data-testid="stAlertContentError"]')
            expect(charts.or_(errors).first).to_be_visible(timeout=120_000)
            assert errors.count() == 0, errors.first.inner_text()
            expect(page.get_by_text("Timeline", exact=False).first).to_be_visible()
            downloads = page.locator('[data-testid="stDownloadButton"]')
            expect(downloads.filter(has_text="JSON")).to_be_visible(timeout=30_000)
            expect(downloads.filter(has_text="CSV")).to_be_visible()
            expect(downloads.filter(has_text="Annotated video")).to_be_visible()
            expect(page.locator('[data-testid="stMetric"]').filter(has_text="Dominant emotion")).to_be_visible()
            assert charts.count() >= 2  # timeline and distribution
            assert page.locator('[data-testid="stException"]').count() == 0
            page.wait_for_timeout(1500)  # let plotly finish drawing before the screenshot
            page.screenshot(path=str(shot), full_page=True)
        finally:
            context.close()
    assert shot.stat().st_size > 10_000


CORRECT, DISCARD = 6, 9
"""The Review grid's columns: id, face, file, at (s), predicted, confidence, correct, label, source, discard."""


def test_review_page_in_browser(app_url, tmp_path):
    """Analyse an image, then confirm one face on the Review page in the real browser and save it."""
    from playwright.sync_api import expect, sync_playwright

    image = MEDIA / "multi_face.jpg"
    if not image.exists():
        pytest.skip(f"shared test data not found: {image}")
    shot = tmp_path / "review_screenshot.png"
    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(tmp_path / "profile"), executable_path=str(CHROMIUM), headless=True, args=FLAGS,
            viewport={"width": 1400, "height": 2000},
        )
        try:
            page = context.new_page()
            page.goto(app_url, wait_until="domcontentloaded")
            expect(page.get_by_role("heading", name="Analyse")).to_be_visible(timeout=30_000)
            page.locator('[data-testid="stFileUploader"] input[type="file"]').set_input_files(str(image))
            start = page.get_by_role("button", name="Analyse 1 file")
            expect(start).to_be_enabled(timeout=15_000)
            start.click()
            expect(page.locator('[data-testid="stMetric"]').filter(has_text="Faces tracked").first).to_be_visible(
                timeout=60_000
            )
            page.get_by_role("link", name="Review & retrain").click()
            expect(page.get_by_role("heading", name="Review & retrain")).to_be_visible(timeout=30_000)
            grid = page.locator('[data-testid="stDataFrame"]').first
            expect(grid).to_be_visible(timeout=30_000)
            save = page.get_by_role("button", name="Save 0 changes")
            expect(save).to_be_disabled()
            kept = page.locator('[data-testid="stMetric"]').filter(has_text="Kept")
            before = int("".join(ch for ch in kept.nth(1).inner_text() if ch.isdigit()))  # other tests share the app
            # the grid is a canvas; its accessible table says which cell is selected, so every step waits for it
            assert [grid.locator("th").nth(i).inner_text() for i in (CORRECT, DISCARD)] == ["correct", "discard"]
            select_cell(page, grid, CORRECT, 0)
            page.keyboard.press("Space")  # confirm the first row's prediction
            expect(page.get_by_role("button", name="Save 1 change")).to_be_enabled(timeout=RERUN_MS)
            select_cell(page, grid, DISCARD, 1)
            page.keyboard.press("Space")  # and discard the second row
            save = page.get_by_role("button", name="Save 2 changes")
            expect(save).to_be_enabled(timeout=RERUN_MS)
            settle(page)
            save.click()
            expect(page.get_by_text("Saved 2 changes")).to_be_visible(timeout=RERUN_MS)
            expect(kept.nth(1)).to_contain_text(str(before - 1))  # one face discarded
            page.screenshot(path=str(shot), full_page=True)
            assert page.locator('[data-testid="stException"]').count() == 0
            expect(page.get_by_role("button", name="Retrain face")).to_be_visible()
        finally:
            context.close()
