"""No file reads another file: playlists, manifests and concat lists named as media are refused (issue 24 item 1).

Each hostile file is made at test time: a DASH manifest (MPD XML) whose ``BaseURL`` names a real recording (by
absolute path and by ``../``), an HLS playlist, and ffconcat lists naming a recording beside them or above them,
each under an audio or video extension. The recording they name is watched with inotify: analysing the hostile file
must refuse it with a one-line message and never open the recording. (Before the fix the MPD was decoded by the
ffmpeg binary after PyAV refused it, and the ffconcat list naming a file beside it by PyAV itself: both analysed the
other recording.)
"""

from __future__ import annotations

import ctypes
import ctypes.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from emotion.errors import AudioError, MediaError
from emotion.media import probe_video
from emotion.voice.process import load_audio
from tests.conftest import MEDIA, ROOT, need

pytestmark = [pytest.mark.needs_data]

IN_OPEN = 0x20
IN_NONBLOCK = 0o4000


class Watch:
    """Whether a file is opened (by this process or any other) while the watch lasts: Linux inotify."""

    def __init__(self, path: Path) -> None:
        self.libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        self.fd = self.libc.inotify_init1(IN_NONBLOCK)
        assert self.fd >= 0 and self.libc.inotify_add_watch(self.fd, str(path).encode(), IN_OPEN) >= 0

    def opened(self) -> bool:
        """True if the file was opened since the last call."""
        try:
            return bool(os.read(self.fd, 4096))
        except BlockingIOError:
            return False

    def close(self) -> None:
        os.close(self.fd)


def mpd(target: str) -> str:
    return f"""<?xml version="1.0"?>
<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="static" mediaPresentationDuration="PT3S" minBufferTime="PT1S"
     profiles="urn:mpeg:dash:profile:isoff-on-demand:2011">
 <Period><AdaptationSet mimeType="video/mp4"><Representation id="1" bandwidth="100000">
  <BaseURL>{target}</BaseURL>
 </Representation></AdaptationSet></Period>
</MPD>
"""


def hls(target: str) -> str:
    return f"#EXTM3U\n#EXT-X-TARGETDURATION:3\n#EXTINF:3,\n{target}\n#EXT-X-ENDLIST\n"


def ffconcat(target: str) -> str:
    return f"ffconcat version 1.0\nfile '{target}'\n"


@pytest.fixture()
def planted(tmp_path: Path) -> tuple[dict[str, Path], list[Path]]:
    """Hostile files in ``uploads/``, and the recordings they name (one elsewhere, one beside them)."""
    source = need(MEDIA / "single_face.mp4")  # a face that speaks: both its picture and its sound can be read
    uploads, secret = tmp_path / "uploads", tmp_path / "secret"
    uploads.mkdir()
    secret.mkdir()
    elsewhere, beside = secret / "talk.mp4", uploads / "upload-1.mp4"
    shutil.copy(source, elsewhere)
    shutil.copy(source, beside)
    texts = {
        "dash_absolute.m4a": mpd(str(elsewhere)),
        "dash_relative.wav": mpd("../secret/talk.mp4"),
        "dash_video.mp4": mpd(str(elsewhere)),
        "hls_absolute.m4a": hls(str(elsewhere)),
        "hls_relative.mp4": hls("upload-1.mp4"),
        "concat_beside.mp4": ffconcat("upload-1.mp4"),
        "concat_beside.m4a": ffconcat("upload-1.mp4"),
        "concat_above.wav": ffconcat("../secret/talk.mp4"),
        "concat_absolute.mp4": ffconcat(str(elsewhere)),
    }
    files = {}
    for name, text in texts.items():
        files[name] = uploads / name
        files[name].write_text(text)
    return files, [elsewhere, beside]


def watched(targets: list[Path]) -> list[Watch]:
    return [Watch(t) for t in targets]


def assert_untouched(watches: list[Watch], what: str) -> None:
    for w in watches:
        assert not w.opened(), f"{what} opened the file it names"
        w.close()


def test_the_voice_path_refuses_manifests_and_lists_without_opening_what_they_name(planted):
    files, targets = planted
    for name, path in files.items():
        watches = watched(targets)
        with pytest.raises(AudioError, match="^cannot read audio: ") as err:
            load_audio(path)
        assert_untouched(watches, name)
        assert "\n" not in str(err.value) and str(path.parent) not in str(err.value), err.value


def test_the_video_path_refuses_manifests_and_lists_without_opening_what_they_name(planted):
    files, targets = planted
    for name in ("dash_video.mp4", "hls_relative.mp4", "concat_beside.mp4", "concat_absolute.mp4"):
        watches = watched(targets)
        with pytest.raises(MediaError) as err:
            probe_video(files[name])
        assert_untouched(watches, name)
        assert "\n" not in str(err.value) and str(files[name].parent) not in str(err.value), err.value
    with pytest.raises(MediaError, match="never a playlist, manifest or list of other files"):
        probe_video(files["concat_beside.mp4"])


def test_real_media_still_opens(planted):
    _, targets = planted
    assert probe_video(targets[0]).has_audio and load_audio(targets[0])[0].size > 16000


@pytest.mark.slow
def test_the_cli_refuses_them_in_one_line_each(planted, tmp_path):
    files, targets = planted
    names = ["dash_absolute.m4a", "dash_relative.wav", "concat_beside.mp4", "concat_beside.m4a"]
    out = tmp_path / "r.json"
    watches = watched(targets)
    proc = subprocess.run(
        [sys.executable, "-m", "emotion", "analyze", *(str(files[n]) for n in names), "--out", str(out),
         "--quiet", "--no-save", "--no-keep"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert_untouched(watches, "the CLI")
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
    records = json.loads(out.read_text())
    assert [r["file"] for r in records] == names
    for record in records:
        assert record["error"] and "\n" not in record["error"], record
        assert not record.get("segments") and not record.get("frames"), record
    refused = {r["file"]: r["error"] for r in records}
    assert "never a playlist" in refused["concat_beside.mp4"], refused
    assert refused["dash_absolute.m4a"].startswith("cannot read audio: "), refused
