"""The official-pipeline emulation, checked on hand-made timestamp lists (no media files)."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from avs_studio.core.media import official as off


def test_spec_formula_takes_the_frame_near_the_end_of_each_second():
    assert off.official_output_indices(25, 5, 125) == [23, 48, 73, 98, 123]
    assert off.official_output_indices(30, 5, 150) == [28, 58, 88, 118, 148]
    assert off.official_output_indices(24, 5, 120) == [22, 46, 70, 94, 118]
    # A clip shorter than the sampled seconds repeats its last frame.
    assert off.official_output_indices(25, 5, 80) == [23, 48, 73, 79, 79]
    with pytest.raises(ValueError):
        off.official_output_indices(25, 5, 0)


@pytest.mark.parametrize(
    "rate,printed,fi",
    [
        (Fraction(25), "25", 25),
        (Fraction(30000, 1001), "29.97", 30),
        (Fraction(24000, 1001), "23.98", 24),
        (Fraction(49, 2), "24.50", 24),  # Python rounds half to even
        (Fraction(12249, 500), "24.50", 24),  # 24.498 prints as 24.50 ...
        (Fraction(12251, 500), "24.50", 24),  # ... and so does 24.502: imageio sees 24.5
        (Fraction(1, 3), "0.33", 0),
    ],
)
def test_fps_is_what_imageio_reads_from_ffmpeg_banner(rate, printed, fi):
    assert off.ffmpeg_printed_number(float(rate)) == printed
    assert off.imageio_fps(rate) == float(printed)
    assert off.frame_interval(rate) == fi


def test_constant_rate_video_is_its_own_official_sequence():
    n = 125
    seq = off.cfr_frame_sequence(
        range(0, 512 * n, 512), [512] * n, Fraction(1, 12800), Fraction(25)
    )
    np.testing.assert_array_equal(seq, np.arange(n))
    ntsc = off.cfr_frame_sequence(
        range(0, 1001 * 150, 1001), [1001] * 150, Fraction(1, 30000), Fraction(30000, 1001)
    )
    np.testing.assert_array_equal(ntsc, np.arange(150))


def test_a_video_starting_one_frame_after_its_audio_repeats_its_first_frame():
    # Container start (audio) at 0, first video frame at 40 ms: -vsync cfr fills slot 0
    # with the first frame, so every official index shifts by one frame.
    pts = [40 * (i + 1) for i in range(10)]
    seq = off.cfr_frame_sequence(
        pts, [40] * 10, Fraction(1, 1000), Fraction(25), single_stream=False
    )
    assert seq.tolist() == [0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9]
    # With no other stream in the file ffmpeg uses vscfr, which does not pad the start.
    alone = off.cfr_frame_sequence(
        pts, [40] * 10, Fraction(1, 1000), Fraction(25), single_stream=True
    )
    assert alone.tolist() == list(range(10))


def test_variable_frame_rate_is_resampled_to_the_grid():
    # Frames at 0, 40, 80 ms, then one 200 ms later (a 4-slot gap): the slow frame is
    # shown for its whole duration.
    pts = [0, 40, 80, 280, 320]
    seq = off.cfr_frame_sequence(pts, [40, 40, 200, 40, 40], Fraction(1, 1000), Fraction(25))
    assert seq.tolist() == [0, 1, 2, 2, 2, 2, 2, 3, 4]
    # Without packet durations ffmpeg repeats the earlier frame (rounding the gap down)
    # and shows the late frame one slot early.
    seq = off.cfr_frame_sequence(pts, [0] * 5, Fraction(1, 1000), Fraction(25))
    assert seq.tolist() == [0, 1, 2, 2, 2, 2, 3, 3, 4]
    # Frames denser than the grid are dropped once they lag more than 1.1 slots.
    dense = [10 * i for i in range(10)]
    seq = off.cfr_frame_sequence(dense, [0] * 10, Fraction(1, 1000), Fraction(25))
    assert seq.tolist() == [0, 1, 2, 4, 8]


def test_printed_duration_rounds_to_centiseconds_like_ffmpeg():
    assert off.ffmpeg_printed_duration(5_000_000) == 5.0
    assert off.ffmpeg_printed_duration(5_004_999) == 5.0
    assert off.ffmpeg_printed_duration(5_005_000) == 5.01
    assert off.ffmpeg_printed_duration(3_723_456_000) == 3600 + 120 + 3 + 0.46
    assert off.moviepy_sample_count(5.01) == 80160
    assert off.moviepy_sample_count(5.0) == 80000


def test_moviepy_picking_and_quantisation():
    buf = np.arange(0, 44100 * 2, dtype=np.int64).reshape(-1, 1) % 30000
    buf = np.hstack([buf, -buf]).astype(np.int16)
    out = off.moviepy_pick(buf, 16000)
    assert out.shape == (16000, 2) and out.dtype == np.int16
    n = np.arange(16000)
    idx = np.round(44100 * ((1.0 / 16000) * n)).astype(int)
    np.testing.assert_array_equal(out[:, 0], buf[idx, 0])
    np.testing.assert_array_equal(out[:, 1], buf[idx, 1])
    # Clipping at +-0.99 full scale, then truncation towards zero.
    loud = np.array([[32767, -32768], [100, -100], [1, -1]], dtype=np.int16)
    assert off.moviepy_pick(loud, 3, rate_in=16000).tolist() == [
        [32440, -32440],
        [100, -100],
        [1, -1],
    ]
    # Asking for more than the buffer holds repeats its last sample.
    assert off.moviepy_pick(loud, 5, rate_in=16000)[3:].tolist() == [[1, -1], [1, -1]]
    assert off.moviepy_pick(np.zeros((0, 2), np.int16), 4).shape == (4, 2)
