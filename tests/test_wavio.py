"""User stories for WAV reading and writing (avs_studio.core.media.wavio)."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from avs_studio.core.errors import AudioError
from avs_studio.core.media import wavio


def _grid_signal(frames: int, channels: int) -> np.ndarray:
    """Samples k/128, exactly representable in every WAV sample format; channels differ."""
    k = (np.arange(frames) * 37 % 256) - 128
    x = np.stack([np.roll(k, 11 * c) for c in range(channels)], axis=1) / 128.0
    return x


@pytest.mark.parametrize("subtype", ["PCM_U8", "PCM_16", "PCM_24", "PCM_32", "FLOAT", "DOUBLE"])
@pytest.mark.parametrize("channels", [1, 2, 6])
def test_every_sample_format_and_channel_count_reads_as_float_in_unit_range(
    tmp_path, subtype, channels
):
    x = _grid_signal(1_000, channels)
    path = tmp_path / f"{subtype}_{channels}.wav"
    sf.write(path, x, 22_050, subtype=subtype)
    data, rate = wavio.read_wav(path)
    assert rate == 22_050
    assert data.dtype == np.float32 and data.shape == (1_000, channels)
    assert data.min() >= -1.0 and data.max() <= 1.0
    np.testing.assert_array_equal(data, x.astype(np.float32))


def test_integer_full_scale_maps_to_minus_one_and_just_below_one(tmp_path):
    path = tmp_path / "fs.wav"
    sf.write(path, np.array([-32768, 32767, 0], dtype=np.int16), 16_000, subtype="PCM_16")
    data, _ = wavio.read_wav(path)
    np.testing.assert_array_equal(data[:, 0], [-1.0, 32767 / 32768, 0.0])
    path32 = tmp_path / "fs32.wav"
    ints = np.array([-(2**31), 2**31 - 1, 1], dtype=np.int32)
    sf.write(path32, ints, 16_000, subtype="PCM_32")
    data32, _ = wavio.read_wav(path32)
    assert data32.min() == -1.0 and data32.max() <= 1.0


def test_eight_bit_wav_is_unsigned_around_128(tmp_path):
    path = tmp_path / "u8.wav"
    sf.write(path, np.array([-1.0, 0.0, 0.5, 127 / 128]), 8_000, subtype="PCM_U8")
    blob = path.read_bytes()
    start = blob.index(b"data") + 8  # the data chunk holds one unsigned byte per sample
    assert list(blob[start : start + 4]) == [0, 128, 192, 255]
    data, rate = wavio.read_wav(path)
    np.testing.assert_array_equal(data[:, 0], [-1.0, 0.0, 0.5, 127 / 128])
    assert rate == 8_000


def test_float_wav_beyond_full_scale_is_clipped(tmp_path):
    path = tmp_path / "hot.wav"
    sf.write(path, np.array([1.5, -2.0, 0.25], dtype=np.float32), 16_000, subtype="FLOAT")
    data, _ = wavio.read_wav(path)
    np.testing.assert_array_equal(data[:, 0], [1.0, -1.0, 0.25])


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_nan_or_infinite_float_wav_is_refused_by_both_readers(tmp_path, bad):
    path = tmp_path / "nan.wav"
    x = np.zeros((100, 2), dtype=np.float32)
    x[50:, 1] = bad
    sf.write(path, x, 16_000, subtype="FLOAT")
    with pytest.raises(AudioError, match="NaN or infinite") as err:
        wavio.read_wav(path)
    assert "nan.wav" in str(err.value)
    with pytest.raises(AudioError, match="NaN or infinite"):
        wavio.read_wav_official(path, allow_unscaled_float=True)


def test_zero_length_wav_is_refused(tmp_path):
    path = tmp_path / "empty.wav"
    sf.write(path, np.zeros((0, 2)), 16_000, subtype="PCM_16")
    for reader in (wavio.read_wav, wavio.read_wav_official):
        with pytest.raises(AudioError, match="no audio samples") as err:
            reader(path)
        assert "empty.wav" in str(err.value)


def test_zero_byte_file_is_refused(tmp_path):
    path = tmp_path / "nothing.wav"
    path.write_bytes(b"")
    with pytest.raises(AudioError, match=r"nothing\.wav.*empty"):
        wavio.read_wav(path)


def test_file_that_is_not_audio_is_refused_by_name(tmp_path):
    path = tmp_path / "notes.wav"
    path.write_text("this is a text file, not audio\n" * 20)
    with pytest.raises(AudioError, match=r"notes\.wav is not a readable WAV file"):
        wavio.read_wav(path)
    with pytest.raises(AudioError, match=r"notes\.wav"):
        wavio.read_wav_official(path)


def test_other_audio_formats_are_not_taken_for_wav(tmp_path):
    path = tmp_path / "clip.flac"
    sf.write(path, np.zeros(1_000), 16_000, format="FLAC")
    with pytest.raises(AudioError, match=r"clip\.flac is not a WAV file \(it is FLAC"):
        wavio.read_wav(path)


def test_missing_file_and_folder_are_refused(tmp_path):
    with pytest.raises(AudioError, match="not found"):
        wavio.read_wav(tmp_path / "missing.wav")
    with pytest.raises(AudioError, match="not a file"):
        wavio.read_wav(tmp_path)


def test_official_reader_keeps_16_bits_and_scales_by_32768(tmp_path):
    # A 24-bit sample just above 0.5: the official int16 read drops the low 8 bits.
    path = tmp_path / "hi.wav"
    sf.write(path, np.array([0.5 + 2.0**-23, -0.25]), 16_000, subtype="PCM_24")
    x, rate = wavio.read_wav_official(path)
    assert x.dtype == np.float64 and x.shape == (2,) and rate == 16_000
    np.testing.assert_array_equal(x, [0.5, -0.25])
    # Stereo keeps its channel axis; values are whole multiples of 1/32768.
    path2 = tmp_path / "st.wav"
    sf.write(path2, _grid_signal(500, 2), 44_100, subtype="PCM_16")
    y, rate2 = wavio.read_wav_official(path2)
    assert y.shape == (500, 2) and rate2 == 44_100
    np.testing.assert_array_equal(y * 32768, np.round(y * 32768))


def test_official_reader_refuses_float_wavs_it_would_hear_as_silence(tmp_path):
    path = tmp_path / "f.wav"
    sf.write(path, np.array([0.4, -0.4, 1.0]), 16_000, subtype="FLOAT")
    with pytest.raises(AudioError, match="without scaling"):
        wavio.read_wav_official(path)
    x, _ = wavio.read_wav_official(path, allow_unscaled_float=True)
    np.testing.assert_array_equal(x * 32768, [0, 0, 1])


# ---------------------------------------------------------------------------------------------
# Writing


@pytest.mark.parametrize(
    ("subtype", "step"), [("PCM_16", 2**-15), ("PCM_24", 2**-23), ("FLOAT", 0.0)]
)
def test_write_then_read_round_trips(tmp_path, subtype, step):
    rng = np.random.default_rng(0)
    x = rng.uniform(-0.9, 0.9, size=(2_000, 3))
    path = tmp_path / "out.wav"
    wavio.write_wav(path, x, 48_000, subtype=subtype)
    back, rate = wavio.read_wav(path)
    assert rate == 48_000 and back.shape == (2_000, 3)
    assert np.abs(back - x).max() <= max(step, 1e-7)
    assert sf.info(str(path)).subtype == subtype


def test_write_clips_to_full_scale_and_leaves_no_temporaries(tmp_path):
    path = tmp_path / "sub" / "clip.wav"
    wavio.write_wav(path, np.array([2.0, -3.0, 0.5]), 16_000)
    back, _ = wavio.read_wav(path)
    np.testing.assert_array_equal(back[:, 0], [32767 / 32768, -1.0, 0.5])
    assert [p.name for p in path.parent.iterdir()] == ["clip.wav"]


def test_failed_write_keeps_the_previous_file(tmp_path):
    path = tmp_path / "keep.wav"
    wavio.write_wav(path, np.full(100, 0.25), 16_000)
    before = path.read_bytes()
    with pytest.raises(AudioError, match="NaN"):
        wavio.write_wav(path, np.array([0.1, np.nan]), 16_000)
    with pytest.raises(AudioError, match="not a WAV subtype"):
        wavio.write_wav(path, np.zeros(10), 16_000, subtype="VORBIS")
    with pytest.raises(AudioError, match="sample rate"):
        wavio.write_wav(path, np.zeros(10), -5)
    with pytest.raises(AudioError, match="samples must be"):
        wavio.write_wav(path, np.zeros((2, 2, 2)), 16_000)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["keep.wav"]
