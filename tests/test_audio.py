"""User stories for the VGGish audio front end (avs_studio.core.audio.logmel)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from avs_studio.core.audio import logmel as audio
from avs_studio.core.errors import AudioError
from avs_studio.core.setting import Setting

LAYOUT_KEYS = {"raw": "raw_examples", "s4": "s4_style", "avss": "avss_style"}
LN_OFFSET = np.float32(np.log(0.01))


@pytest.fixture(scope="module")
def logmel(shared) -> Path:
    """The official log-mel fixtures folder (``shared`` comes from conftest.py)."""
    d = shared / "spec" / "reference" / "logmel"
    if not (d / "cases.json").is_file():
        pytest.skip(f"AVSBench log-mel fixtures not found in {d}")
    return d


@pytest.fixture(scope="module")
def cases(logmel) -> dict:
    return json.loads((logmel / "cases.json").read_text())


def _tone(seconds: float, rate: int, freqs=(440.0, 1250.0, 3100.0), amp=0.25, seed=0):
    """A loud, deterministic test signal: a few tones plus broadband noise."""
    t = np.arange(int(round(seconds * rate))) / rate
    x = sum(amp * np.sin(2 * np.pi * f * t) for f in freqs)
    x = x + 0.05 * np.random.default_rng(seed).standard_normal(t.size)
    return np.clip(x / len(freqs), -1, 1)


# ---------------------------------------------------------------------------------------------
# The official fixtures


ALL_CASES = [
    (clip, layout)
    for clip in ("mono16k_5s", "stereo44k1_5s", "mono16k_3s", "mono16k_10s")
    for layout in ("raw", "s4", "avss")
]


@pytest.mark.parametrize(("clip", "layout"), ALL_CASES)
def test_wav_fixtures_give_the_official_log_mels(logmel, cases, clip, layout):
    case = cases["cases"][clip]
    spec = case[LAYOUT_KEYS[layout]]
    wav = logmel / case["wav"]
    if "error" in spec:
        # The official S4/MS3 script fails on this clip and writes nothing: so do we, clearly.
        with pytest.raises(AudioError, match=r"at most 5") as err:
            audio.log_mel_from_wav(wav, layout=layout)
        assert wav.name in str(err.value)
        return
    ref = np.load(logmel / spec["file"])
    got = audio.log_mel_from_wav(wav, layout=layout)
    assert got.dtype == np.float32
    assert audio.with_channel_axis(got).shape == tuple(spec["shape"]) == ref.shape
    err = np.abs(audio.with_channel_axis(got).astype(np.float64) - ref).max()
    assert err <= cases["tolerance"]["max_abs"], f"{clip}/{layout}: max |error| {err:g}"


@pytest.mark.parametrize("clip", ["mono16k_5s", "stereo44k1_5s", "mono16k_3s", "mono16k_10s"])
def test_float_waveform_of_a_fixture_gives_the_same_examples(logmel, cases, clip):
    # A caller that decoded the audio itself (read_wav: float32 [S, ch]) gets the official arrays.
    case = cases["cases"][clip]
    samples, rate = audio.read_wav(logmel / case["wav"])
    assert samples.shape[1] == case["channels"] and rate == case["sample_rate"]
    ref = np.load(logmel / case["raw_examples"]["file"])[:, 0]
    got = audio.log_mel_examples(samples, rate)
    assert got.shape == ref.shape
    assert np.abs(got.astype(np.float64) - ref).max() <= cases["tolerance"]["max_abs"]


def test_short_clip_is_padded_by_repeating_its_last_example_for_s4_and_zeros_for_avss(logmel):
    wav = logmel / "mono16k_3s.wav"
    raw = audio.log_mel_from_wav(wav)
    s4 = audio.log_mel_from_wav(wav, layout="s4")
    avss = audio.log_mel_from_wav(wav, layout="avss")
    assert raw.shape[0] == 3
    np.testing.assert_array_equal(s4[:3], raw)
    np.testing.assert_array_equal(s4[3], raw[2])
    np.testing.assert_array_equal(s4[4], raw[2])
    np.testing.assert_array_equal(avss[:3], raw)
    # Zero-valued log-mels, which are not silence (silence is ln 0.01).
    assert not avss[3:].any()


def test_stereo_44k1_is_mixed_to_mono_then_resampled_once_with_kaiser_best(logmel, monkeypatch):
    import resampy

    wav = logmel / "stereo44k1_5s.wav"
    ref = np.load(logmel / "stereo44k1_5s.raw.npy")[:, 0]
    calls = []
    real = resampy.resample

    def spy(x, sr_orig, sr_new, *args, **kwargs):
        calls.append((np.shape(x), sr_orig, sr_new, kwargs.get("filter")))
        return real(x, sr_orig, sr_new, *args, **kwargs)

    monkeypatch.setattr(resampy, "resample", spy)
    got = audio.log_mel_from_wav(wav)
    n = sf.info(str(wav)).frames
    # One call on the mono mix (not one per channel), 44.1 kHz -> 16 kHz, kaiser_best.
    assert calls == [((n,), 44100, 16000, "kaiser_best")]
    assert np.abs(got - ref).max() <= 1e-3

    # The fixture's channels differ strongly: the channel mean matters, not just one channel.
    x, rate = audio.read_wav_official(wav)
    left_only = audio.log_mel_examples(x[:, :1], rate)
    assert np.abs(left_only - ref).max() > 0.1
    # ... and so does the filter: resampy's kaiser_fast misses the official arrays.
    fast = real(x.mean(axis=1), rate, 16000, filter="kaiser_fast")
    assert np.abs(audio.log_mel_examples(fast, 16000) - ref).max() > 0.1


# ---------------------------------------------------------------------------------------------
# Example counts, refusals and padding


@pytest.mark.parametrize(
    ("samples", "examples"),
    # From the table in spec/audio.md §4 (E >= k  <=>  S >= 15360 k + 240).
    [
        (240, 0),
        (15_599, 0),
        (15_600, 1),
        (77_040, 5),
        (80_000, 5),
        (92_399, 5),
        (92_400, 6),
        (153_840, 10),
        (160_000, 10),
        (169_199, 10),
        (169_200, 11),
    ],
)
def test_example_count_follows_the_official_boundaries(samples, examples):
    x = np.zeros(samples)
    assert audio.num_examples(samples) == examples
    assert audio.log_mel_examples(x, 16_000).shape == (examples, 96, 64)


def test_input_too_short_for_one_stft_frame_is_refused():
    with pytest.raises(AudioError, match="too short"):
        audio.log_mel_examples(np.zeros(239), 16_000)
    # The limit applies after resampling: 600 samples at 44.1 kHz are 217 at 16 kHz.
    with pytest.raises(AudioError, match="too short"):
        audio.log_mel_examples(np.zeros(600), 44_100)


def test_clip_shorter_than_one_example_per_layout():
    x = _tone(0.5, 16_000)
    assert audio.log_mel_examples(x, 16_000).shape == (0, 96, 64)
    with pytest.raises(AudioError, match="shorter than one VGGish example"):
        audio.log_mel_examples(x, 16_000, layout="s4")
    # The official AVSS path feeds ten zero-valued examples.
    avss = audio.log_mel_examples(x, 16_000, layout="avss")
    assert avss.shape == (10, 96, 64) and not avss.any()


def test_clips_too_long_for_the_layout_are_refused_not_truncated():
    six = np.zeros(92_400)
    assert audio.log_mel_examples(six, 16_000).shape[0] == 6
    with pytest.raises(AudioError, match="at most 5"):
        audio.log_mel_examples(six, 16_000, layout="s4")
    eleven = np.zeros(169_200)
    with pytest.raises(AudioError, match="at most 10"):
        audio.log_mel_examples(eleven, 16_000, layout="avss")


def test_layout_accepts_the_setting_names():
    x = _tone(2.0, 16_000)
    s4 = audio.log_mel_examples(x, 16_000, layout="s4")
    np.testing.assert_array_equal(audio.log_mel_examples(x, 16_000, layout="ms3"), s4)
    np.testing.assert_array_equal(audio.log_mel_examples(x, 16_000, layout=Setting.MS3), s4)
    assert audio.log_mel_examples(x, 16_000, layout=Setting.AVSS).shape == (10, 96, 64)
    with pytest.raises(ValueError, match="unknown layout"):
        audio.log_mel_examples(x, 16_000, layout="s5")


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nan_or_infinite_samples_are_refused(bad):
    x = _tone(1.0, 16_000)
    x[1234] = bad
    with pytest.raises(AudioError, match="NaN or infinite"):
        audio.log_mel_examples(x, 16_000)


@pytest.mark.parametrize(
    ("waveform", "rate", "message"),
    [
        (np.zeros(16_000, dtype=np.int16), 16_000, "float samples"),
        (np.zeros((2, 2, 16_000)), 16_000, "shape"),
        (np.zeros((2, 16_000)), 16_000, "looks like"),
        (np.zeros(0), 16_000, "no samples"),
        (np.zeros(16_000), 0, "sample rate"),
        (np.zeros(16_000), float("nan"), "sample rate"),
    ],
)
def test_malformed_waveforms_are_refused_with_a_reason(waveform, rate, message):
    with pytest.raises(AudioError, match=message):
        audio.log_mel_examples(waveform, rate)


def test_digital_silence_maps_to_ln_of_the_offset():
    out = audio.log_mel_examples(np.zeros(16_000), 16_000)
    assert out.shape == (1, 96, 64)
    np.testing.assert_array_equal(out, np.full_like(out, LN_OFFSET))


def test_examples_are_independent_of_the_chunking_of_long_inputs():
    # Example i covers 16 kHz samples [15360 i, 15360 i + 15600) and nothing else, also past the
    # internal chunk boundary of long signals.
    x = _tone(70 * 0.96 + 0.1, 16_000)
    long = audio.log_mel_examples(x, 16_000)
    assert long.shape[0] == 70
    for i in (0, 63, 64, 69):
        alone = audio.log_mel_examples(x[15_360 * i : 15_360 * i + 15_600], 16_000)
        np.testing.assert_array_equal(long[i], alone[0])


# ---------------------------------------------------------------------------------------------
# Float waveforms and files agree


def test_float_waveform_equals_the_same_samples_written_as_pcm16(tmp_path):
    rng = np.random.default_rng(3)
    # Samples on the int16 grid: the file stores them exactly.
    x = np.round(_tone(2.5, 16_000) * 32768) / 32768
    x = np.stack([x, np.roll(x, 17) * rng.uniform(0.5, 1)], axis=1)
    x = np.round(x * 32768) / 32768
    path = tmp_path / "clip.wav"
    audio.write_wav(path, x, 16_000)
    from_file = audio.log_mel_from_wav(path)
    np.testing.assert_allclose(from_file, audio.log_mel_examples(x, 16_000), rtol=0, atol=1e-6)

    # Arbitrary floats differ only by int16 quantisation noise (std 2**-16 / sqrt(3)), about
    # 65 dB below the weakest band of this signal (its noise floor has std 0.017): a relative
    # magnitude error of ~5e-4, i.e. a few 1e-3 at most in ln(mel).
    y = _tone(2.5, 22_050, seed=5)
    path = tmp_path / "clip22k.wav"
    audio.write_wav(path, y, 22_050)
    diff = np.abs(audio.log_mel_from_wav(path) - audio.log_mel_examples(y, 22_050))
    assert diff.max() <= 1e-2 and diff.mean() <= 1e-3


def test_8khz_recording_is_upsampled_and_has_nothing_above_4khz():
    x = _tone(3.0, 8_000, freqs=(500.0, 1500.0), seed=1)
    out = audio.log_mel_examples(x, 8_000)
    assert out.shape == (3, 96, 64)
    np.testing.assert_array_equal(out, audio.log_mel_examples(audio.to_16k_mono(x, 8_000), 16_000))
    # Bands whose lower edge is above 4.1 kHz hold only the resampler's stop-band residue.
    edges_hz = 700 * (
        np.exp(np.linspace(1127 * np.log1p(125 / 700), 1127 * np.log1p(7500 / 700), 66) / 1127) - 1
    )
    high = edges_hz[:-2] > 4_100
    low = edges_hz[2:] < 3_500
    assert high.any() and low.any()
    assert out[:, :, high].mean() < LN_OFFSET + 0.5
    assert out[:, :, low].mean() > LN_OFFSET + 3


def test_pcm24_and_pcm16_files_of_the_same_signal_agree(tmp_path):
    x = _tone(2.0, 16_000)
    audio.write_wav(tmp_path / "a16.wav", x, 16_000, subtype="PCM_16")
    audio.write_wav(tmp_path / "a24.wav", x, 16_000, subtype="PCM_24")
    a = audio.log_mel_from_wav(tmp_path / "a16.wav")
    b = audio.log_mel_from_wav(tmp_path / "a24.wav")
    assert np.abs(a - b).max() <= 1e-3


def test_float_wav_is_refused_by_the_official_reader_unless_asked(tmp_path):
    path = tmp_path / "float.wav"
    sf.write(path, _tone(1.5, 16_000), 16_000, subtype="FLOAT")
    with pytest.raises(AudioError, match="without scaling") as err:
        audio.log_mel_from_wav(path)
    assert "float.wav" in str(err.value)
    # The official reader turns every |sample| < 0.5 into 0: the clip becomes silence.
    official = audio.log_mel_from_wav(path, allow_unscaled_float=True)
    np.testing.assert_array_equal(official, np.full_like(official, LN_OFFSET))
    # The general reader scales properly and hears the tones.
    samples, rate = audio.read_wav(path)
    assert audio.log_mel_examples(samples, rate).max() > LN_OFFSET + 3


# ---------------------------------------------------------------------------------------------
# Helpers used by the media module and the engine


def test_signal_helpers():
    rng = np.random.default_rng(7)
    stereo = rng.uniform(-0.5, 0.5, size=(4_410, 2)).astype(np.float32)
    mono = audio.to_mono(stereo)
    assert mono.dtype == np.float64 and mono.shape == (4_410,)
    np.testing.assert_allclose(mono, stereo.astype(np.float64).mean(axis=1))
    # Multichannel resampling resamples every channel alike.
    both = audio.resample(stereo, 44_100, 16_000)
    assert both.shape == (1_600, 2) and both.dtype == np.float64
    np.testing.assert_allclose(both[:, 1], audio.resample(stereo[:, 1], 44_100, 16_000))
    # Same rate: returned unchanged.
    np.testing.assert_array_equal(audio.resample(mono, 16_000, 16_000), mono)
    np.testing.assert_allclose(
        audio.to_16k_mono(stereo, 44_100), audio.resample(mono, 44_100, 16_000)
    )
    with pytest.raises(AudioError, match="cannot resample"):
        audio.resample(np.zeros(2), 44_100, 16_000)


def test_mel_matrix_is_the_official_htk_triangle_bank():
    w = audio.mel_weight_matrix()
    assert w.shape == (257, 64)
    assert not w[0].any()
    nonzero_bins = np.flatnonzero(w.any(axis=1))
    assert (nonzero_bins.min(), nonzero_bins.max()) == (5, 239)  # spec/audio.md §3
    assert w.max() <= 1.0
    win = audio.periodic_hann()
    assert win.shape == (400,) and win[0] == 0 and win[200] == 1.0  # periodic, not symmetric
