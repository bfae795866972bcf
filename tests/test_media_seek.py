"""Random access gives the frames a front-to-back decode gives, on a real file that trips it.

imageio's sample ``cockatoo.mp4`` (Debian's python3-imageio, installed by ``.ci/run``) is
H.264 4:4:4 from an old x264: FFmpeg's decoder works around that encoder's bugs only after
it has read x264's version from the first packet. Seeking first (as the annotator does when
a clip opens in the middle of a video, and as an exact segment cut does) gave green frames.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from avs_studio.core.media.decode import open_media
from avs_studio.core.media.writer import trim_video

COCKATOO = Path("/usr/lib/python3/dist-packages/imageio/resources/images/cockatoo.mp4")

pytestmark = pytest.mark.skipif(not COCKATOO.is_file(), reason="python3-imageio's cockatoo.mp4 is not installed")


@pytest.fixture(scope="module")
def frames():
    with open_media(COCKATOO) as m:
        return [(t, rgb) for t, rgb in m.iter_frames()]


def test_frames_after_a_seek_are_the_frames_of_a_straight_decode(frames):
    n = len(frames)
    backwards = list(range(0, n, 23))[::-1]  # every one of these seeks
    with open_media(COCKATOO) as m:
        for i in backwards:
            assert np.array_equal(m.frames_by_ordinal([i])[0], frames[i][1]), f"frame {i} by ordinal"
    with open_media(COCKATOO) as m:
        for i in backwards:
            assert np.array_equal(m.frame_at(frames[i][0]), frames[i][1]), f"frame {i} by time"
    with open_media(COCKATOO) as m:
        t, first = next(iter(m.iter_frames(start=frames[200][0])))
        assert t == frames[200][0] and np.array_equal(first, frames[200][1])


def test_an_exact_cut_at_a_later_keyframe_decodes_to_the_source_frames(frames, tmp_path):
    with open_media(COCKATOO) as m:
        table = m.frame_table()
    key = next(i for i in range(1, len(table.pts)) if table.keyframe_before(i) == i)
    out = tmp_path / "cut.mp4"
    trim_video(COCKATOO, out, start=frames[key][0], duration=5.0, exact=True)
    with open_media(out) as cut:
        got = [rgb for _, rgb in cut.iter_frames()]
    assert len(got) == 100
    for k in (0, 1, 50, 99):
        assert np.array_equal(got[k], frames[key + k][1]), f"frame {k} of the cut"
