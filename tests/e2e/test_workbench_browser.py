"""The workbench in a real browser (headless Chromium): click a point of the per-face lanes and the video plays from
there, add a marker, correct a face, download the HTML report (opened with the network blocked, its charts drawn)
and the blurred video (no face left where one was), then compare two analyses and filter History.

Screenshots of each view go to the test's own tmp folder.
"""

from __future__ import annotations

import re

import pytest

from emotion.face.detect import get_detector
from emotion.media import iter_all_frames
from tests.app_support import MEDIA
from tests.browser_tools import RERUN_MS, settle
from tests.e2e.test_browser import CHROMIUM, FLAGS, app_url  # noqa: F401 - app_url is a fixture
from tests.media_tools import ffmpeg

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.needs_data]


def group_video(folder):
    src = MEDIA / "multi_face.jpg"
    if not src.exists():
        pytest.skip(f"shared test data not found: {src}")
    out = folder / "group.mp4"
    ffmpeg("-loop", "1", "-i", src, "-t", "6", "-r", "10", "-vf", "crop=940:627:'10*t':'6*t',scale=640:-2",
           "-pix_fmt", "yuv420p", "-c:v", "libx264", out)
    return out


def faces(path, detector) -> dict[int, list[list[int]]]:
    return {i: detector.detect(img) for i, _, img in iter_all_frames(path, 1e9, 10_000)}


def overlaps(a, b) -> bool:
    return a[0] < b[0] + b[2] and b[0] < a[0] + a[2] and a[1] < b[1] + b[3] and b[1] < a[1] + a[3]


def test_workbench_in_browser(app_url, tmp_path):  # noqa: F811 - the imported fixture
    from playwright.sync_api import expect, sync_playwright

    video = group_video(tmp_path)
    single = MEDIA / "single_face.mp4"
    shots = tmp_path / "shots"
    shots.mkdir()
    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(tmp_path / "profile"), executable_path=str(CHROMIUM), headless=True, args=FLAGS,
            viewport={"width": 1400, "height": 1800}, accept_downloads=True,
        )
        try:
            page = context.new_page()
            page.goto(app_url, wait_until="domcontentloaded")
            expect(page.get_by_role("heading", name="Analyse")).to_be_visible(timeout=30_000)
            page.locator('[data-testid="stFileUploader"] input[type="file"]').first.set_input_files(
                [str(video), str(single)])
            start = page.get_by_role("button", name="Analyse 2 files")
            expect(start).to_be_enabled(timeout=15_000)
            start.click()
            lanes = page.locator('[data-testid="stPlotlyChart"]').filter(has_text="click a point")
            expect(lanes.first).to_be_visible(timeout=180_000)
            assert page.locator('[data-testid="stException"]').count() == 0
            lanes = lanes.first
            ticks = lanes.locator(".ytick text").evaluate_all("els => els.map(e => e.textContent)")
            assert len([t for t in ticks if re.fullmatch(r"face \d+", t)]) >= 3, ticks
            assert lanes.locator("image").count() >= 3  # thumbnails at the lanes' start
            page.wait_for_timeout(1000)
            lanes.scroll_into_view_if_needed()
            lanes.screenshot(path=str(shots / "lanes.png"))

            # click-to-seek: a sample square late in the clip
            points = lanes.locator(".scatterlayer .trace .points path")
            boxes = [points.nth(i).bounding_box() for i in range(points.count())]
            boxes = sorted((b for b in boxes if b), key=lambda b: b["x"])
            target = boxes[len(boxes) * 2 // 3]  # two thirds into the clip
            page.mouse.click(target["x"] + target["width"] / 2, target["y"] + target["height"] / 2)
            expect(lanes.get_by_text(re.compile(r"▶ \d"))).to_be_visible(timeout=30_000)
            marked = float(re.search(r"▶ ([\d.]+)", lanes.get_by_text(re.compile(r"▶ \d")).text_content()).group(1))
            assert 2.0 < marked < 5.5
            player = page.locator('[data-testid="stVideo"]').first
            expect(player).to_be_visible()
            page.wait_for_function("v => v.readyState >= 1", arg=player.element_handle(), timeout=30_000)
            try:  # the player seeks to the clicked point (or plays on from it)
                page.wait_for_function("([v, t]) => v.currentTime >= t", arg=[player.element_handle(), marked - 0.6],
                                       timeout=30_000)
            except Exception as exc:
                raise AssertionError(f"the player did not seek to {marked} s: {player.evaluate('v => v.currentTime')}"
                                     ) from exc
            playing = player.evaluate("v => !v.paused")
            page.screenshot(path=str(shots / f"seek_{'playing' if playing else 'paused'}.png"), full_page=False)

            # a marker and its statistics
            page.locator('[data-testid="stExpander"]').filter(has_text="Markers and spans").first.locator(
                "summary").click()
            page.get_by_label("Marker name").first.fill("question asked")
            page.get_by_role("button", name="Add marker").first.click()
            expect(page.locator("summary").filter(has_text="Markers and spans (1)").first).to_be_visible(
                timeout=30_000)
            expect(page.get_by_role("button", name="Span statistics CSV").first).to_be_visible()
            page.locator('[data-testid="stExpander"]').filter(has_text="Markers and spans").first.screenshot(
                path=str(shots / "markers.png"))

            # correct a face where it is shown
            fix = page.locator('[data-testid="stExpander"]').filter(has_text="Correct a reading").first
            fix.locator("summary").click()
            done = page.get_by_text(re.compile(r"Labelled \d+ kept item"))
            expect(fix.get_by_role("button", name="Set face label")).to_be_enabled(timeout=RERUN_MS)
            settle(page)  # a click that lands while the script reruns is dropped by Streamlit
            fix.get_by_role("button", name="Set face label").click()
            expect(done).to_be_visible(timeout=RERUN_MS)
            fix.screenshot(path=str(shots / "correct.png"))

            # the report, opened with every network request refused
            out = page.locator('[data-testid="stExpander"]').filter(has_text="Report, clips").first
            out.locator("summary").click()
            out.get_by_role("button", name="Make the HTML report").click()
            with page.expect_download(timeout=60_000) as got:
                out.get_by_role("button", name=re.compile("Download the report")).click()
            report = tmp_path / "report.html"
            got.value.save_as(report)
            out.get_by_role("button", name="Make a blurred copy").click()
            with page.expect_download(timeout=120_000) as got:
                out.get_by_role("button", name="Download the blurred video").click()
            blurred = tmp_path / "blurred.mp4"
            got.value.save_as(blurred)
            out.screenshot(path=str(shots / "exports.png"))

            offline = context.new_page()
            asked: list[str] = []
            offline.route(re.compile(r"^https?://"), lambda route: (asked.append(route.request.url), route.abort()))
            offline.goto(report.as_uri())
            expect(offline.locator(".js-plotly-plot .main-svg").first).to_be_visible(timeout=30_000)
            assert offline.locator(".js-plotly-plot").count() >= 4
            assert asked == []
            offline.wait_for_timeout(800)
            offline.screenshot(path=str(shots / "report.png"), full_page=True)
            offline.close()

            # compare the two analyses, then History's filters
            page.get_by_role("link", name="Compare").click()
            expect(page.get_by_role("heading", name="Compare")).to_be_visible(timeout=30_000)
            pick = page.locator('[data-testid="stMultiSelect"]').first
            tags = pick.locator("[data-tag]")  # the chosen analyses
            for chosen in (1, 2):
                if tags.count() >= chosen:  # the open list may take a second pick by itself
                    continue
                settle(page)
                pick.locator("input").click()
                page.locator('[role="option"]').first.click()
                expect(tags.nth(chosen - 1)).to_be_attached(timeout=RERUN_MS)
            expect(tags).to_have_count(2)
            page.keyboard.press("Escape")
            expect(page.get_by_text("Side by side")).to_be_visible(timeout=30_000)
            expect(page.get_by_role("button", name="Comparison CSV")).to_be_visible()
            page.wait_for_timeout(1000)
            page.screenshot(path=str(shots / "compare.png"), full_page=True)
            page.get_by_role("link", name="History").click()
            expect(page.get_by_role("heading", name="History")).to_be_visible(timeout=30_000)
            settle(page)
            page.get_by_role("textbox", name="Search").fill("group")
            page.keyboard.press("Enter")
            settle(page)
            page.screenshot(path=str(shots / "history.png"), full_page=True)
            assert page.locator('[data-testid="stException"]').count() == 0
        finally:
            context.close()
    detector = get_detector("blazeface")
    before, after = faces(video, detector), faces(blurred, detector)
    hits = [(i, b) for i, found in after.items() for b in found if any(overlaps(b, f) for f in before.get(i, []))]
    assert sum(map(len, before.values())) > 100 and not hits
    for shot in ("lanes.png", "markers.png", "correct.png", "exports.png", "report.png", "compare.png"):
        assert (shots / shot).stat().st_size > 5_000
