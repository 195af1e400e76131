"""Live page end to end, run inside a private network namespace by tests/e2e/test_live_browser.py.

Starts the app, opens the Live page in headless Chromium with a fake camera playing a real face,
presses Start, waits for the rolling tracker to show an emotion, saves a screenshot and prints a
JSON line with what it saw.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main(y4m: str, shot: str, port: int = 8599) -> None:
    from playwright.sync_api import sync_playwright

    env = dict(os.environ, EMOTION_ICE_SERVERS="[]")
    server = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "streamlit_app.py", "--server.headless=true",
         f"--server.port={port}", "--server.address=127.0.0.1", "--browser.gatherUsageStats=false",
         "--server.fileWatcherType=none"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    seen: dict = {"dominant": None, "text": ""}
    try:
        for _ in range(200):
            try:
                if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read() == b"ok":
                    break
            except OSError:
                time.sleep(0.3)
        flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
                 "--allow-loopback-in-peer-connection", f"--use-file-for-fake-video-capture={y4m}"]  # fmt: skip
        with sync_playwright() as pw:
            ctx = pw.chromium.launch_persistent_context(
                str(Path(shot).parent / "chrome-profile"), executable_path="/usr/bin/chromium", args=flags,
                viewport={"width": 1400, "height": 1000},
            )  # fmt: skip
            page = ctx.new_page()
            page.goto(url, timeout=60_000)
            page.get_by_text("Emotion Studio").first.wait_for(timeout=60_000)  # the app's own navigation is up
            page.get_by_role("link", name="Live", exact=True).click(timeout=60_000)
            frame = page.frame_locator('iframe[title*="webrtc_streamer"]')
            frame.get_by_role("button", name="Start").click(timeout=60_000)
            deadline = time.time() + 60
            while time.time() < deadline:
                text = page.locator('[data-testid="stMetric"]').all_inner_texts()
                joined = " | ".join(text)
                dominant = next((t for t in text if t.startswith("Dominant")), "")
                if dominant and "—" not in dominant and "fps" in joined:
                    seen = {"dominant": dominant, "text": joined}
                    break
                time.sleep(1)
            page.wait_for_timeout(1500)
            page.screenshot(path=shot, full_page=True)
            frame.get_by_role("button", name="Stop").click(timeout=10_000)
            page.wait_for_timeout(3000)
            seen["after_stop"] = page.inner_text("body")[-3000:]
            ctx.close()
    finally:
        server.terminate()
        server.wait(10)
    print("RESULT " + json.dumps(seen))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
