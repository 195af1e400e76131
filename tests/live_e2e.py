"""Live page end to end, run inside a private network namespace by tests/e2e/test_live_browser.py.

Starts the app, opens the Live page in headless Chromium with a fake camera playing a real face and a fake
microphone playing real speech, presses Start, waits for the rolling tracker to show a face emotion, a voice
emotion and an engagement score, saves a screenshot, stops, saves the session to History and prints a JSON line
with what it saw and what History holds.
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


def main(y4m: str, wav: str, shot: str, port: int = 8599) -> None:
    from playwright.sync_api import sync_playwright

    env = dict(os.environ, EMOTION_ICE_SERVERS="[]")
    server = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "streamlit_app.py", "--server.headless=true",
         f"--server.port={port}", "--server.address=127.0.0.1", "--browser.gatherUsageStats=false",
         "--server.fileWatcherType=none"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=open(Path(shot).parent / "server.log", "w"),
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
                 "--allow-loopback-in-peer-connection", f"--use-file-for-fake-video-capture={y4m}",
                 f"--use-file-for-fake-audio-capture={wav}"]  # fmt: skip
        with sync_playwright() as pw:
            ctx = pw.chromium.launch_persistent_context(
                str(Path(shot).parent / "chrome-profile"), executable_path="/usr/bin/chromium", args=flags,
                viewport={"width": 1400, "height": 1000},
            )  # fmt: skip
            page = ctx.new_page()
            page.goto(url, timeout=60_000)
            page.get_by_text("Emotion Studio").first.wait_for(timeout=60_000)  # the app's own navigation is up
            # let the first run finish (its sidebar makes the settings): a click before it ends loses them
            page.locator('[data-testid="stFileUploader"]').first.wait_for(timeout=60_000)
            page.get_by_role("link", name="Live", exact=True).click(timeout=60_000)
            page.get_by_text("Voice: on").first.wait_for(timeout=60_000)
            frame = page.frame_locator('iframe[title*="webrtc_streamer"]')
            frame.get_by_role("button", name="Start").click(timeout=60_000)
            deadline = time.time() + 150  # the page's state is polled; under load the first readings come late
            while time.time() < deadline:
                text = page.locator('[data-testid="stMetric"]').all_inner_texts()
                joined = " | ".join(text)
                dominant = next((t for t in text if t.startswith("Dominant")), "")
                voice = next((t for t in text if t.startswith("Voice emotion")), "")
                engaged = next((t for t in text if t.startswith("Engagement")), "")
                seen = {"dominant": None, "voice": voice, "engagement": engaged, "text": joined}
                if dominant and "—" not in dominant and "fps" in joined:
                    seen["dominant"] = dominant
                    if "/ 5" in engaged and voice and "—" not in voice and "no speech" not in voice:
                        break
                time.sleep(1)
            page.wait_for_timeout(1500)
            page.screenshot(path=shot, full_page=True)
            frame.get_by_role("button", name="Stop").click(timeout=30_000)
            try:  # the stopped session's summary, not a fixed wait
                page.get_by_text("Last session").first.wait_for(timeout=60_000)
            except Exception:  # noqa: BLE001 - reported through the RESULT line below
                pass
            seen["after_stop"] = page.inner_text("body")[-3000:]
            page.get_by_role("button", name="Save to History").click(timeout=30_000)
            page.get_by_text("Saved as History entry").wait_for(timeout=30_000)
            ctx.close()
        from emotion.storage.history import History

        entries = History().list()
        record = History().get(entries[0].id)[0] if entries else None
        if record is not None:
            speech = [s for s in (record.audio.segments if record.audio else []) if s.speech and s.emotion]
            seen["saved"] = {"kind": record.kind, "engagement": record.summary.get("engagement"),
                             "voice_segments": len(speech), "voice": record.audio.summary if record.audio else None,
                             "face_ids": record.summary.get("face_ids")}  # fmt: skip
    finally:
        server.terminate()
        server.wait(10)
    print("RESULT " + json.dumps(seen))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3])
