"""The sampled frames are the official ones on every file, checked against the ffmpeg
command line the official preprocessing reads clips with.

Files a phone, an old camcorder or a DivX rip make, written here with ffmpeg: an MPEG-4
AVI with packed B-frames (Xvid's default with B-frames; the frames come out of the decoder
with timestamps out of order), and variable-frame-rate H.264 MP4s with B-frames (frames
dropped from a 30 fps source), with and without an audio track.
"""

from __future__ import annotations

import numpy as np
import pytest
from ffmpeg_tools import ffmpeg, official_frames, official_picks

from avs_studio.core.media.decode import open_media

W, H = 64, 48


def _assert_official(path, seconds: int = 5) -> None:
    want = official_picks(path, W, H, seconds)
    with open_media(path) as m:
        got, _ = m.sampled_frames(seconds)
    for s, (g, w) in enumerate(zip(got, want)):
        assert np.array_equal(g, w), f"{path.name}: second {s} is not the frame the official reader picks"


@pytest.fixture(scope="module")
def odd_media(tmp_path_factory):
    """Small odd files, made once: name -> path."""
    root = tmp_path_factory.mktemp("odd-media")
    src = ["-f", "lavfi", "-i", f"testsrc2=size={W}x{H}:rate={{rate}}:duration=5.5"]
    tone = ["-f", "lavfi", "-i", "sine=frequency=330:duration=5.5"]
    out = {}

    def make(name: str, rate: str, *args: str, audio: bool = True) -> None:
        inputs = [a.format(rate=rate) for a in src] + (tone if audio else [])
        ffmpeg(*inputs, *args, str(root / name))
        out[name] = root / name

    # Xvid packs a B-frame with the next P-frame (one packet) and leaves a stub packet:
    # the decoder's timestamps then run 1, 2, 3, 5, 4, 6, 8, 7, ...
    make("packed.avi", "12", "-c:v", "libxvid", "-bf", "1", "-g", "250", "-q:v", "3", "-c:a", "pcm_s16le")
    make("packed-short-gop.avi", "24000/1001", "-c:v", "libxvid", "-bf", "2", "-g", "8", "-q:v", "3",
         "-c:a", "pcm_s16le")  # fmt: skip
    # Every 7th and 11th frame dropped, the others keep their time: variable frame rate.
    drop = "select='not(eq(mod(n\\,7)\\,3))*not(eq(mod(n\\,11)\\,5))'"
    vfr = ["-vf", drop, "-fps_mode", "vfr", "-c:v", "libx264", "-pix_fmt", "yuv420p"]
    make("vfr.mp4", "30", *vfr, "-c:a", "aac")
    make("vfr-video-only.mp4", "30", *vfr, audio=False)
    return out


@pytest.mark.parametrize("name", ["packed.avi", "packed-short-gop.avi"])
def test_an_avi_with_packed_b_frames_gives_the_frames_the_official_reader_picks(odd_media, name):
    _assert_official(odd_media[name])


@pytest.mark.parametrize("name", ["vfr.mp4", "vfr-video-only.mp4"])
def test_a_variable_frame_rate_mp4_with_b_frames_gives_the_official_frames(odd_media, name):
    _assert_official(odd_media[name])


def test_frame_at_follows_presentation_order_in_a_packed_avi(odd_media):
    # Stepping through the file gives each frame once, in the order a player shows them
    # (the decoder's output order, as ffmpeg passes it through).
    path = odd_media["packed.avi"]
    shown, _ = official_frames(path, W, H, passthrough=True)
    with open_media(path) as m:
        times = m.frame_table().times
        stepped = [m.frame_at(t) for t in times[:30]]
        walked = [rgb for _, rgb in m.iter_frames(0.0, float(times[29]) + 1e-3)]
    assert len(walked) == 30
    for k, (a, b) in enumerate(zip(stepped, walked)):
        np.testing.assert_array_equal(a, shown[k])
        np.testing.assert_array_equal(b, shown[k])
