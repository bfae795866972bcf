"""User stories for decoding: open any clip, get the right frames and audio, fail clearly.

Every video is written inside the test (``media_writer``); the "brute force" reference
decodes every frame of a file with PyAV directly, independent of ``MediaFile``.
"""

from __future__ import annotations

import math
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from avs_studio.core.errors import MediaError
from avs_studio.core.media.decode import MediaFile, open_media, probe
from avs_studio.core.media.writer import write_video

W, H = 160, 120
SR = 16000


def indexed_frame(i: int, w: int = W, h: int = H) -> np.ndarray:
    """A frame whose index survives lossy coding: red = i % 32 * 8, green = i // 32 * 32."""
    a = np.zeros((h, w, 3), np.uint8)
    a[..., 0] = (i % 32) * 8
    a[..., 1] = (i // 32) * 32
    a[: h // 4, : w // 4, 2] = 255  # a corner marker shows which way is up
    return a


def index_of(rgb: np.ndarray) -> int:
    """Recover the index written by :func:`indexed_frame` (from the frame's centre)."""
    h, w = rgb.shape[:2]
    centre = rgb[h // 3 : 2 * h // 3, w // 3 : 2 * w // 3].reshape(-1, 3).mean(axis=0)
    return int(round(centre[0] / 8)) % 32 + 32 * int(round(centre[1] / 32))


def tone(freq: float, seconds: float, rate: int = SR, amp: float = 0.5) -> np.ndarray:
    t = np.arange(round(seconds * rate)) / rate
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def decode_all(path: Path) -> tuple[list[np.ndarray], list[float]]:
    """Brute force: every frame in presentation order (RGB as stored) and its time."""
    frames, times = [], []
    with av.open(str(path)) as c:
        vs = c.streams.video[0]
        start = (c.start_time or 0) / 1e6
        for f in c.decode(vs):
            frames.append(f.to_ndarray(format="rgb24", interpolation="BICUBIC"))
            times.append(float(f.pts * vs.time_base) - start)
    order = np.argsort(times, kind="stable")
    return [frames[i] for i in order], [times[i] for i in order]


def spec_indices(fi: int, seconds: int, n: int) -> list[int]:
    """formats.md §1.3, written out independently: int(s*fi + 15/16*fi), clamped."""
    return [min(int(s * fi + (15 / 16) * fi), n - 1) for s in range(seconds)]


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    """One 5-s 160x120 clip (25 fps, 1-s GOP, 440 Hz mono tone) per container."""
    root = tmp_path_factory.mktemp("clips")
    out = {}
    for ext in ("mp4", "webm", "mkv", "avi", "mov"):
        out[ext] = write_video(
            root / f"clip.{ext}",
            (indexed_frame(i) for i in range(125)),
            25,
            audio=tone(440, 5.0),
            sample_rate=SR,
            gop_size=25,
        )
    return out


# --- opening and probing ----------------------------------------------------------------


@pytest.mark.parametrize(
    "ext,vcodec,acodec",
    [
        ("mp4", "h264", "aac"),
        ("webm", "vp9", "opus"),
        ("mkv", "h264", "flac"),
        ("avi", "mjpeg", "pcm_s16le"),
        ("mov", "h264", "aac"),
    ],
)
def test_each_container_opens_with_its_streams(clips, ext, vcodec, acodec):
    info = probe(clips[ext])
    v = info.video
    assert v is not None and v.codec == vcodec
    assert (v.width, v.height, v.rotation) == (W, H, 0)
    assert (v.display_width, v.display_height) == (W, H)
    assert v.avg_fps == pytest.approx(25.0, rel=1e-3)
    assert v.frame_count == 125 and v.frame_count_source == "counted" and v.frame_count_exact
    assert v.variable_frame_rate is False
    assert info.duration == pytest.approx(5.0, abs=0.05)
    assert info.has_audio and len(info.audio_streams) == 1
    a = info.audio_streams[0]
    assert a.codec == acodec and a.channels == 1
    assert a.sample_rate == (48000 if acodec == "opus" else SR)  # Opus always decodes at 48 kHz
    with open_media(clips[ext]) as m:
        for t in (0.0, 1.5, 4.99):
            assert index_of(m.frame_at(t)) == int(t * 25)


def test_info_describes_what_a_user_needs(clips):
    text = probe(clips["mp4"]).describe(seconds=5)
    assert "clip.mp4" in text and "5.000 s" in text and "25 fps" in text and "160x120" in text
    assert "16000 Hz, 1 ch" in text
    assert "[23, 48, 73, 98, 123]" in text and "0.920" in text and "4.920" in text


# --- the official sampled frames ----------------------------------------------------------


@pytest.mark.parametrize("ext", ["mp4", "webm", "mkv", "avi", "mov"])
def test_official_frames_equal_a_sequential_decode_of_every_frame(clips, ext):
    frames, _ = decode_all(clips[ext])
    expected = spec_indices(25, 5, len(frames))
    with open_media(clips[ext]) as m:
        assert m.official_frame_indices() == expected
        got, times = m.sampled_frames()
    assert times == pytest.approx([k / 25 for k in expected])
    for k, frame in zip(expected, got):
        np.testing.assert_array_equal(frame, frames[k])


def test_ntsc_rate_rounds_to_30_and_short_clip_clamps_to_last_frame(tmp_path):
    p = write_video(
        tmp_path / "ntsc.mp4", (indexed_frame(i) for i in range(100)), Fraction(30000, 1001)
    )
    frames, _ = decode_all(p)
    with open_media(p) as m:
        s = m.official_sampling(seconds=5)
        got, _ = m.sampled_frames(seconds=5)
    assert s.fps == pytest.approx(29.97) and s.fi == 30
    assert list(s.ordinals) == spec_indices(30, 5, 100) == [28, 58, 88, 99, 99]
    for k, frame in zip(s.ordinals, got):
        np.testing.assert_array_equal(frame, frames[k])


def test_segment_of_a_longer_video_counts_from_the_first_frame_at_or_after_start(tmp_path):
    p = write_video(
        tmp_path / "long.mp4",
        (indexed_frame(i) for i in range(250)),
        25,
        audio=tone(300, 10.0),
        gop_size=50,
    )
    frames, times = decode_all(p)
    for start in (3.0, 3.3):
        first = next(i for i, t in enumerate(times) if t >= start - 1e-9)
        with open_media(p) as m:
            assert m.official_frame_indices(5, start=start) == [
                first + k for k in spec_indices(25, 5, 125)
            ]
            got, _ = m.sampled_frames(5, start=start)
        assert [index_of(f) for f in got] == [first + k for k in spec_indices(25, 5, 125)]


def test_variable_frame_rate_file_is_sampled_on_the_official_constant_rate_grid(tmp_path):
    # 30 fps for 2.5 s, then 10 fps: the official reader (ffmpeg, -vsync cfr) shows the
    # frame on screen at each grid slot k / 30 s, repeating the slow frames.
    ftimes = [i / 30 for i in range(75)] + [2.5 + i / 10 for i in range(25)]
    p = write_video(
        tmp_path / "vfr.mp4", (indexed_frame(i) for i in range(100)), 30, frame_times=ftimes
    )
    info = probe(p)
    assert info.video.variable_frame_rate is True and info.video.frame_count == 100
    _, times = decode_all(p)
    with open_media(p) as m:
        s = m.official_sampling()
        got, got_times = m.sampled_frames()
        assert s.fi == 30
        slots = spec_indices(30, 5, s.n_sequence)
        shown = [max(i for i, t in enumerate(times) if t <= k / 30 + 1e-6) for k in slots]
        assert list(s.ordinals) == shown
        assert [index_of(f) for f in got] == shown
        # Between samples, frame_at follows the file's own timing.
        for t in (0.5, 2.55, 2.65, 4.0):
            assert index_of(m.frame_at(t)) == max(
                i for i, ft in enumerate(ftimes) if ft <= t + 1e-6
            )


# --- geometry -----------------------------------------------------------------------------


@pytest.mark.parametrize("ext", ["mp4", "mkv"])
@pytest.mark.parametrize("rotation", [90, 180, 270])
def test_rotated_video_comes_back_upright(tmp_path, ext, rotation):
    p = write_video(
        tmp_path / f"rot{rotation}.{ext}",
        (indexed_frame(i) for i in range(10)),
        25,
        rotation=rotation,
    )
    v = probe(p).video
    assert v.rotation == rotation and (v.width, v.height) == (W, H)
    swapped = rotation in (90, 270)
    assert (v.display_width, v.display_height) == ((H, W) if swapped else (W, H))
    raw, _ = decode_all(p)
    with open_media(p) as m:
        frame = m.frame_at(0.0)
    assert frame.shape == ((W, H, 3) if swapped else (H, W, 3))
    np.testing.assert_array_equal(frame, np.rot90(raw[0], k=-rotation // 90))


@pytest.mark.parametrize("name,pix_fmt", [("odd.avi", "yuvj444p"), ("odd.mp4", "yuv444p")])
def test_odd_sizes_decode_at_their_size(tmp_path, name, pix_fmt):
    src = [indexed_frame(i, 321, 241) for i in range(10)]
    p = write_video(tmp_path / name, src, 25, pix_fmt=pix_fmt)
    v = probe(p).video
    assert (v.width, v.height, v.pix_fmt) == (321, 241, pix_fmt)
    with open_media(p) as m:
        frame = m.frame_at(0.2)
    assert frame.shape == (241, 321, 3)
    assert np.abs(frame.astype(int) - src[5]).mean() < 3


# --- audio ----------------------------------------------------------------------------------


def dominant_hz(x: np.ndarray, rate: int) -> float:
    spec = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.argmax(spec) * rate / len(x))


def test_a_tone_survives_aac_with_its_pitch_and_length(clips):
    with open_media(clips["mp4"]) as m:
        pcm, rate = m.audio()
        part, _ = m.audio(start=1.0, duration=2.0)
        mono, rate16 = m.audio_16k_mono()
    assert rate == SR and pcm.dtype == np.float32 and pcm.shape[1] == 1
    assert pcm.shape[0] / rate == pytest.approx(5.0, abs=0.1)
    assert np.abs(pcm).max() <= 1.0
    assert dominant_hz(pcm[:, 0], rate) == pytest.approx(440, abs=2)
    assert part.shape == (2 * SR, 1)
    np.testing.assert_allclose(part[:, 0], pcm[SR : 3 * SR, 0], atol=1e-6)
    later, _ = m.audio(start=3.0, duration=1.0)  # reached by seeking: same samples
    np.testing.assert_allclose(later[:, 0], pcm[3 * SR : 4 * SR, 0], atol=1e-3)
    assert rate16 == SR and mono.shape == (pcm.shape[0],)


def test_opus_audio_is_resampled_to_16k_mono_for_the_model(clips):
    pytest.importorskip("resampy")
    with open_media(clips["webm"]) as m:
        pcm, rate = m.audio()
        mono, rate16 = m.audio_16k_mono()
    assert rate == 48000
    assert rate16 == 16000 and mono.dtype == np.float32
    assert len(mono) == pytest.approx(pcm.shape[0] / 3, abs=2)
    assert dominant_hz(mono, 16000) == pytest.approx(440, abs=2)


def test_official_wav_picks_nearest_44k_samples_and_quantises_like_moviepy(tmp_path):
    # A lossless 44.1-kHz stereo track: the ffmpeg step is then the identity, so every
    # output sample can be checked against the source.
    rate = 44100
    n = rate * 2
    rng = np.random.default_rng(1)
    src = rng.integers(-32768, 32768, size=(n, 2), dtype=np.int64).astype(np.int16)
    src[:100] = [32767, -32768]  # full scale must clip to +-0.99
    p = write_video(
        tmp_path / "lossless.mkv",
        (indexed_frame(i) for i in range(50)),
        25,
        audio=src,
        sample_rate=rate,
    )
    with open_media(p) as m:
        wav, wrate = m.official_wav()
        d = m.info.duration
    assert wrate == 16000 and wav.dtype == np.int16
    assert wav.shape == (int(16000 * round(d, 2)), 2)
    # moviepy's own expression: np.round(fps_in * t) with t = (1/16000) * n.
    idx = np.round(rate * ((1.0 / 16000) * np.arange(wav.shape[0]))).astype(int)
    expect = np.trunc(np.clip(src[np.minimum(idx, n - 1)] / 32768, -0.99, 0.99) * 32768)
    np.testing.assert_array_equal(wav, expect.astype(np.int16))
    assert wav[:30].tolist() == [[32440, -32440]] * 30


def test_official_wav_of_a_mono_aac_track_is_two_equal_channels_at_minus_3_db(clips):
    with open_media(clips["mp4"]) as m:
        wav, rate = m.official_wav()
        pcm, _ = m.audio()
    assert rate == 16000 and wav.shape == (80000, 2) and wav.dtype == np.int16
    np.testing.assert_array_equal(wav[:, 0], wav[:, 1])
    # ffmpeg upmixes mono to stereo at 1/sqrt(2) per channel.
    assert np.abs(wav[:, 0]).max() / 32768 == pytest.approx(
        np.abs(pcm).max() / math.sqrt(2), rel=0.03
    )
    assert dominant_hz(wav[:, 0].astype(float), 16000) == pytest.approx(440, abs=2)


def test_video_without_audio_reads_as_flagged_silence(tmp_path):
    p = write_video(tmp_path / "silent.mp4", (indexed_frame(i) for i in range(50)), 25)
    with open_media(p) as m:
        assert m.has_audio is False and m.has_video
        pcm, rate = m.audio()
        wav, _ = m.official_wav()
        mono, _ = m.audio_16k_mono()
        frames, _ = m.sampled_frames(seconds=2)
    assert rate == 16000 and pcm.shape == (32000, 1) and not pcm.any()
    assert wav.shape == (32000, 2) and not wav.any()
    assert mono.shape == (32000,)
    assert len(frames) == 2
    assert "Audio:     none" in probe(p).describe()


def test_audio_only_file_has_audio_but_refuses_frames_clearly(tmp_path):
    p = tmp_path / "voice.m4a"
    with av.open(str(p), "w") as c:
        s = c.add_stream("aac", rate=SR, layout="mono")
        f = av.AudioFrame.from_ndarray(tone(220, 1.0)[None, :], format="fltp", layout="mono")
        f.sample_rate, f.pts = SR, 0
        for packet in [*s.encode(f), *s.encode(None)]:
            c.mux(packet)
    with open_media(p) as m:
        assert m.has_video is False and m.has_audio
        pcm, rate = m.audio()
        assert rate == SR and pcm.shape[0] == pytest.approx(SR, abs=1100)
        with pytest.raises(MediaError, match=r"voice\.m4a.*no video stream"):
            m.frame_at(0.0)
        with pytest.raises(MediaError, match="no video stream"):
            m.sampled_frames()
    assert "audio only" in probe(p).describe()


# --- bad files -------------------------------------------------------------------------------


@pytest.mark.timeout(60)
def test_truncated_mp4_without_its_index_is_a_clear_error(clips, tmp_path):
    data = clips["mp4"].read_bytes()
    p = tmp_path / "cut short.mp4"
    p.write_bytes(data[: len(data) // 2])  # the moov index sits at the end
    with pytest.raises(MediaError, match=r"cut short\.mp4"):
        open_media(p)


@pytest.mark.timeout(60)
def test_truncated_mkv_gives_the_frames_before_the_damage(clips, tmp_path):
    data = clips["mkv"].read_bytes()
    p = tmp_path / "half.mkv"
    p.write_bytes(data[: int(len(data) * 0.6)])
    with open_media(p) as m:
        n = m.info.video.frame_count
        assert 0 < n < 125
        frames, times = m.sampled_frames()
        assert len(frames) == 5 and all(f.shape == (H, W, 3) for f in frames)
        assert index_of(frames[0]) == 23
        assert times[-1] <= n / 25
        assert index_of(m.frame_at(4.9)) <= n  # past the damage: the last good frame
        pcm, _ = m.audio()
        assert pcm.shape[1] == 1


@pytest.mark.timeout(60)
def test_garbage_inside_a_video_does_not_crash_decoding(clips, tmp_path):
    data = bytearray(clips["mp4"].read_bytes())
    mid = len(data) // 3
    data[mid : mid + 3000] = (
        np.random.default_rng(0).integers(0, 256, 3000, dtype=np.uint8).tobytes()
    )
    p = tmp_path / "garbled.mp4"
    p.write_bytes(bytes(data))
    with open_media(p) as m:
        frames, _ = m.sampled_frames()
        assert [f.shape for f in frames] == [(H, W, 3)] * 5
        m.audio()


@pytest.mark.timeout(60)
def test_video_whose_frames_cannot_be_decoded_is_a_clear_error(tmp_path):
    p = write_video(
        tmp_path / "blank.mp4", (indexed_frame(i) for i in range(25)), 25, faststart=True
    )
    data = bytearray(p.read_bytes())
    mdat = data.find(b"mdat")
    data[mdat + 4 :] = bytes(len(data) - mdat - 4)
    p.write_bytes(bytes(data))
    with open_media(p) as m:
        assert m.info.video.frame_count == 25  # the index is intact ...
        with pytest.raises(MediaError, match=r"blank\.mp4.*no video frame could be decoded"):
            m.sampled_frames()  # ... the pictures are not
        assert m.decoded_frames == 0


def test_video_with_no_frames_is_a_clear_error(tmp_path):
    full = write_video(
        tmp_path / "full.mkv", (indexed_frame(i) for i in range(25)), 25
    ).read_bytes()
    cluster = full.find(bytes.fromhex("1F43B675"))  # first Matroska Cluster: headers end here
    p = tmp_path / "empty video.mkv"
    p.write_bytes(full[:cluster])
    with pytest.raises(MediaError, match=r"empty video\.mkv"):
        open_media(p).sampled_frames()


@pytest.mark.parametrize(
    "content", [b"", b"hello, this is a text file\n" * 40, bytes(range(256)) * 40]
)
def test_files_that_are_not_videos_are_refused_by_name(tmp_path, content):
    p = tmp_path / "notes.mp4"
    p.write_bytes(content)
    with pytest.raises(MediaError, match=r"notes\.mp4"):
        open_media(p)
    with pytest.raises(MediaError, match=r"missing\.mp4.*not found"):
        probe(tmp_path / "missing.mp4")


def test_names_with_spaces_and_non_ascii_characters(tmp_path):
    p = write_video(
        tmp_path / "my clip – été 日本.webm",
        (indexed_frame(i) for i in range(30)),
        25,
        audio=tone(440, 1.2),
    )
    with open_media(p) as m:
        assert index_of(m.frame_at(0.5)) == 12
        assert m.audio()[0].shape[0] > 0
    assert "my clip – été 日本.webm" in probe(p).describe()


# --- doing the work once -------------------------------------------------------------------


@pytest.fixture(scope="module")
def hd_clip(tmp_path_factory):
    """A 5-s 1280x720 H.264 + AAC clip, as the official pipeline gets them."""
    p = tmp_path_factory.mktemp("hd") / "hd.mp4"
    return write_video(
        p,
        (indexed_frame(i, 1280, 720) for i in range(125)),
        25,
        audio=tone(440, 5.0, 44100),
        sample_rate=44100,
    )


def test_sampled_frames_and_audio_of_a_720p_clip_decode_each_frame_at_most_once(hd_clip):
    with open_media(hd_clip) as m:
        frames, _ = m.sampled_frames()
        after_frames = m.decoded_frames
        m.official_wav()
        m.audio()
        assert m.decoded_frames == after_frames  # audio never touches the video decoder
    assert [index_of(f) for f in frames] == [23, 48, 73, 98, 123]
    assert frames[0].shape == (720, 1280, 3)
    assert after_frames <= 125


def test_stepping_forward_never_seeks_and_a_batch_costs_one_pass(clips):
    with MediaFile(clips["webm"]) as m:  # 1-s GOPs
        for i in range(0, 125, 3):
            assert index_of(m.frame_at(i / 25)) == i
        assert m.seeks <= 1 and m.decoded_frames <= 125
    with MediaFile(clips["mp4"]) as m:
        times = [4.5, 0.1, 2.2, 2.25, 0.1]
        got = m.frames_at(times)
        assert [index_of(f) for f in got] == [math.floor(t * 25 + 1e-6) for t in times]
        assert m.decoded_frames <= 125
        # Going back re-seeks (to a keyframe), it does not restart from the top.
        before = m.decoded_frames
        assert index_of(m.frame_at(3.0)) == 75
        assert m.decoded_frames - before <= 25 + 4


def test_long_recordings_are_not_counted_up_front_but_still_seek_correctly(tmp_path, monkeypatch):
    from avs_studio.core.media import probe as media_probe

    p = write_video(tmp_path / "long.mkv", (indexed_frame(i) for i in range(250)), 25, gop_size=50)
    monkeypatch.setattr(media_probe, "COUNT_FRAMES_MAX_SECONDS", 1.0)  # pretend 10 s is long
    info = probe(p)
    assert info.frame_table is None and info.video.frame_count_source == "estimated"
    assert info.video.frame_count == 250  # duration x rate
    assert "estimated" in info.describe(seconds=5)
    with open_media(p) as m:
        for t in (7.3, 1.0, 1.1, 9.99, 0.0, 5.55):
            assert index_of(m.frame_at(t)) == math.floor(t * 25 + 1e-6)
        assert m.official_frame_indices(5, start=2.0) == [50 + k for k in spec_indices(25, 5, 125)]


def test_iter_frames_yields_each_frame_of_a_span_once(clips):
    with open_media(clips["mkv"]) as m:
        got = [(round(t, 3), index_of(f)) for t, f in m.iter_frames(2.0, 3.0)]
    assert got == [(round(i / 25, 3), i) for i in range(50, 75)]


def test_official_wav_of_a_segment_matches_the_same_span_of_the_whole_clip(tmp_path):
    p = write_video(
        tmp_path / "talk.mp4",
        (indexed_frame(i) for i in range(250)),
        25,
        audio=tone(300, 10.0) + tone(1700, 10.0),
        sample_rate=SR,
    )
    with open_media(p) as m:
        whole, _ = m.official_wav()
        part, rate = m.official_wav(start=4.0, duration=5.0)
    assert rate == 16000 and part.shape == (80000, 2)
    # After the resampler's first few samples the two agree, except where 44100*n/16000
    # ends in exactly .5: moviepy's float rounding may go either way there.
    m = np.arange(200, 80000)
    clean = (m * 441) % 160 != 80
    np.testing.assert_array_equal(part[m[clean]], whole[64000 + m[clean]])
