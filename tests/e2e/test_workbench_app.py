"""The analyst's workbench through AppTest, on a multi-face video made here from a real photo of five people.

Per-face lanes, the chosen moment marked, a marker and its statistics, correcting a face from the results (the
label reaches the learning store as a human label under the History entry), the HTML report and comparing two
analyses.
"""

from __future__ import annotations

import json
import re

import pytest
from streamlit.testing.v1 import AppTest

from emotion.storage.learning_store import LearningStore
from tests.app_support import MEDIA, ROOT, shown
from tests.media_tools import ffmpeg

pytestmark = [pytest.mark.needs_data, pytest.mark.slow]


def multi_face_video(folder) -> bytes:
    """Four seconds panning slowly over multi_face.jpg (five faces), 640 px wide, 10 fps, no sound."""
    src = MEDIA / "multi_face.jpg"
    if not src.exists():
        pytest.skip(f"shared test data not found: {src}")
    out = folder / "group.mp4"
    ffmpeg("-loop", "1", "-i", src, "-t", "4", "-r", "10", "-vf",
           "crop=940:627:'15*t':'10*t',scale=640:-2", "-pix_fmt", "yuv420p", "-c:v", "libx264", out)
    return out.read_bytes()


@pytest.fixture
def at(tmp_path, monkeypatch):
    from streamlit.runtime.pages_manager import PagesManager

    init = PagesManager.__init__

    def navigation_app(self, *args, **kwargs):
        init(self, *args, **kwargs)
        PagesManager.uses_pages_directory = False

    monkeypatch.setattr(PagesManager, "__init__", navigation_app)
    app = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=300)
    app.run()
    app.toggle(key="cfg_audio").set_value(False).run()
    return app


def analyse(at: AppTest, name: str, data: bytes) -> AppTest:
    at.file_uploader(key="uploads").set_value([(name, data, "video/mp4")]).run()
    next(b for b in at.button if b.label.startswith("Analyse")).click().run()
    assert not at.exception, at.exception
    return at


def lanes(at: AppTest) -> dict:
    spec = next(json.loads(c.proto.spec) for c in at.get("plotly_chart") if "click a point" in c.proto.spec)
    return spec


def test_lanes_moment_marker_correction_and_report(at, tmp_path):
    analyse(at, "group.mp4", multi_face_video(tmp_path))
    assert shown(at.subheader[0].value) == "group.mp4"  # a file-name heading on a single result
    assert any(m.startswith("**Arc:**") for m in (x.value for x in at.markdown))
    spec = lanes(at)
    names = {y for trace in spec["data"] for y in trace.get("y", [])}
    faces = sorted(n for n in names if re.fullmatch(r"face \d+", n))
    assert len(faces) >= 3, names  # one lane per tracked face
    assert len(spec["layout"]["images"]) == len(faces)  # each with its thumbnail
    # the chosen moment: marked in the lanes and the video's start
    at.number_input(key="r0-seek-input").set_value(2.0).run()
    at.button(key="r0-seek-go").click().run()
    spec = lanes(at)
    assert any(s.get("x0") == 2.0 for s in spec["layout"]["shapes"])
    assert at.get("video")[0].proto.start_time == 2
    # a marker and its statistics
    assert at.number_input(key="r0-mk-a").value == 2.0  # the forms start at the chosen moment
    assert at.number_input(key="r0-fx-b").value == 2.0
    at.text_input(key="r0-mk-name").set_value("question asked")
    at.number_input(key="r0-mk-a").set_value(1.0)
    at.number_input(key="r0-mk-b").set_value(3.0)
    next(b for b in at.button if b.label == "Add marker").click().run()
    assert not at.exception, at.exception
    stats = next(d.value for d in at.dataframe if "marker" in d.value.columns)
    assert list(stats["marker"]) == ["question asked"]
    assert stats.loc[0, "faces"] > 0 and 1 <= float(stats.loc[0, "engagement"]) <= 5
    assert stats.loc[0, "confidence"].endswith("%") and "None" not in stats.to_string()
    # correct face 0 over the whole clip: human labels in the learning store, under this analysis's entry
    face = int(faces[0].split()[1])
    at.selectbox(key="r0-fx-face").set_value(face)
    at.selectbox(key="r0-fx-label").set_value("surprise")
    at.number_input(key="r0-fx-a").set_value(0.0)
    at.number_input(key="r0-fx-b").set_value(4.0)
    at.button(key="r0-fx-go").click().run()
    assert not at.exception, at.exception
    items = [r for r in LearningStore().rows(modality="face", limit=10_000) if r["face_id"] == face]
    assert items and all(r["label"] == "surprise" and r["label_source"] == "human" for r in items)
    assert {r["source"] for r in items} == {"history:1"}
    others = [r for r in LearningStore().rows(modality="face", limit=10_000) if r["face_id"] != face]
    assert others and not any(r["label_source"] == "human" for r in others)
    # the report
    at.button(key="r0-rep-go").click().run()
    report = at.session_state["r0-rep"].decode()
    assert "question asked" in report and "Per-face lanes" in report
    assert not re.search(r"<script[^>]+src=['\"]?http", report)  # plotly.js inlined: opens offline
    assert not at.exception


def test_compare_two_analyses_and_history_tags(at, tmp_path):
    video = multi_face_video(tmp_path)
    analyse(at, "group_a.mp4", video)
    single = MEDIA / "single_face.mp4"
    analyse(at, "single_face.mp4", single.read_bytes())
    at.switch_page("pages/history.py").run()
    assert not at.exception, at.exception
    at.text_input(key="history_tags").set_value("pilot, condition B, pilot").run()  # the newest: single_face
    at.button(key="history_tags_save").click().run()

    def listed():
        return list(next(d.value for d in at.dataframe if "tags" in d.value.columns)["file"])

    assert listed() == ["single_face.mp4", "group_a.mp4"]
    at.selectbox(key="history_tag").set_value("condition B").run()
    assert listed() == ["single_face.mp4"]
    assert next(d.value for d in at.dataframe if "tags" in d.value.columns)["tags"][0] == "pilot, condition B"
    at.selectbox(key="history_tag").set_value("(all)")
    at.text_input(key="history_search").set_value("GROUP_").run()
    assert listed() == ["group_a.mp4"]
    at.switch_page("pages/compare.py").run()
    assert not at.exception, at.exception
    at.multiselect(key="compare_pick").set_value(at.multiselect(key="compare_pick").options[:2]).run()
    assert not at.exception, at.exception
    side = next(d.value for d in at.dataframe if "arc" in d.value.columns)
    assert sorted(side["file"]) == ["group_a.mp4", "single_face.mp4"]
    assert len(at.get("plotly_chart")) >= 1
    csv = at.session_state["compare_csv"]
    assert csv.startswith("section,file,") and "group_a.mp4" in csv and "single_face.mp4" in csv
