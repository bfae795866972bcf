"""User stories for writing videos and cutting segments out of recordings."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from avs_studio.core.errors import MediaError
from avs_studio.core.media.decode import open_media, probe
from avs_studio.core.media.writer import CONTAINERS, trim_video, write_video

W, H = 160, 120
SR = 16000


def indexed_frame(i: int, w: int = W, h: int = H) -> np.ndarray:
    a = np.zeros((h, w, 3), np.uint8)
    a[..., 0] = (i % 32) * 8
    a[..., 1] = (i // 32) * 32
    return a


def index_of(rgb: np.ndarray) -> int:
    c = rgb[rgb.shape[0] // 3 : 2 * rgb.shape[0] // 3, rgb.shape[1] // 3 : 2 * rgb.shape[1] // 3]
    c = c.reshape(-1, 3).mean(axis=0)
    return int(round(c[0] / 8)) % 32 + 32 * int(round(c[1] / 32))


def tone(freq: float, seconds: float, rate: int = SR) -> np.ndarray:
    return (0.4 * np.sin(2 * np.pi * freq * np.arange(round(seconds * rate)) / rate)).astype(
        np.float32
    )


@pytest.mark.parametrize("ext", sorted(CONTAINERS))
def test_extension_picks_container_and_codecs(tmp_path, ext):
    decoder = {
        "libx264": "h264",
        "libvpx-vp9": "vp9",
        "mjpeg": "mjpeg",
        "aac": "aac",
        "libopus": "opus",
        "flac": "flac",
        "pcm_s16le": "pcm_s16le",
    }
    _, vcodec, acodec = CONTAINERS[ext]
    p = write_video(
        tmp_path / f"demo{ext}",
        (indexed_frame(i) for i in range(20)),
        25,
        audio=tone(440, 0.8),
        sample_rate=SR,
    )
    assert p == tmp_path / f"demo{ext}"
    with av.open(str(p)) as c:
        assert c.streams.video[0].codec_context.name == decoder[vcodec]
        assert c.streams.audio[0].codec_context.name == decoder[acodec]
    info = probe(p)
    assert info.video.frame_count == 20 and info.has_audio
    assert list(tmp_path.iterdir()) == [p]  # no temporary file left behind


def test_frame_times_write_a_variable_frame_rate_file(tmp_path):
    times = [0.0, 0.04, 0.08, 0.5, 0.54, 1.2, 1.25]
    for ext in (".mp4", ".mkv", ".webm", ".mov"):
        p = write_video(
            tmp_path / f"vfr{ext}",
            (indexed_frame(i) for i in range(len(times))),
            25,
            frame_times=times,
        )
        with open_media(p) as m:
            got = m.frame_table().times
            assert m.info.video.variable_frame_rate is True
            np.testing.assert_allclose(got, times, atol=1.5e-3)
            assert [index_of(m.frame_at(t + 0.01)) for t in times] == list(range(len(times)))
    with pytest.raises(MediaError, match="AVI"):
        write_video(
            tmp_path / "vfr.avi",
            (indexed_frame(i) for i in range(3)),
            25,
            frame_times=[0, 0.1, 0.3],
        )
    with pytest.raises(ValueError):
        write_video(
            tmp_path / "bad.mp4",
            (indexed_frame(i) for i in range(3)),
            25,
            frame_times=[0, 0.1, 0.1],
        )


def test_rotation_flag_is_stored_where_the_container_can_hold_it(tmp_path):
    for ext in (".mp4", ".mov", ".mkv", ".webm"):
        p = write_video(tmp_path / f"r{ext}", [indexed_frame(0)] * 3, 25, rotation=270)
        assert probe(p).video.rotation == 270
    with pytest.raises(MediaError, match=r"\.avi files cannot store a rotation"):
        write_video(tmp_path / "r.avi", [indexed_frame(0)] * 3, 25, rotation=90)


def test_bad_input_leaves_no_file(tmp_path):
    def frames():
        yield indexed_frame(0)
        yield indexed_frame(1)
        raise RuntimeError("camera unplugged")

    with pytest.raises(RuntimeError):
        write_video(tmp_path / "broken.mp4", frames(), 25)
    with pytest.raises(MediaError, match="frame 1 is"):
        write_video(tmp_path / "sizes.mp4", [indexed_frame(0), indexed_frame(1, 80, 60)], 25)
    with pytest.raises(MediaError, match=r"RGB uint8"):
        write_video(tmp_path / "gray.mp4", [np.zeros((H, W), np.uint8)], 25)
    with pytest.raises(MediaError, match="no frames"):
        write_video(tmp_path / "none.mp4", [], 25)
    with pytest.raises(MediaError, match="unsupported video extension"):
        write_video(tmp_path / "clip.gif", [indexed_frame(0)], 25)
    with pytest.raises(MediaError, match=r"odd\.mp4: libx264 with yuv420p needs an even width"):
        write_video(tmp_path / "odd.mp4", [indexed_frame(0, 321, 241)], 25, pix_fmt="yuv420p")
    assert list(tmp_path.iterdir()) == []


def test_existing_file_is_replaced_only_when_the_new_one_is_complete(tmp_path):
    p = write_video(tmp_path / "keep.mp4", (indexed_frame(i) for i in range(10)), 25)
    before = p.read_bytes()

    def failing():
        yield indexed_frame(3)
        raise RuntimeError("stop")

    with pytest.raises(RuntimeError):
        write_video(p, failing(), 25)
    assert p.read_bytes() == before


@pytest.fixture(scope="module")
def recording(tmp_path_factory):
    """A 10-s 25-fps recording with 2-s GOPs and a tone, to cut clips from."""
    p = tmp_path_factory.mktemp("rec") / "recording 10 s.mp4"
    return write_video(
        p, (indexed_frame(i) for i in range(250)), 25, audio=tone(500, 10.0), gop_size=50
    )


def keyframe_times(path: Path) -> list[float]:
    with av.open(str(path)) as c:
        vs = c.streams.video[0]
        return sorted(float(p.pts * vs.time_base) for p in c.demux(vs) if p.is_keyframe and p.size)


def test_copy_cut_starts_at_the_keyframe_before_start(recording, tmp_path):
    key = max(t for t in keyframe_times(recording) if t <= 3.3)
    assert 1.9 < key <= 3.3  # 2-s GOPs (plus any scene-cut keyframes x264 adds)
    r = trim_video(recording, tmp_path / "cut.mp4", 3.3, 5.0)
    assert not r.reencoded
    assert r.start == pytest.approx(key)
    assert r.duration >= 5.0 + (3.3 - key) - 1e-6
    first = round(key * 25)
    with open_media(r.path) as m:
        assert index_of(m.frame_at(0.0)) == first
        assert index_of(m.frame_at(1.0)) == first + 25
        assert m.has_audio
        pcm, rate = m.audio()
        assert pcm.shape[0] / rate == pytest.approx(r.duration, abs=0.1)
    assert probe(r.path).video.rotation == 0


def test_reencoded_cut_is_exact(recording, tmp_path):
    r = trim_video(recording, tmp_path / "exact.mkv", 3.3, 5.0, reencode=True)
    assert r.reencoded and r.start == 3.3
    info = probe(r.path)
    assert info.video.frame_count == 125
    with open_media(r.path) as m:
        assert index_of(m.frame_at(0.0)) == 83  # first frame shown at or after 3.3 s (3.32 s)
        assert index_of(m.frame_at(4.99)) == 207
        pcm, rate = m.audio()
        assert pcm.shape[0] == pytest.approx(5 * rate, abs=rate * 0.05)


def test_rotation_survives_a_copy_cut(tmp_path):
    src = write_video(
        tmp_path / "phone.mp4", (indexed_frame(i) for i in range(50)), 25, rotation=90
    )
    r = trim_video(src, tmp_path / "phone cut.mp4", 0.5, 1.0)
    assert probe(r.path).video.rotation == 90


def test_cuts_that_cannot_work_are_refused(recording, tmp_path):
    with pytest.raises(MediaError, match="reencode=True"):
        trim_video(recording, tmp_path / "cut.webm", 1.0, 2.0)  # WebM takes no H.264
    with pytest.raises(MediaError, match="onto itself"):
        trim_video(recording, recording, 1.0, 2.0)
    with pytest.raises(ValueError):
        trim_video(recording, tmp_path / "x.mp4", -1.0, 2.0)
    with pytest.raises(MediaError, match="not found"):
        trim_video(tmp_path / "nope.mp4", tmp_path / "x.mp4", 0.0, 1.0)
    assert not [p for p in tmp_path.iterdir() if p.suffix in (".webm", ".mp4")]


def test_written_path_may_have_spaces_and_non_ascii(tmp_path):
    p = write_video(tmp_path / "été – 日本 clip.mov", (indexed_frame(i) for i in range(5)), 25)
    assert isinstance(p, Path) and p.exists()
    assert probe(p).video.frame_count == 5
