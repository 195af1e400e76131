"""Video pixel bombs: frames over the size limit are refused from the stream header, and large frames are analysed
at the working size (issue 24 item 2).

The smallest file that shows the limit: one flat MJPEG frame of 8200x4200 (34 megapixels, just over the 33 of 8K UHD)
in Matroska, about 0.5 MB, made at test time. It is analysed in a child process under an address-space cap. (Before
the limit it was decoded at full size for every sample; a 16000x16000 H.264 of 750 kB peaked at 9.5 GB.) A 4096x2304
video of a face (9.4 megapixels, over the 8.3 of 4K UHD) is analysed shrunk, with its boxes in original pixels.
"""

from __future__ import annotations

from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from emotion.settings import MAX_VIDEO_PIXELS, VIDEO_WORK_PIXELS
from tests import media_tools as mt
from tests.conftest import MEDIA, need

pytestmark = [pytest.mark.needs_data, pytest.mark.slow]

CAP = 4.0
"""GiB of address space for the child that loads the models and analyses the files."""


def mjpeg_mkv(dst: Path, image: np.ndarray, frames: int = 1) -> Path:
    """``frames`` MJPEG frames of a BGR image in Matroska."""
    height, width = image.shape[:2]
    with av.open(str(dst), "w", format="matroska") as out:
        stream = out.add_stream("mjpeg", rate=1)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuvj420p"
        frame = av.VideoFrame.from_ndarray(image, format="bgr24").reformat(format="yuvj420p")
        for i in range(frames):
            frame.pts = i
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return dst


def test_huge_frames_are_refused_before_decoding_and_large_ones_analysed_shrunk(tmp_path):
    width, height = 8200, 4200
    assert width * height > MAX_VIDEO_PIXELS
    bomb = mjpeg_mkv(tmp_path / "bomb.mkv", np.full((height, width, 3), 128, np.uint8))
    face = cv2.resize(cv2.imread(str(need(MEDIA / "single_face.jpg"))), (4096, 2304))
    large = mjpeg_mkv(tmp_path / "large.mkv", face, frames=2)
    assert 4096 * 2304 > VIDEO_WORK_PIXELS and bomb.stat().st_size < 2_000_000
    code = f"""
import resource
from emotion.analysis.pipeline import analyze_file
from emotion.media import MediaError, iter_video_frames, probe_video
from emotion.settings import Settings

def rss():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

base = rss()
for name, call in (("probe", probe_video), ("frames", lambda p: list(iter_video_frames(p, [0.0])))):
    try:
        call({str(bomb)!r})
        out[name] = None
    except MediaError as exc:
        out[name] = str(exc)
out["bomb_mb"] = rss() - base
settings = Settings(save=False, collect=False, audio=False, max_frames=2)
out["bomb"] = analyze_file({str(bomb)!r}, settings).error
result = analyze_file({str(large)!r}, settings)
out["large"] = result.error, result.notes, result.width, [f.box for fr in result.frames for f in fr.faces]
"""
    out, peak, wall = mt.run_capped(code, CAP)
    print(f"pixel bomb: peak RSS {peak:.0f} MB, {out['bomb_mb']:.0f} MB for opening the bomb, {wall:.1f} s")
    for name in ("probe", "frames", "bomb"):
        message = out[name]
        assert message and message.startswith("the video's frames are too large to analyse (8200x4200, "), out
        assert "the limit is 33.2 megapixels" in message and "\n" not in message
    assert out["bomb_mb"] < 30, "the bomb's frames were decoded"  # one 8200x4200 frame is 52 MB as YUV
    error, notes, shown_width, boxes = out["large"]
    assert error is None and shown_width == 4096
    assert any(n.startswith("the video's frames (4096x2304) were analysed at about 3840x2160") for n in notes), notes
    assert boxes and max(x + w for x, _, w, _ in boxes) > 1000  # boxes in the original frame's pixels
