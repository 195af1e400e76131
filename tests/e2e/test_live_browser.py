"""The Live page in a real browser: fake camera with a real face and fake microphone with real speech, WebRTC to
the server, face and voice emotions and engagement on the page and in the saved session.

WebRTC needs a non-127.0.0.1 loopback address for the server's ICE candidates, so the run happens in a
private network namespace (``unshare -n``, root only) that has 127.0.0.2, which also keeps all traffic
on this machine.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from emotion.settings import ravdess_dir
from tests.conftest import MEDIA, ROOT, need

RAVDESS = ravdess_dir()

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.needs_data]


def make_y4m(face: Path, out: Path) -> Path:
    import imageio_ffmpeg

    ffmpeg = imageio_ffmpeg.get_ffmpeg_exe()
    cmd = [ffmpeg, "-v", "error", "-y", "-loop", "1", "-i", str(face), "-t", "3", "-r", "15"]
    cmd += ["-vf", "scale=640:480", "-pix_fmt", "yuv420p", str(out)]
    subprocess.run(cmd, check=True, timeout=60)
    return out


def make_wav(speech: Path, out: Path) -> Path:
    """A real RAVDESS sentence and a short pause, as 48 kHz 16-bit mono PCM (Chromium loops it as the microphone)."""
    import imageio_ffmpeg

    ffmpeg = imageio_ffmpeg.get_ffmpeg_exe()
    cmd = [ffmpeg, "-v", "error", "-y", "-i", str(speech), "-af", "apad=pad_dur=0.5", "-ar", "48000", "-ac", "1"]
    cmd += ["-c:a", "pcm_s16le", str(out)]
    subprocess.run(cmd, check=True, timeout=60)
    return out


def test_live_page_streams_and_tracks_a_face(tmp_path):
    if not Path("/usr/bin/chromium").exists():
        pytest.skip("needs /usr/bin/chromium (apt-get install -y chromium)")
    if os.geteuid() != 0 or not shutil.which("unshare") or not shutil.which("ip"):
        pytest.skip("needs root with unshare and ip for a private network namespace")
    y4m = make_y4m(need(MEDIA / "0-f15-hao-ph.jpg"), tmp_path / "face.y4m")
    wav = make_wav(need(RAVDESS / "Actor_01" / "03-01-03-02-01-01-01.flac"), tmp_path / "speech.wav")
    shot = tmp_path / "live.png"
    inner = "ip link set lo up; ip addr add 127.0.0.2/8 dev lo; "
    inner += f"exec {sys.executable} tests/live_e2e.py {y4m} {wav} {shot}"
    proc = subprocess.run(["unshare", "-n", "bash", "-c", inner], cwd=ROOT, capture_output=True, text=True, timeout=420)
    line = next((x for x in proc.stdout.splitlines() if x.startswith("RESULT ")), None)
    assert line, proc.stdout[-2000:] + proc.stderr[-3000:]
    seen = json.loads(line[len("RESULT ") :])
    assert seen["dominant"], f"the tracker never showed an emotion: {seen}"
    assert "happy" in seen["dominant"]  # the posed happy portrait, streamed through WebRTC
    assert shot.exists()
    assert "Last session" in seen["after_stop"]
    # the microphone: a voice emotion (with its confidence or "uncertain") and an engagement score on the page
    assert seen["voice"].startswith("Voice emotion") and "—" not in seen["voice"], seen
    assert "no speech" not in seen["voice"] and ("%" in seen["voice"] or "uncertain" in seen["voice"]), seen
    assert "/ 5" in seen["engagement"], seen
    saved = seen["saved"]  # and in the session saved to History
    assert saved["kind"] == "live" and saved["voice_segments"] >= 1 and saved["voice"]["dominant_emotion"], saved
    assert saved["engagement"]["score"] is not None and saved["face_ids"] == [0], saved
