"""Messages name a control that exists and say what to do (issue 26 item 7)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from emotion.errors import MediaError
from emotion.face.quality import Limits, face_reason
from emotion.media import open_media
from emotion.settings import Settings
from tests.conftest import MEDIA, need


@pytest.mark.needs_data
def test_a_dark_face_names_the_sidebars_brightness_control():
    gray = cv2.imread(str(need(MEDIA / "single_face.jpg")), cv2.IMREAD_GRAYSCALE)
    dark = (gray * 0.15).astype(np.uint8)
    reason = face_reason(dark, [0, 0, dark.shape[1], dark.shape[0]], Limits.of(Settings()))
    assert reason is not None and reason.startswith("face too dark")
    assert "set the lower end of Accepted brightness (--min-brightness) to" in reason, reason
    assert "Darkest face" not in reason


def test_an_unreadable_video_says_why_without_errno_and_what_to_do(tmp_path):
    bad = tmp_path / "random.mp4"
    bad.write_bytes(np.random.default_rng(0).integers(0, 256, 50_000, dtype=np.uint8).tobytes())
    with pytest.raises(MediaError) as caught:
        open_media(bad, "video")
    message = str(caught.value)
    assert message.startswith("not a readable video (invalid data found when processing input"), message
    assert "Errno" not in message and "1094995529" not in message
    assert "check that it plays in a media player, or export it again" in message
