"""WAV file reading and writing: a general reader, the official VGGish reader, a safe writer.

Two readers, because they answer different questions:

* :func:`read_wav` gives the signal as it is meant to sound: float32 ``[S, channels]`` in
  [-1, 1] from any WAV sample format (8-bit unsigned, 16/24/32-bit integer, 32/64-bit float,
  and the compressed WAV codecs libsndfile decodes).
* :func:`read_wav_official` reproduces the official AVSBench/VGGish reader bit for bit:
  soundfile asked for **int16** whatever the file holds, then ``/ 32768.0`` in float64.
  libsndfile converts integer formats to int16 by dropping low bits, but converts
  floating-point files *without scaling* (0.5 becomes 0, 1.0 becomes 1), so the official
  reader hears a float WAV as near-silence. That path is refused unless asked for.

All user-caused problems (missing file, not a WAV, no samples, NaN samples) raise
:class:`~avs_studio.core.errors.AudioError` naming the file.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import soundfile as sf

from avs_studio.core.errors import AudioError
from avs_studio.core.fsutil import atomic_path, require_regular_file

__all__ = ["WAV_FORMATS", "read_wav", "read_wav_official", "write_wav"]

#: libsndfile major formats that are RIFF/WAVE files (plain, extensible, 64-bit RF64).
WAV_FORMATS = frozenset({"WAV", "WAVEX", "RF64"})

_FLOAT_SUBTYPES = frozenset({"FLOAT", "DOUBLE"})


def _open(path: str | os.PathLike[str]) -> sf.SoundFile:
    """Open ``path`` for reading and make sure it is a WAV file with at least one sample."""
    p = Path(path)
    if not p.exists():
        raise AudioError(f"audio file not found: {p}")
    if not p.is_file():
        raise AudioError(f"{p} is not a file")
    require_regular_file(p, AudioError, "WAV file")  # is_file() follows links: still a regular file
    try:
        f = sf.SoundFile(p)
    except (sf.SoundFileError, RuntimeError, OSError) as e:
        size = p.stat().st_size
        why = "the file is empty (0 bytes)" if size == 0 else f"soundfile says: {e}"
        raise AudioError(f"{p} is not a readable WAV file ({why})") from None
    if f.format not in WAV_FORMATS:
        fmt = f.format_info
        f.close()
        raise AudioError(
            f"{p} is not a WAV file (it is {fmt}); convert it to WAV or open it as a media file"
        )
    if f.frames == 0:
        f.close()
        raise AudioError(f"{p} holds no audio samples (a zero-length WAV)")
    return f


def _check_finite(data: np.ndarray, path: Path) -> None:
    if not np.isfinite(data).all():
        bad = int(np.size(data) - np.count_nonzero(np.isfinite(data)))
        raise AudioError(
            f"{path} holds {bad} NaN or infinite sample(s); the file is corrupt or was written "
            "from an invalid signal"
        )


def read_wav(path: str | os.PathLike[str]) -> tuple[np.ndarray, int]:
    """Read any WAV file as float32 ``[S, channels]`` in [-1, 1] and its sample rate.

    Integer formats are scaled by libsndfile (``x / 2**(bits-1)``; 8-bit is unsigned
    around 128). Floating-point files are returned as stored but clipped to [-1, 1]; NaN or
    infinite samples raise :class:`AudioError`.
    """
    p = Path(path)
    with _open(p) as f:
        try:
            data = f.read(dtype="float32", always_2d=True)
        except (sf.SoundFileError, RuntimeError) as e:
            raise AudioError(f"{p} could not be decoded: {e}") from None
        subtype = f.subtype
        rate = int(f.samplerate)
    if data.shape[0] == 0:
        raise AudioError(f"{p} holds no audio samples")
    if subtype in _FLOAT_SUBTYPES:
        _check_finite(data, p)
        # Float WAVs may legitimately exceed full scale; the contract promises [-1, 1].
        np.clip(data, -1.0, 1.0, out=data)
    return data, rate


def read_wav_official(
    path: str | os.PathLike[str], *, allow_unscaled_float: bool = False
) -> tuple[np.ndarray, int]:
    """Read a WAV exactly like the official VGGish reader: int16 samples ``/ 32768.0``.

    Returns float64 samples, ``[S]`` for mono and ``[S, channels]`` otherwise (as soundfile
    gives them), and the file's sample rate.

    The official reader converts floating-point WAVs to int16 *without scaling*, which
    turns them into near-silence. Such files raise :class:`AudioError` unless
    ``allow_unscaled_float=True`` asks for that official behaviour; NaN or infinite samples
    are refused either way.
    """
    p = Path(path)
    with _open(p) as f:
        try:
            if f.subtype in _FLOAT_SUBTYPES:
                if not allow_unscaled_float:
                    raise AudioError(
                        f"{p} stores floating-point samples ({f.subtype}); the official "
                        "reader converts them to int16 without scaling and would hear "
                        "near-silence. Convert the file to 16-bit PCM (or pass "
                        "allow_unscaled_float=True to reproduce the official result)"
                    )
                _check_finite(f.read(dtype="float64"), p)
                f.seek(0)
            pcm = f.read(dtype="int16")
        except (sf.SoundFileError, RuntimeError) as e:
            raise AudioError(f"{p} could not be decoded: {e}") from None
        rate = int(f.samplerate)
    return pcm / 32768.0, rate


def write_wav(
    path: str | os.PathLike[str],
    samples: np.ndarray,
    rate: int,
    subtype: str = "PCM_16",
) -> None:
    """Write ``samples`` (``[S]`` or ``[S, channels]``, float in [-1, 1]) as a WAV file.

    The file appears atomically (a temporary file renamed into place), so an interrupted
    write never leaves half a WAV. Floats are clipped to [-1, 1] before integer encoding;
    int16/int32 arrays are written as full-scale integer PCM values. ``subtype`` is any
    libsndfile WAV subtype: PCM_U8, PCM_16, PCM_24, PCM_32, FLOAT, DOUBLE, ...
    """
    x = np.asarray(samples)
    if x.ndim not in (1, 2) or (x.ndim == 2 and x.shape[1] == 0):
        raise AudioError(
            f"cannot write {path}: samples must be [S] or [S, channels], got {x.shape}"
        )
    if x.dtype.kind == "f":
        if not np.isfinite(x).all():
            raise AudioError(f"cannot write {path}: the signal holds NaN or infinite samples")
    elif x.dtype not in (np.dtype(np.int16), np.dtype(np.int32)):
        raise AudioError(f"cannot write {path}: unsupported sample type {x.dtype}")
    st = str(subtype).upper()
    if not sf.check_format("WAV", st):
        valid = ", ".join(sorted(sf.available_subtypes("WAV")))
        raise AudioError(f"cannot write {path}: {subtype!r} is not a WAV subtype ({valid})")
    try:
        rate_i = int(rate)
    except (TypeError, ValueError, OverflowError):
        raise AudioError(f"cannot write {path}: invalid sample rate {rate!r}") from None
    if rate_i <= 0 or rate_i != rate:
        raise AudioError(f"cannot write {path}: invalid sample rate {rate!r}")
    if x.dtype.kind == "f" and st not in _FLOAT_SUBTYPES:
        x = np.clip(x, -1.0, 1.0)
    if x.dtype.kind == "f" and x.dtype not in (np.dtype(np.float32), np.dtype(np.float64)):
        x = x.astype(np.float32)  # soundfile writes only float32/float64 among floats
    try:
        with atomic_path(path) as tmp:
            sf.write(tmp, x, rate_i, subtype=st, format="WAV")
    except (sf.SoundFileError, RuntimeError, OSError) as e:
        raise AudioError(f"cannot write {path}: {e}") from None
