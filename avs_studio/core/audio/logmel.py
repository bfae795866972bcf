"""The VGGish audio front end of AVSBench: waveform -> log-mel examples, exactly as official.

Pipeline (``spec/audio.md`` §2-4), float64 throughout and cast to float32 at the end:

1. mono mix-down (mean over channels) *before* resampling;
2. resampling to 16 kHz with resampy's ``kaiser_best`` filter, only when the rate differs;
3. frames of 400 samples every 160 (no padding), periodic Hann window, ``|rfft(frame, 512)|``;
4. 64 HTK mel bands 125-7500 Hz (triangles in mel, peak 1, no area normalisation, DC weight 0);
5. ``ln(mel + 0.01)``;
6. non-overlapping examples of 96 frames; trailing frames that do not fill one are dropped.

Example ``i`` covers 16 kHz samples ``[15360 i, 15360 i + 15600)``. Results are ``[K, 96, 64]``
(example, 10-ms frame, mel band low to high); :func:`with_channel_axis` gives the official
VGGish input ``[K, 1, 96, 64]``.

Layouts: ``"raw"`` (all whole examples), ``"s4"`` (also ``"ms3"``; the S4/MS3 preprocessing:
exactly 5, short clips padded by repeating the last example, clips with 0 or more than 5
examples refused as the official script fails on them), ``"avss"`` (the AVSS path: zero-valued
examples up to 10, more than 10 refused as the official code crashes).

resampy (and numba, which it imports) is loaded only when a signal actually needs resampling;
the first resampling in a process JIT-compiles resampy's kernel (about a second).
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

import numpy as np

from avs_studio.core.audio.pickles import load_numeric_pickle
from avs_studio.core.errors import AudioError
from avs_studio.core.media.wavio import read_wav, read_wav_official, write_wav
from avs_studio.core.setting import Setting

__all__ = [
    "EXAMPLE_FRAMES",
    "EXAMPLE_HOP_SAMPLES",
    "LOGMEL_PICKLE_SHAPE",
    "MIN_SAMPLES",
    "NUM_MEL_BANDS",
    "SAMPLE_RATE",
    "load_logmel_pickle",
    "log_mel_examples",
    "log_mel_from_wav",
    "mel_weight_matrix",
    "num_examples",
    "periodic_hann",
    "read_wav",
    "read_wav_official",
    "resample",
    "to_16k_mono",
    "to_mono",
    "with_channel_axis",
    "write_wav",
]

SAMPLE_RATE = 16_000
STFT_WINDOW = 400  # 0.025 s
STFT_HOP = 160  # 0.010 s
FFT_LENGTH = 512
NUM_MEL_BANDS = 64
MEL_LOW_HZ = 125.0
MEL_HIGH_HZ = 7500.0
LOG_OFFSET = 0.01
EXAMPLE_FRAMES = 96  # 0.96 s of 10-ms frames, examples do not overlap
EXAMPLE_HOP_SAMPLES = EXAMPLE_FRAMES * STFT_HOP  # 15360
#: Below this many 16 kHz samples the official framing fails (negative frame count).
MIN_SAMPLES = STFT_WINDOW - STFT_HOP  # 240
#: Shape of one official S4/MS3 ``audio_log_mel/*.pkl`` tensor.
LOGMEL_PICKLE_SHAPE = (5, 1, EXAMPLE_FRAMES, NUM_MEL_BANDS)

_LAYOUTS = {"raw": "raw", "s4": "s4", "ms3": "s4", "avss": "avss"}
_S4_EXAMPLES = 5
_AVSS_EXAMPLES = 10
_CHUNK_EXAMPLES = 64  # bounds memory on long inputs (64 examples ~ 25 MB of spectra)


@functools.lru_cache(maxsize=1)
def periodic_hann() -> np.ndarray:
    """The periodic Hann window of 400 samples, ``0.5 - 0.5 cos(2 pi n / 400)`` (read-only)."""
    w = 0.5 - 0.5 * np.cos(2.0 * np.pi / STFT_WINDOW * np.arange(STFT_WINDOW))
    w.flags.writeable = False
    return w


def _hz_to_mel(hz: np.ndarray | float) -> np.ndarray:
    return 1127.0 * np.log(1.0 + np.asarray(hz, dtype=np.float64) / 700.0)


@functools.lru_cache(maxsize=1)
def mel_weight_matrix() -> np.ndarray:
    """The official ``[257, 64]`` mel weight matrix (HTK scale, 125-7500 Hz; read-only)."""
    bins_mel = _hz_to_mel(np.linspace(0.0, SAMPLE_RATE / 2, FFT_LENGTH // 2 + 1))[:, None]
    edges = np.linspace(_hz_to_mel(MEL_LOW_HZ), _hz_to_mel(MEL_HIGH_HZ), NUM_MEL_BANDS + 2)
    lower, centre, upper = edges[:-2], edges[1:-1], edges[2:]
    rising = (bins_mel - lower) / (centre - lower)
    falling = (upper - bins_mel) / (upper - centre)
    w = np.maximum(0.0, np.minimum(rising, falling))
    w[0, :] = 0.0  # the DC bin carries no band energy
    w.flags.writeable = False
    return w


def num_examples(num_samples_16k: int) -> int:
    """Whole VGGish examples in a 16 kHz signal of this length (0 below 15,600 samples)."""
    if num_samples_16k < STFT_WINDOW:
        return 0
    frames = 1 + (num_samples_16k - STFT_WINDOW) // STFT_HOP
    return max(0, 1 + (frames - EXAMPLE_FRAMES) // EXAMPLE_FRAMES)


def with_channel_axis(examples: np.ndarray) -> np.ndarray:
    """``[K, 96, 64]`` -> the official VGGish input layout ``[K, 1, 96, 64]`` (a view)."""
    return np.asarray(examples)[:, None, :, :]


# --------------------------------------------------------------------------------------------
# Signal helpers shared with the media module and the engine.


def _as_signal(x: object, what: str) -> np.ndarray:
    a = np.asarray(x)
    if a.dtype.kind != "f":
        raise AudioError(
            f"{what}: expected float samples in [-1, 1], got {a.dtype} "
            "(divide int16 PCM by 32768.0 first)"
        )
    if a.ndim not in (1, 2):
        raise AudioError(f"{what}: expected samples [S] or [S, channels], got shape {a.shape}")
    if a.ndim == 2 and (a.shape[1] == 0 or (a.shape[1] > a.shape[0] and a.shape[1] > 64)):
        raise AudioError(
            f"{what}: shape {a.shape} looks like [channels, samples]; pass [samples, channels]"
        )
    if a.shape[0] == 0:
        raise AudioError(f"{what}: the signal holds no samples")
    if not np.isfinite(a).all():
        raise AudioError(f"{what}: the signal holds NaN or infinite samples")
    return a


def _check_rate(rate: object, what: str) -> int | float:
    try:
        r = float(rate)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise AudioError(f"{what}: invalid sample rate {rate!r}") from None
    if not np.isfinite(r) or r <= 0:
        raise AudioError(f"{what}: invalid sample rate {rate!r}")
    return int(r) if r.is_integer() else r


def to_mono(x: np.ndarray) -> np.ndarray:
    """Mix ``[S]`` or ``[S, channels]`` float samples down to float64 ``[S]`` (channel mean)."""
    a = np.asarray(x, dtype=np.float64)
    if a.ndim == 1:
        return a
    if a.ndim != 2:
        raise AudioError(f"expected samples [S] or [S, channels], got shape {a.shape}")
    return a.mean(axis=1)


def resample(x: np.ndarray, rate_in: float, rate_out: float) -> np.ndarray:
    """Resample ``[S]`` or ``[S, channels]`` along time with resampy's ``kaiser_best`` filter.

    Returns float64 (the input unchanged, as float64, when the rates are equal).
    """
    a = np.asarray(x, dtype=np.float64)
    r_in = _check_rate(rate_in, "resample")
    r_out = _check_rate(rate_out, "resample")
    if r_in == r_out:
        return a
    import resampy  # imports numba (slow): only when a signal really needs resampling

    try:
        return resampy.resample(a, r_in, r_out, axis=0, filter="kaiser_best")
    except ValueError as e:
        raise AudioError(
            f"cannot resample {a.shape[0]} samples from {r_in} to {r_out} Hz: {e}"
        ) from None


def to_16k_mono(x: np.ndarray, rate: float) -> np.ndarray:
    """Float64 mono 16 kHz signal for the VGGish front end: mix down first, then resample."""
    return resample(to_mono(x), rate, SAMPLE_RATE)


# --------------------------------------------------------------------------------------------
# Log-mel examples.


def _parse_layout(layout: str | Setting) -> str:
    key = layout.value if isinstance(layout, Setting) else str(layout).lower()
    try:
        return _LAYOUTS[key]
    except KeyError:
        raise ValueError(
            f"unknown layout {layout!r}: expected 'raw', 's4', 'ms3' or 'avss'"
        ) from None


def _log_mel_frames(x: np.ndarray, n_frames: int) -> np.ndarray:
    """``[n_frames, 64]`` float64 log-mel of the first ``n_frames`` STFT frames of ``x``."""
    frames = np.lib.stride_tricks.sliding_window_view(x, STFT_WINDOW)[::STFT_HOP][:n_frames]
    spectrum = np.abs(np.fft.rfft(frames * periodic_hann(), FFT_LENGTH, axis=-1))
    return np.log(spectrum @ mel_weight_matrix() + LOG_OFFSET)


def _examples_16k(x: np.ndarray, layout: str, source: str) -> np.ndarray:
    n = x.shape[0]
    seconds = n / SAMPLE_RATE
    if n < MIN_SAMPLES:
        raise AudioError(
            f"{source}: {n} samples at 16 kHz ({seconds * 1000:.1f} ms) are too short for the "
            f"VGGish front end (the official code fails below {MIN_SAMPLES} samples, 15 ms)"
        )
    k = num_examples(n)
    if layout == "s4" and not 1 <= k <= _S4_EXAMPLES:
        if k == 0:
            raise AudioError(
                f"{source}: {seconds:.3f} s of audio is shorter than one VGGish example "
                "(0.975 s); the official S4/MS3 preprocessing fails on it and writes no "
                "log-mel file"
            )
        raise AudioError(
            f"{source}: {seconds:.3f} s of audio gives {k} VGGish examples; the official S4/MS3 "
            f"preprocessing accepts at most {_S4_EXAMPLES} (audio shorter than 5.775 s) and "
            "writes no log-mel file for longer clips. Trim the clip to 5 s"
        )
    if layout == "avss" and k > _AVSS_EXAMPLES:
        raise AudioError(
            f"{source}: {seconds:.3f} s of audio gives {k} VGGish examples; the official AVSS "
            f"path takes at most {_AVSS_EXAMPLES} (audio shorter than 10.575 s) and crashes on "
            "longer clips. Trim the clip to 10 s"
        )
    total = {"raw": k, "s4": _S4_EXAMPLES, "avss": _AVSS_EXAMPLES}[layout]
    out = np.zeros((total, EXAMPLE_FRAMES, NUM_MEL_BANDS), dtype=np.float32)
    for start in range(0, k, _CHUNK_EXAMPLES):
        stop = min(k, start + _CHUNK_EXAMPLES)
        first = start * EXAMPLE_HOP_SAMPLES
        last = (stop - 1) * EXAMPLE_HOP_SAMPLES + STFT_HOP * (EXAMPLE_FRAMES - 1) + STFT_WINDOW
        logmel = _log_mel_frames(x[first:last], (stop - start) * EXAMPLE_FRAMES)
        out[start:stop] = logmel.reshape(stop - start, EXAMPLE_FRAMES, NUM_MEL_BANDS)
    if layout == "s4":
        out[k:] = out[k - 1]  # the official S4/MS3 cache repeats the last example
    return out


def log_mel_examples(
    waveform: np.ndarray, sample_rate: float, *, layout: str | Setting = "raw"
) -> np.ndarray:
    """Official VGGish log-mel examples ``[K, 96, 64]`` float32 of a float waveform.

    ``waveform`` is ``[S]`` or ``[S, channels]`` float in [-1, 1] at any ``sample_rate``
    (mixed down, then resampled to 16 kHz with kaiser_best when needed). ``layout`` is
    ``"raw"`` (K = all whole examples), ``"s4"``/``"ms3"`` (K = 5, repeat-last padding) or
    ``"avss"`` (K = 10, zero padding); see the module docstring. Raises :class:`AudioError` for
    NaN/inf samples, signals shorter than 240 samples at 16 kHz, and clips the chosen layout's
    official code refuses. Use :func:`with_channel_axis` for ``[K, 1, 96, 64]``.
    """
    kind = _parse_layout(layout)
    rate = _check_rate(sample_rate, "audio")
    x = _as_signal(waveform, "audio")
    return _examples_16k(to_16k_mono(x, rate), kind, "audio")


def log_mel_from_wav(
    path: str | os.PathLike[str],
    *,
    layout: str | Setting = "raw",
    allow_unscaled_float: bool = False,
) -> np.ndarray:
    """Official VGGish log-mel examples ``[K, 96, 64]`` float32 of a WAV file.

    Reads the file like the official code (:func:`read_wav_official`: int16 ``/ 32768``),
    then the same pipeline and layouts as :func:`log_mel_examples`. Floating-point WAVs are
    refused unless ``allow_unscaled_float=True`` (the official reader does not scale them).
    """
    kind = _parse_layout(layout)
    samples, rate = read_wav_official(path, allow_unscaled_float=allow_unscaled_float)
    return _examples_16k(to_16k_mono(samples, rate), kind, str(Path(path)))


def load_logmel_pickle(
    path: str | os.PathLike[str],
    *,
    expect_shape: tuple[int, ...] | None = LOGMEL_PICKLE_SHAPE,
) -> np.ndarray:
    """Read an official S4/MS3 ``audio_log_mel/*.pkl`` as float32 ``[5, 1, 96, 64]``, safely.

    The file is a ``pickle.dump`` of a torch tensor; it is rebuilt by a restricted unpickler
    that neither imports torch nor runs anything the file names (see
    :mod:`avs_studio.core.audio.pickles`); pickled numpy arrays and ``torch.save`` files are
    accepted too. A file that would run code, is unreadable, holds a non-numeric or non-finite
    array, or (unless ``expect_shape=None``) has another shape raises :class:`AudioError`.
    """
    arr = load_numeric_pickle(path, error=AudioError)
    if arr.dtype.kind not in "biuf":
        raise AudioError(f"{path} holds {arr.dtype} values, not log-mel features")
    if expect_shape is not None and tuple(arr.shape) != tuple(expect_shape):
        raise AudioError(
            f"{path} holds an array of shape {list(arr.shape)}; an official log-mel file holds "
            f"{list(expect_shape)}"
        )
    out = arr.astype(np.float32)
    if not np.isfinite(out).all():
        raise AudioError(f"{path} holds NaN or infinite log-mel values")
    return out
