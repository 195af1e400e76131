"""Hostile file names and command-line values: shown as plain text, never run, never a traceback, nothing lost.

Names are made at test time: Markdown (images, links, bare links, ``:red[...]`` directives, math, HTML), bidi and
zero-width characters, bytes that are not UTF-8, and spreadsheet formulas. The page is checked through AppTest
(the Markdown each element gets) and in a real Chromium (what it renders and fetches); the CLI in-process for
usage errors and in a subprocess for real batches.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from emotion import cli
from emotion.analysis.uploads import display_name
from emotion.app.widgets import JOINER, inert, plain
from emotion.record import Result
from emotion.report.export import FORMULA_STARTS, to_csv
from tests.conftest import MEDIA, ROOT, need
from tests.e2e.test_app import at, upload  # noqa: F401 - the app fixture and upload helper of the app tests

pytestmark = [pytest.mark.needs_data]

SHOWN_AS_TYPED = [
    "![x](data:image;base64,iVBORw0KGgo=) [l](javascript:alert(1)).jpg",
    ":red[alert] :blue-background[b] :smile: $x^2$ $$y$$.jpg",
    "<img src=x onerror=alert(1)> &amp; **b** `c`.jpg",
    "www.evil.example mail@evil.example.jpg",
    "=1+2 [x][1].jpg",
]
HOSTILE = {name: name for name in SHOWN_AS_TYPED} | {
    # upload name -> the name the page must show (slashes cannot be in an upload's name: only its last part shows)
    "photo\u202egpj.mp4.jpg": "photogpj.mp4.jpg",
    "zero\u200bwidth\u2066\ufeff.jpg": "zerowidth.jpg",
}


def unescape(markdown: str) -> str:
    """What a Markdown label made by ``plain`` shows: escapes undone, joiners gone."""
    return re.sub(r"\\(.)", r"\1", markdown).replace(JOINER, "")


def bare(markdown: str) -> str:
    """The ASCII punctuation left unescaped in a Markdown text (none, for text made by ``plain``)."""
    return re.sub(r"[^!-/:-@\[-`{-~]", "", re.sub(r"\\.", "", markdown))


# ---------------------------------------------------------------------------------------------------------------
# names


def test_display_name_drops_bidi_zero_width_and_controls_and_mends_bad_bytes():
    assert display_name("photo\u202egpj.mp4.jpg") == "photogpj.mp4.jpg"
    assert display_name("a\u200b\u200c\u200d\u2060\ufeff\u2066b\u2069.jpg") == "ab.jpg"
    assert display_name("line\u2028break\nand\ttab\x1b[31m.jpg") == "linebreakandtab[31m.jpg"
    assert display_name(os.fsdecode(b"caf\xe9.jpg")) == "caf\ufffd.jpg"  # not UTF-8 on disk
    assert display_name("\u202e\u200b") == "upload" and len(display_name("x" * 5000)) == 120
    assert display_name("visage_ç_日本.jpg") == "visage_ç_日本.jpg"  # real letters stay


def test_plain_leaves_no_markdown_and_shows_the_name_as_typed():
    for name, want in HOSTILE.items():
        md = plain(display_name(name))
        assert unescape(md) == want, name
        assert bare(md) == "", (name, md)  # every mark escaped
        assert "://" not in md and "www." not in md.lower() and re.search(r"\w@\w", md) is None  # no bare links
    assert unescape(plain("a\\b\n:c")) == "a\\b :c"
    made = inert("fer_mini_xception (base) ![x](y) <b>")
    assert made.startswith("fer_mini_xception (base)") and "!" not in made.replace("\\!", "")


def test_csv_cells_never_start_a_formula():
    results = [Result(file=name, kind="image", error=f"{name[0]}bad") for name in
               ("=HYPERLINK(\"http://x.example\",\"a\").jpg", "+1.jpg", "-1.jpg", "@SUM(A1).jpg", " =1.jpg", "\t=1.jpg",
                "＝1.jpg", "ok.jpg")]
    rows = list(csv.reader(io.StringIO(to_csv(results))))[1:]
    for row in rows:
        for value in row:
            assert not value.lstrip(" ").startswith(FORMULA_STARTS), row
    assert rows[0][0] == "'=HYPERLINK(\"http://x.example\",\"a\").jpg" and rows[-1][0] == "ok.jpg"
    assert rows[2][-1] == "'-bad"  # error text too


@pytest.mark.slow
def test_page_shows_hostile_names_as_plain_text(at):  # noqa: F811
    jpg = need(MEDIA / "single_face.jpg").read_bytes()
    files = [(name, jpg, "image/jpeg") for name in HOSTILE]
    files.append(("[bad](javascript:alert(1)) :red[x].mp4", b"not a video at all", "video/mp4"))
    at.toggle(key="cfg_auto_export").set_value(True).run()
    upload(at, *files)
    assert not at.exception
    labels = [t.label.removeprefix("⚠️ ") for t in at.tabs]
    assert [unescape(label) for label in labels] == [*HOSTILE.values(), "[bad](javascript:alert(1)) :red[x].mp4"]
    assert all(bare(label) == "" for label in labels), labels
    (error,) = [e.value for e in at.error]
    assert error.startswith("**" + plain("[bad](javascript:alert(1)) :red[x].mp4") + "**: ")
    for caption in (c.value for c in at.caption if c.value.startswith("Auto-exported")):
        assert bare(caption.removeprefix("Auto-exported to ")).replace("and", "") == ""
    records = [e.result for e in at.session_state["analyses"].values()]
    assert [r.file for r in records][:-1] == list(HOSTILE.values())
    exported = sorted((Path(os.environ["EMOTION_DATA_DIR"]) / "exports").glob("*.csv"))
    assert exported and all(re.fullmatch(r"[A-Za-z0-9_-]+\.csv", p.name) for p in exported)  # safe file names
    cells = [row[0] for p in exported for row in list(csv.reader(p.open()))[1:]]
    assert "'=1+2 [x][1].jpg" in cells and not any(c.startswith("=") for c in cells)
    at.switch_page("pages/history.py").run()
    assert not at.exception
    options = at.selectbox(key="history_pick").options
    assert all(any(name in o for o in options) for name in HOSTILE.values())  # a selectbox shows plain text
    at.button(key="history_delete").click().run()
    at.button(key="history_delete_confirm").click().run()  # Delete asks first (issue 26)
    (deleted,) = [s.value for s in at.success if s.value.startswith("Deleted")]
    assert bare(deleted.removeprefix("Deleted **").split("**")[0]) == ""


@pytest.mark.slow
@pytest.mark.browser
def test_hostile_names_render_as_text_in_a_real_browser(tmp_path):
    """The real app in Chromium: hostile names make no link, image, math, colour or outside request."""
    from tests.e2e.test_browser import CHROMIUM, FLAGS, _free_port

    if not CHROMIUM.exists():
        pytest.skip("needs /usr/bin/chromium")
    playwright = pytest.importorskip("playwright.sync_api", reason="needs Python Playwright")
    jpg = need(MEDIA / "single_face.jpg").read_bytes()
    names = ["![x](https:__127.0.0.1:9_a.png) [l](https:__127.0.0.1:9_).jpg", ":red[RED] $x^2$ :smile:.jpg",
             "<img src=x onerror=alert(1)> www.evil.example a@evil.example.jpg", "photo\u202egpj.mp4.jpg"]
    names.append("![x](http:\\\\127.0.0.1:9\\y.png).jpg")  # backslashes: only the last part is shown
    port = _free_port()
    env = dict(os.environ, EMOTION_DATA_DIR=str(tmp_path / "data"))
    log = open(tmp_path / "streamlit.log", "w")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "streamlit_app.py", "--server.headless=true",
         f"--server.port={port}", "--server.address=127.0.0.1", "--browser.gatherUsageStats=false",
         "--server.fileWatcherType=none"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    outside: list[str] = []
    try:
        with playwright.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=FLAGS)
            page = browser.new_page(viewport={"width": 1400, "height": 3000})
            page.on("request", lambda r: outside.append(r.url) if f":{port}" not in r.url else None)
            for _ in range(60):
                try:
                    page.goto(f"http://127.0.0.1:{port}", wait_until="domcontentloaded")
                    break
                except playwright.Error:
                    time.sleep(0.5)
            page.get_by_role("heading", name="Analyse").wait_for(timeout=30_000)
            page.locator('[data-testid="stFileUploader"] input[type="file"]').set_input_files(
                [{"name": n, "mimeType": "image/jpeg", "buffer": jpg} for n in names])
            page.get_by_role("button", name=f"Analyse {len(names)} files").click()
            page.locator('[data-testid="stTab"]').first.wait_for(timeout=120_000)
            page.wait_for_timeout(1500)
            main = page.locator('[data-testid="stMain"]')
            assert main.locator("a[href*='127.0.0.1:9'], a[href*='evil'], a[href^='mailto']").count() == 0
            assert main.locator("img[src*='127.0.0.1:9'], img[src='x'], .katex, span[style*='color']").count() == 0
            tabs = [t.replace(JOINER, "") for t in page.locator('[data-testid="stTab"]').all_inner_texts()]
            assert tabs == [display_name(n) for n in names], tabs
            assert page.locator('[data-testid="stException"]').count() == 0
            browser.close()
    finally:
        proc.terminate()
        proc.wait(10)
        log.close()
    assert outside == [], outside


# ---------------------------------------------------------------------------------------------------------------
# the CLI: values and output paths refused before anything is analysed


@pytest.mark.parametrize("args", [
    ["analyze", "x.jpg", "--fps", "inf"], ["analyze", "x.jpg", "--fps", "-1"], ["analyze", "x.jpg", "--fps", "nan"],
    ["analyze", "x.jpg", "--max-frames", "-5"], ["analyze", "x.jpg", "--max-duration", "nan"],
    ["analyze", "x.jpg", "--max-duration", "-inf"], ["analyze", "x.jpg", "--workers", "100000"],
    ["analyze", "x.jpg", "--min-blur", "1e400"], ["analyze", "x.jpg", "--max-frames", "\uff15"],
    ["analyze", "x.jpg", "--max-frames", "9" * 5000], ["analyze", "x.jpg", "--collect-threshold", "NaN"],
    ["history", "delete", "0"], ["history", "delete", "99999999999999999999999"],
    ["history", "list", "--limit", "nan"],
])
def test_cli_refuses_bad_numbers_as_usage_errors(args, capsys):
    with pytest.raises(SystemExit) as stop:
        cli.main(args)
    err = capsys.readouterr().err
    assert stop.value.code == 2 and "error: argument" in err and "Traceback" not in err
    assert len(err.splitlines()[-1]) < 200  # a 5000-digit value is not echoed whole


@pytest.mark.parametrize("flag", ["--out", "--csv"])
def test_cli_checks_output_paths_before_analysing(tmp_path, capsys, flag):
    image = tmp_path / "a.jpg"
    shutil.copy(need(MEDIA / "single_face.jpg"), image)
    (tmp_path / "file").write_text("x")
    bad = {
        str(tmp_path / "missing" / "r.json"): "does not exist",
        str(tmp_path / ("x" * 300 + ".json")): "too long",
        str(tmp_path): "is a folder",
        str(tmp_path / "file" / "r.json"): "not a folder",
        str(image): "one of the files to analyse",
    }
    for path, words in bad.items():
        started = time.perf_counter()
        assert cli.main(["analyze", str(image), flag, path, "--quiet"]) == 2
        err = capsys.readouterr().err
        assert words in err and "Traceback" not in err and len(err.strip().splitlines()) == 1, err
        assert time.perf_counter() - started < 5  # refused before the models load or anything is analysed
    assert image.read_bytes() == need(MEDIA / "single_face.jpg").read_bytes()  # never overwritten
    assert cli.main(["analyze", str(image), "--out", str(tmp_path / "r"), "--csv", str(tmp_path / "r")]) == 2


def test_cli_output_is_a_complete_json_list_after_every_file(tmp_path):
    out, table = tmp_path / "r.json", tmp_path / "r.csv"
    output = cli.Output(str(out), str(table))
    assert json.loads(out.read_text()) == []
    results = [Result(file=f"f{i}.jpg", kind="image", error=f"bad {i}") for i in range(4)]
    for i, result in enumerate(results):
        output.add(result)
        assert [r["file"] for r in json.loads(out.read_text())] == [f"f{k}.jpg" for k in range(i + 1)]
        assert len(table.read_text().splitlines()) == i + 2  # header and one row per file so far
    output.close()
    from emotion.report.export import to_json

    assert out.read_text() == to_json(results)  # the same text as writing it whole at the end
    assert not output.problems


@pytest.mark.slow
def test_cli_full_disk_for_out_prints_the_records_instead(tmp_path):
    image = need(MEDIA / "single_face.jpg")
    proc = subprocess.run([sys.executable, "-m", "emotion", "analyze", str(image), str(image), "--no-audio", "--quiet",
                           "--out", "/dev/full", "--csv", str(tmp_path / "r.csv")],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "could not write /dev/full: the disk is full" in proc.stderr
    assert [r["file"] for r in json.loads(proc.stdout)] == ["single_face.jpg"] * 2  # nothing lost
    assert len((tmp_path / "r.csv").read_text().splitlines()) == 3


@pytest.mark.slow
def test_cli_name_that_is_not_utf8(tmp_path):
    odd = tmp_path / os.fsdecode(b"caf\xe9 \x1b[31mred.jpg")
    shutil.copy(need(MEDIA / "single_face.jpg"), odd)
    out = tmp_path / "r.json"
    proc = subprocess.run([sys.executable, "-m", "emotion", "analyze", str(tmp_path), "--no-audio", "--quiet",
                           "--out", str(out), "--csv", str(tmp_path / "r.csv")],
                          cwd=ROOT, capture_output=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    (record,) = json.loads(out.read_text())
    assert record["file"] == "caf\ufffd [31mred.jpg" and len(record["frames"][0]["faces"]) == 1
    assert b"saved to History as entry 1" in proc.stderr and b"\x1b" not in proc.stderr
    from emotion.storage.history import History

    assert History().list()[0].file == record["file"]


@pytest.mark.slow
def test_cli_interrupted_batch_keeps_the_finished_files(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    for i in range(12):
        shutil.copy(need(MEDIA / "multi_face.jpg"), folder / f"{i:02d}.jpg")
    out = tmp_path / "r.json"
    proc = subprocess.Popen([sys.executable, "-m", "emotion", "analyze", str(folder), "--no-audio", "--quiet",
                             "--out", str(out)], cwd=ROOT, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    done: list = []
    while time.time() < deadline and not done:
        time.sleep(0.2)
        done = json.loads(out.read_text()) if out.exists() and out.stat().st_size > 2 else []
    proc.send_signal(signal.SIGINT)
    err = proc.communicate(timeout=60)[1]
    assert done, "no file finished in time"
    records = json.loads(out.read_text())  # still a complete JSON list
    assert proc.returncode in (0, 130) and "Traceback" not in err
    assert len(records) >= len(done) and [r["file"] for r in records] == [f"{i:02d}.jpg" for i in range(len(records))]
