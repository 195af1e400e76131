"""A video whose timestamps jump by 31 years is analysed, shown and exported in bounded memory (issue 24 item 3).

The file is made at test time: a 40 kB Matroska of four MJPEG frames at 0, 0.04, 1e9 and 1e9 + 0.04 s. It goes through
the real batch (annotated video, History) and every report and view function the Analyse page and History use, in a
child process under an address-space cap. (Before the fix the rolling-summary table alone was built for 1e9 s: 50 M
rows, a MemoryError under the cap, gigabytes without it.)
"""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import av
import cv2
import pytest

from tests import media_tools as mt
from tests.conftest import MEDIA, ROOT, need

pytestmark = [pytest.mark.needs_data, pytest.mark.slow]

CAP = 4.0
"""GiB of address space for the child (the models and PyAV take about 2 of it)."""
STAMPS = (0.0, 0.04, 1e9, 1e9 + 0.04)


def jumping_mkv(dst: Path) -> Path:
    """Four frames of a face, at :data:`STAMPS` seconds (millisecond ticks)."""
    face = cv2.resize(cv2.imread(str(need(MEDIA / "single_face.jpg"))), (320, 240))
    with av.open(str(dst), "w", format="matroska") as out:
        stream = out.add_stream("mjpeg", rate=25)
        stream.width, stream.height, stream.pix_fmt = 320, 240, "yuvj420p"
        stream.time_base = Fraction(1, 1000)
        for t in STAMPS:
            frame = av.VideoFrame.from_ndarray(face, format="bgr24").reformat(format="yuvj420p")
            frame.pts, frame.time_base = round(t * 1000), Fraction(1, 1000)
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return dst


def test_a_timestamp_jump_is_flagged_and_every_view_stays_small(tmp_path):
    video = jumping_mkv(tmp_path / "jump.mkv")
    assert video.stat().st_size < 100_000
    code = f"""
from pathlib import Path
from emotion.analysis.batch import Source, run
from emotion.report.export import to_csv, to_json
from emotion.report.html import html_report
from emotion.report.segments import lanes_figure, mouth_motion, result_segments
from emotion.report.views import distribution_figure, timeline_figure, window_summaries
from emotion.settings import Settings
from emotion.storage.history import History

path = Path({str(video)!r})
[done] = run([Source(path.name, path)], Settings(collect=False))
result = done.result
out["error"], out["notes"], out["duration"] = result.error, result.notes, result.duration
out["times"] = [fr.t for fr in result.frames]
out["video"] = len(done.video or b""), done.video_error
reopened = History().get(done.history_id)[0]
out["windows"] = len(window_summaries(reopened))
timeline_figure(result)
lanes_figure(result)
distribution_figure(result)
result_segments(result)
mouth_motion(path, result)
out["report"] = len(html_report([result]))
out["csv"] = len(to_csv([result]).splitlines())
out["json"] = len(to_json([result]))
"""
    out, peak, wall = mt.run_capped(code, CAP)
    print(f"timestamp jump: peak RSS {peak:.0f} MB, {wall:.1f} s, {out['windows']} summary rows")
    assert out["error"] is None and out["times"][-1] >= 1e9, out
    flagged = [n for n in out["notes"] if n.startswith("impossible duration: ")]
    assert len(flagged) == 1 and "\n" not in flagged[0], out["notes"]
    assert out["windows"] <= 3 * len(out["times"]) + 3, out["windows"]
    size, why = out["video"]
    assert size > 0 or "\n" not in why, why  # drawn, or refused in one line (it is 31 years long)
    assert out["report"] > 0 and out["csv"] < 100
    assert peak < 2500, f"peak RSS {peak:.0f} MB"
    json.dumps(out)


APP = """
from streamlit.runtime.pages_manager import PagesManager
from streamlit.testing.v1 import AppTest

init = PagesManager.__init__

def navigation_app(self, *args, **kwargs):  # as tests/e2e/test_app.py: the app is st.navigation-driven
    init(self, *args, **kwargs)
    PagesManager.uses_pages_directory = False

PagesManager.__init__ = navigation_app
at = AppTest.from_file(ROOT + "/streamlit_app.py", default_timeout=240)
at.run()
at.file_uploader(key="uploads").set_value([(NAME, DATA, "video/x-matroska")]).run()
next(b for b in at.button if b.label.startswith("Analyse")).click().run()
out["exception"] = [str(e.value)[:300] for e in at.exception]
out["captions"] = [c.value for c in at.caption]
out["rows"] = max([len(d.value) for d in at.dataframe] or [0])
at.switch_page("pages/history.py").run()
out["history_exception"] = [str(e.value)[:300] for e in at.exception]
"""


def test_the_analyse_page_and_history_show_a_timestamp_jump(tmp_path):
    video = jumping_mkv(tmp_path / "jump.mkv")
    code = f"ROOT, NAME, DATA = {str(ROOT)!r}, 'jump.mkv', {video.read_bytes()!r}\n" + APP
    out, peak, wall = mt.run_capped(code, CAP, timeout=500)
    print(f"the app on a timestamp jump: peak RSS {peak:.0f} MB, {wall:.1f} s, {out['rows']} rows at most")
    assert out["exception"] == [] and out["history_exception"] == [], out
    assert any("impossible duration" in c for c in out["captions"]), out["captions"]
    assert out["rows"] < 50
