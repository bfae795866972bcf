"""Emulation of the official AVSBench S4/MS3 preprocessing, as pure functions.

The official scripts (``preprocess_scripts/preprocess_s4.py`` and ``preprocess_ms3.py``)
read a clip with ``imageio.get_reader(path, 'ffmpeg')``, i.e. the ``ffmpeg`` command line
piping ``rawvideo``/``rgb24`` frames through the ``image2pipe`` muxer, and its audio with
moviepy 1.x (``ffmpeg ... -ar 44100 -ac 2 -f s16le`` plus nearest-sample picking).
Nothing here decodes media: :mod:`avs_studio.core.media.decode` feeds these functions the
timestamps it demuxed and the PCM it decoded.

What the official frame sequence is (``formats.md`` §1.3 speaks of "decoded frame
index"; the exact meaning follows from the reader the scripts use):

* ``image2pipe`` has no ``AVFMT_VARIABLE_FPS`` flag, so the ffmpeg CLI picks
  ``-vsync cfr`` (``vscfr`` when the input file has a single stream). Frames are laid
  on a constant-rate grid at the rate ``av_guess_frame_rate`` returns, duplicating or
  dropping frames whose timestamps do not fit it. :func:`cfr_frame_sequence` replays
  ``do_video_out`` of ffmpeg 4.x (the CLI that imageio-ffmpeg 0.4.x bundled in 2022)
  and returns, for each frame of that sequence, the ordinal of the decoded frame it
  repeats.
* For a constant-frame-rate file that starts with its video, the sequence is the
  decoded frames in presentation order, one each: official index = decoded ordinal.
  For a variable-frame-rate file the official index counts *grid slots*, not decoded
  frames: the official frame of second ``s`` is the one shown near
  ``(s + 15/16)`` seconds on the grid, whatever the file's own frame count is.
* ``fps`` is the number imageio parses from ffmpeg's banner: the output stream's
  ``fps`` as ``print_fps`` formats it (two decimals), then ``fi = int(round(fps))``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

# ffmpeg's AV_TIME_BASE: container start times and durations are in microseconds.
AV_TIME_BASE = 1_000_000
# ffmpeg 4.x refuses to duplicate one frame more than dts_error_threshold * 30 times.
_MAX_DUPLICATES = 3600 * 30
# The official scripts sample 16 positions per second and keep position 15.
_SAMPLES_PER_SECOND = 16
_KEPT_POSITION = 15


def _rescale(a: int, b: int, c: int) -> int:
    """``av_rescale_rnd(a, b, c, AV_ROUND_NEAR_INF)``: a*b/c rounded half away from zero."""
    if a < 0:
        return -_rescale(-a, b, c)
    return (a * b + c // 2) // c


def rescale_q(a: int, bq: Fraction, cq: Fraction) -> int:
    """``av_rescale_q``: convert ``a`` from time base ``bq`` to ``cq`` (round to nearest)."""
    return _rescale(int(a), bq.numerator * cq.denominator, bq.denominator * cq.numerator)


def _lrintf(x: float) -> int:
    """C ``lrintf``: convert to single precision, round half to even."""
    return int(np.rint(np.float32(x)))


def _mid_pred(a: int, b: int, c: int) -> int:
    return sorted((a, b, c))[1]


def ffmpeg_printed_number(value: float) -> str:
    """The text ffmpeg's ``print_fps`` writes for a rate (without its unit)."""
    v = _lrintf(value * 100)
    if not v:
        return f"{value:1.4f}"
    if v % 100:
        return f"{value:3.2f}"
    if v % (100 * 1000):
        return f"{value:1.0f}"
    return f"{value / 1000:1.0f}k"


def imageio_fps(rate: Fraction | None) -> float:
    """The ``fps`` value imageio-ffmpeg parses for a stream read at ``rate``.

    imageio keeps the last banner line that matches ``<number> fps|tbr``; the output
    (pipe) line carries the output frame rate, formatted by ``print_fps``. A rate that
    prints as ``1k`` does not match the pattern and would leave imageio with the input
    line's value; that corner is not emulated (it reads as 0 here).
    """
    if rate is None or rate <= 0:
        return 0.0
    text = ffmpeg_printed_number(float(rate))
    if text.endswith("k"):
        return 0.0
    return float(text)


def frame_interval(rate: Fraction | None) -> int:
    """``fi = int(round(fps))`` as the official scripts compute it."""
    return int(round(imageio_fps(rate)))


def ffmpeg_printed_duration(duration_us: int | None) -> float:
    """The container duration as ffmpeg prints it (``Duration: hh:mm:ss.cc``), read by moviepy."""
    if duration_us is None or duration_us < 0:
        return 0.0
    d = duration_us + 5000
    secs, us = divmod(d, AV_TIME_BASE)
    centis = (100 * us) // AV_TIME_BASE
    hours, rem = divmod(secs, 3600)
    mins, secs = divmod(rem, 60)
    # moviepy's cvsecs: whole seconds plus the two printed decimals divided by 100.
    return 3600 * hours + 60 * mins + secs + centis / 100


def official_output_indices(fi: int, seconds: int, n_frames: int) -> list[int]:
    """Indices into the official frame sequence for seconds ``0..seconds-1``.

    ``int(s*fi + (15/16)*fi)`` clamped to the last frame (``formats.md`` §1.3), with the
    same floating-point expression the official script evaluates.
    """
    if n_frames <= 0:
        raise ValueError("the clip has no video frames")
    out = []
    for s in range(seconds):
        n = int(s * fi + (_KEPT_POSITION * 1.0 / _SAMPLES_PER_SECOND) * fi)
        out.append(min(n, n_frames - 1))
    return out


def cfr_frame_sequence(
    pts: Sequence[int],
    durations: Sequence[int],
    time_base: Fraction,
    rate: Fraction,
    *,
    origin_pts: int = 0,
    single_stream: bool = False,
) -> np.ndarray:
    """Replay ffmpeg 4.x ``-vsync cfr``/``vscfr`` and return decoded ordinals per output frame.

    ``pts`` are the presentation timestamps of the decoded frames in presentation order
    (stream ``time_base``), ``durations`` their packet durations (0 when unknown).
    ``origin_pts`` is the timestamp that ffmpeg maps to 0 (the input file's start time,
    in ``time_base``). ``rate`` is the output frame rate (``av_guess_frame_rate``).
    ``single_stream`` selects ``vscfr``, which ffmpeg uses when the input file holds
    exactly one stream.
    """
    if rate is None or rate <= 0:
        raise ValueError("a positive output frame rate is needed")
    enc_tb = Fraction(rate.denominator, rate.numerator)
    extra_bits = min(max(29 - (max(enc_tb.denominator, 1).bit_length() - 1), 0), 16)
    fine_tb = Fraction(enc_tb.numerator, enc_tb.denominator << extra_bits)
    unit = 1.0 / (float(rate) * float(enc_tb))
    tb_over_enc = float(time_base) / float(enc_tb)

    out: list[int] = []
    sync_opts = 0
    frame_number = 0
    last_nb0 = [0, 0, 0]
    last_frame: int | None = None
    for i, (p, dur) in enumerate(zip(pts, durations)):
        rel = int(p) - int(origin_pts)
        sync_ipts = rescale_q(rel, time_base, fine_tb) / float(1 << extra_bits)
        sync_ipts += (1.0 if sync_ipts > 0 else -1.0) / (1 << 17)
        duration = unit
        d = _lrintf(int(dur) * tb_over_enc) if dur else 0
        if d > 0:
            duration = float(d)
        delta0 = sync_ipts - sync_opts
        delta = delta0 + duration
        nb_frames, nb0 = 1, 0
        if delta0 < 0 < delta:
            # "Clipping frame in rate conversion": the frame starts before its slot.
            sync_ipts = float(sync_opts)
            duration += delta0
            delta0 = 0.0
        if single_stream and frame_number == 0 and delta0 >= 0.5:
            # vscfr: do not duplicate the first frame to fill a late start.
            delta = duration
            delta0 = 0.0
            sync_opts = int(np.rint(sync_ipts))
        if delta < -1.1:
            nb_frames = 0
        elif delta > 1.1:
            nb_frames = _lrintf(delta)
            if delta0 > 1.1:
                nb0 = _lrintf(delta0 - 0.6)
        nb0 = min(nb0, nb_frames)
        last_nb0 = [nb0, last_nb0[0], last_nb0[1]]
        if nb_frames > _MAX_DUPLICATES:
            continue
        for k in range(nb_frames):
            out.append(last_frame if (k < nb0 and last_frame is not None) else i)
        sync_opts += nb_frames
        frame_number += nb_frames
        last_frame = i
    # At end of stream ffmpeg repeats the last frame as often as the median of the
    # last three "previous frame" duplication counts (normally 0).
    if last_frame is not None:
        out.extend([last_frame] * _mid_pred(*last_nb0))
    return np.asarray(out, dtype=np.int64)


@dataclass(frozen=True)
class OfficialSampling:
    """Which frames the official S4/MS3 preprocessing keeps for one clip.

    ``output_indices`` are the indices of the spec's formula into the official frame
    sequence; ``ordinals`` the decoded frames (0-based, presentation order, counted over
    the whole file) they show; ``times`` those frames' presentation times in seconds
    from the start of the file. ``fps`` and ``fi`` are the frame rate imageio reports
    and its rounding; ``n_sequence`` the length of the official frame sequence of the
    clip, ``n_decoded`` the decoded frames it is built from.
    """

    seconds: int
    start: float
    fps: float
    fi: int
    output_indices: tuple[int, ...]
    ordinals: tuple[int, ...]
    times: tuple[float, ...]
    n_sequence: int
    n_decoded: int

    @property
    def is_identity(self) -> bool:
        """True when the official sequence is the decoded frames one to one."""
        return all(o == k for o, k in zip(self.ordinals, self.output_indices))


# --- audio (moviepy 1.x ``write_audiofile(fps=16000)``) --------------------------------

MOVIEPY_READ_RATE = 44100
OFFICIAL_WAV_RATE = 16000
_QUANT_LIMIT = 0.99


def moviepy_sample_count(duration_s: float, rate: int = OFFICIAL_WAV_RATE) -> int:
    """``int(fps * duration)``: the number of samples moviepy writes."""
    return int(rate * duration_s) if duration_s > 0 else 0


def moviepy_pick(
    buffer_s16: np.ndarray,
    n_out: int,
    *,
    rate_in: int = MOVIEPY_READ_RATE,
    rate_out: int = OFFICIAL_WAV_RATE,
) -> np.ndarray:
    """Nearest-sample picking plus quantisation, as moviepy writes a wav.

    ``buffer_s16`` is the int16 ``[S, channels]`` PCM that ffmpeg delivered at
    ``rate_in``. Output sample ``n`` takes buffer sample ``np.round(rate_in * n/rate_out)``
    (moviepy's own float expression, half to even); indices past the end repeat the
    last sample (moviepy's fallback). Values are clipped to ±0.99, multiplied by 32768
    and truncated to int16.
    """
    buffer_s16 = np.asarray(buffer_s16)
    channels = buffer_s16.shape[1] if buffer_s16.ndim == 2 else 1
    if n_out <= 0:
        return np.zeros((0, channels), dtype=np.int16)
    if buffer_s16.shape[0] == 0:
        return np.zeros((n_out, channels), dtype=np.int16)
    tt = (1.0 / rate_out) * np.arange(n_out)
    idx = np.round(rate_in * tt).astype(np.int64)
    np.minimum(idx, buffer_s16.shape[0] - 1, out=idx)
    picked = buffer_s16.reshape(buffer_s16.shape[0], channels)[idx].astype(np.float64) / 32768.0
    np.clip(picked, -_QUANT_LIMIT, _QUANT_LIMIT, out=picked)
    return (32768 * picked).astype(np.int16)


def duration_of_clip(media_duration: float | None, start: float, seconds: float | None) -> float:
    """Length of the clip ``[start, start+seconds]`` cut from media of a known duration."""
    if media_duration is None or not math.isfinite(media_duration):
        return float(seconds) if seconds is not None else 0.0
    rest = max(media_duration - start, 0.0)
    return rest if seconds is None else min(float(seconds), rest)
