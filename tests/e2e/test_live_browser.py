"""The Live page in a real browser: fake camera with a real face, WebRTC to the server, emotions drawn.

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

from tests.conftest import MEDIA, ROOT, need

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.needs_data]


def make_y4m(face: Path, out: Path) -> Path:
    import imageio_ffmpeg

    ffmpeg = imageio_ffmpeg.get_ffmpeg_exe()
    cmd = [ffmpeg, "-v", "error", "-y", "-loop", "1", "-i", str(face), "-t", "3", "-r", "15"]
    cmd += ["-vf", "scale=640:480", "-pix_fmt", "yuv420p", str(out)]
    subprocess.run(cmd, check=True, timeout=60)
    return out


def test_live_page_streams_and_tracks_a_face(tmp_path):
    if not Path("/usr/bin/chromium").exists():
        pytest.skip("needs /usr/bin/chromium (apt-get install -y chromium)")
    if os.geteuid() != 0 or not shutil.which("unshare") or not shutil.which("ip"):
        pytest.skip("needs root with unshare and ip for a private network namespace")
    y4m = make_y4m(need(MEDIA / "0-f15-hao-ph.jpg"), tmp_path / "face.y4m")
    shot = tmp_path / "live.png"
    inner = f"ip link set lo up; ip addr add 127.0.0.2/8 dev lo; exec {sys.executable} tests/live_e2e.py {y4m} {shot}"
    proc = subprocess.run(["unshare", "-n", "bash", "-c", inner], cwd=ROOT, capture_output=True, text=True, timeout=240)
    line = next((x for x in proc.stdout.splitlines() if x.startswith("RESULT ")), None)
    assert line, proc.stdout[-2000:] + proc.stderr[-3000:]
    seen = json.loads(line[len("RESULT ") :])
    assert seen["dominant"], f"the tracker never showed an emotion: {seen}"
    assert "happy" in seen["dominant"]  # the posed happy portrait, streamed through WebRTC
    assert shot.exists()
    assert "Last session" in seen["after_stop"]
