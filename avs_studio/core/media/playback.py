"""Playback logic without Qt: the audio clock, loop spans, frame decode-ahead, timeline images.

The GUI's player, audio sinks and timeline are thin Qt faces over these pieces, which is
what makes them testable without a sound card or a window:

* :class:`LoopSpan` maps "frames the sink has consumed" to a position in the sample array,
  wrapping inside an optional loop; every sink (sound card or silent) shares it, so the
  clock means the same thing everywhere. :class:`ManualClock` is a clock tests advance.
* :class:`FramePrefetcher` decodes video frames ahead of the playhead in one background
  thread into a small bounded cache, so that the GUI thread never waits for a decoder.
* :class:`WaveformPeaks` keeps min/max/RMS per block at doubling block sizes (computed once
  per clip); a view asks it for one min/max per pixel column.
* :func:`display_log_mel` is the VGGish log-mel analysis (25 ms periodic Hann, 10 ms hop,
  64 HTK mel bands 125-7500 Hz, ``ln(mel + 0.01)``) at a continuous 10 ms hop; for 16 kHz
  audio its frames *are* the frames the model's examples are cut from (``audio.md`` §3-4).
* :func:`vggish_window` is the span of audio example ``n`` (paired with sampled frame ``n``).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from avs_studio.core.audio.logmel import (
    EXAMPLE_HOP_SAMPLES,
    FFT_LENGTH,
    LOG_OFFSET,
    MEL_HIGH_HZ,
    MEL_LOW_HZ,
    NUM_MEL_BANDS,
    SAMPLE_RATE,
    STFT_HOP,
    STFT_WINDOW,
    mel_weight_matrix,
    periodic_hann,
)
from avs_studio.core.errors import AVSError
from avs_studio.core.jobs import CancelToken, Progress, no_progress

__all__ = [
    "EXAMPLE_SECONDS",
    "HOP_SECONDS",
    "FramePrefetcher",
    "LoopSpan",
    "ManualClock",
    "WaveformPeaks",
    "colourise",
    "display_log_mel",
    "frame_count",
    "frame_index_at",
    "mel_band_position",
    "format_time",
    "nice_step",
    "sampled_frame_times",
    "snap_segment",
    "spectrogram_levels",
    "spectrogram_rgb",
    "vggish_window",
    "waveform_image",
]

#: Length of the audio one VGGish example hears: 15600 samples at 16 kHz (0.975 s).
EXAMPLE_SECONDS = (EXAMPLE_HOP_SAMPLES + STFT_WINDOW - STFT_HOP) / SAMPLE_RATE
#: Hop between examples (0.96 s) and between display spectrogram columns (10 ms).
EXAMPLE_HOP_SECONDS = EXAMPLE_HOP_SAMPLES / SAMPLE_RATE
HOP_SECONDS = STFT_HOP / SAMPLE_RATE


def vggish_window(n: int) -> tuple[float, float]:
    """Seconds ``[t0, t1)`` of the audio VGGish example ``n`` covers (paired with frame ``n``).

    Example ``n`` uses 16 kHz samples ``[15360 n, 15360 n + 15600)``, i.e.
    ``[0.96 n, 0.96 n + 0.975)`` s (``audio.md`` §4), not second ``n`` of the clip.
    """
    t0 = n * EXAMPLE_HOP_SECONDS
    return t0, t0 + EXAMPLE_SECONDS


# --------------------------------------------------------------------------------------------
# Clocks and loops.


class ManualClock:
    """A clock that stands still until :meth:`advance` moves it (tests drive sinks with it)."""

    def __init__(self, start: float = 0.0) -> None:
        self.now = float(start)

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        """Move the clock forward by ``seconds``."""
        self.now += float(seconds)


@dataclass(frozen=True)
class LoopSpan:
    """Where playback of ``total`` frames goes: from ``start`` on, wrapping in ``loop`` if set.

    Without a loop, playback runs from ``start`` to ``total`` and ends. With ``loop = (a, b)``
    it runs from ``start`` to ``b`` and then repeats ``[a, b)`` for ever (a start outside the
    loop begins at ``a``).
    """

    total: int
    start: int = 0
    loop: tuple[int, int] | None = None

    @classmethod
    def make(cls, total: int, start: int = 0, loop: tuple[int, int] | None = None) -> LoopSpan:
        """A span with its numbers clamped to the array (an empty loop is no loop)."""
        total = max(0, int(total))
        start = min(max(0, int(start)), total)
        if loop is not None:
            a = min(max(0, int(loop[0])), total)
            b = min(max(0, int(loop[1])), total)
            if b <= a:
                loop = None
            else:
                loop = (a, b)
                if not a <= start < b:
                    start = a
        return cls(total, start, loop)

    @property
    def length(self) -> int | None:
        """Frames until playback ends (None for a loop, which never ends)."""
        return None if self.loop is not None else self.total - self.start

    def finished(self, consumed: float) -> bool:
        """True once ``consumed`` frames have played the whole (non-looping) span."""
        return self.loop is None and consumed >= self.total - self.start

    def position(self, consumed: float) -> int:
        """Frame of the array heard after ``consumed`` frames went to the sink."""
        c = max(0, int(consumed))
        if self.loop is None:
            return min(self.start + c, self.total)
        a, b = self.loop
        first = b - self.start
        if c < first:
            return self.start + c
        return a + (c - first) % (b - a)

    def pieces(self, consumed: int, n: int) -> list[tuple[int, int]]:
        """Array ranges ``[(i, j), ...]`` that fill the next ``n`` frames after ``consumed``.

        They add up to fewer than ``n`` frames only when the span ends.
        """
        out: list[tuple[int, int]] = []
        pos = self.position(consumed)
        while n > 0:
            end = self.loop[1] if self.loop is not None else self.total
            take = min(n, end - pos)
            if take <= 0:
                break
            out.append((pos, pos + take))
            n -= take
            pos += take
            if self.loop is not None and pos >= self.loop[1]:
                pos = self.loop[0]
        return out

    def fill(self, samples: np.ndarray, consumed: int, out: np.ndarray) -> int:
        """Copy the next ``len(out)`` frames into ``out`` (silence past the end); return that count.

        ``samples`` is ``[total, C]``; ``out`` is ``[n, C']`` and a mono source is spread
        over all of its channels.
        """
        o = 0
        for i, j in self.pieces(consumed, out.shape[0]):
            out[o : o + j - i] = samples[i:j]
            o += j - i
        out[o:] = 0.0
        return out.shape[0]


# --------------------------------------------------------------------------------------------
# Video frames.


def frame_count(duration: float, fps: float) -> int:
    """Video frames of a constant-rate stream of ``duration`` s (frame ``k`` at ``k / fps``)."""
    if fps <= 0 or duration <= 0:
        return 1
    return max(1, math.ceil(duration * fps - 1e-6))


def frame_index_at(t: float, fps: float, n_frames: int) -> int:
    """Index of the frame on screen at ``t`` s (the last frame past the end)."""
    if fps <= 0:
        return 0
    return min(max(0, math.floor(t * fps + 1e-6)), max(0, n_frames - 1))


FrameSource = Callable[[float], np.ndarray]


class FramePrefetcher:
    """Decodes frames ahead of the playhead in one background thread, into a bounded cache.

    ``make_source()`` is called *in the thread*, so a decoder that must stay on one thread
    (:class:`~avs_studio.core.media.decode.MediaFile`) is created and used there only; it returns
    a callable ``t -> RGB`` (closed afterwards if it has ``close``). :meth:`request` moves
    the cursor; the thread decodes frames ``cursor .. cursor + ahead - 1`` in order and
    keeps at most ``behind`` frames before the cursor. :meth:`get` never waits.
    ``on_ready(index)`` is called from the thread after each frame is stored or has failed
    (then :attr:`error` says why).
    """

    def __init__(
        self,
        make_source: Callable[[], FrameSource],
        fps: float,
        n_frames: int,
        *,
        ahead: int = 8,
        behind: int = 2,
        on_ready: Callable[[int], None] | None = None,
    ) -> None:
        self.fps = float(fps)
        self.n_frames = int(n_frames)
        self.ahead = max(1, int(ahead))
        self.behind = max(0, int(behind))
        self.on_ready = on_ready
        self.error: str | None = None
        self.decoded = 0
        self._make_source = make_source
        self._cache: dict[int, np.ndarray] = {}
        self._failed: set[int] = set()
        self._cursor = 0
        self._closed = False
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="avs-frame-prefetch", daemon=True)
        self._thread.start()

    @property
    def capacity(self) -> int:
        """Most frames the cache ever holds."""
        return self.ahead + self.behind

    def request(self, index: int) -> None:
        """Decode from frame ``index`` on (and keep what is still near it)."""
        index = min(max(0, int(index)), max(0, self.n_frames - 1))
        with self._cond:
            if index != self._cursor:
                self._cursor = index
                self._evict()
                self._cond.notify()

    def get(self, index: int) -> np.ndarray | None:
        """Frame ``index`` if it is decoded, else None (never blocks on decoding)."""
        with self._cond:
            return self._cache.get(int(index))

    def wait_for(self, index: int, timeout: float = 5.0) -> np.ndarray | None:
        """Request frame ``index`` and wait for it (for worker threads and tests, not the GUI)."""
        self.request(index)
        with self._cond:
            self._cond.wait_for(
                lambda: index in self._cache or index in self._failed or self._closed, timeout
            )
            return self._cache.get(index)

    def cached(self) -> list[int]:
        """Indices in the cache (sorted)."""
        with self._cond:
            return sorted(self._cache)

    def close(self) -> None:
        """Stop the thread (it finishes the frame it is decoding) and drop the cache."""
        with self._cond:
            self._closed = True
            self._cache.clear()
            self._cond.notify_all()
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout=2.0)

    # --- the thread -----------------------------------------------------------------------

    def _evict(self) -> None:
        lo, hi = self._cursor - self.behind, self._cursor + self.ahead
        for k in [k for k in self._cache if not lo <= k < hi]:
            del self._cache[k]

    def _next_index(self) -> int | None:
        for k in range(self._cursor, min(self._cursor + self.ahead, self.n_frames)):
            if k not in self._cache and k not in self._failed:
                return k
        return None

    def _run(self) -> None:
        source: FrameSource | None = None
        try:
            while True:
                with self._cond:
                    self._cond.wait_for(lambda: self._closed or self._next_index() is not None)
                    if self._closed:
                        return
                    k = self._next_index()
                if k is None:
                    continue
                try:
                    if source is None:
                        source = self._make_source()
                    rgb = np.asarray(source(k / self.fps))
                except Exception as exc:  # a bad frame must not kill playback
                    with self._cond:
                        self._failed.add(k)
                        self.error = str(exc) if isinstance(exc, AVSError) else f"{type(exc).__name__}: {exc}"
                        self._cond.notify_all()
                    if self.on_ready is not None:
                        self.on_ready(k)
                    continue
                with self._cond:
                    if self._closed:
                        return
                    self.decoded += 1
                    if self._cursor - self.behind <= k < self._cursor + self.ahead:
                        self._cache[k] = rgb
                    self._cond.notify_all()
                if self.on_ready is not None:
                    self.on_ready(k)
        finally:
            close = getattr(source, "close", None)
            if callable(close):
                close()


# --------------------------------------------------------------------------------------------
# Waveform.


class WaveformPeaks:
    """Min, max and mean square of a mono signal per block, at block sizes ``base * 2**L``.

    Built once per clip (in a worker); :meth:`columns` then answers any view with the
    coarsest level that still has at least one block per pixel column.
    """

    def __init__(self, levels: list[tuple[np.ndarray, np.ndarray, np.ndarray]], rate: float,
                 num_samples: int, base: int) -> None:  # fmt: skip
        self.levels = levels
        self.rate = float(rate)
        self.num_samples = int(num_samples)
        self.base = int(base)

    @classmethod
    def build(cls, mono: np.ndarray, rate: float, *, base: int = 16,
              cancel: CancelToken | None = None) -> WaveformPeaks:  # fmt: skip
        """Peaks of ``mono`` (``[S]`` float) at ``rate``; ``base`` samples per finest block."""
        x = np.asarray(mono, dtype=np.float32).reshape(-1)
        n = x.shape[0]
        nb = max(1, math.ceil(n / base))
        mins = np.empty(nb, np.float32)
        maxs = np.empty(nb, np.float32)
        msq = np.empty(nb, np.float32)
        step = base * 65536  # bounded temporaries on long recordings
        for i in range(0, n, step):
            if cancel is not None:
                cancel.raise_if_cancelled()
            chunk = x[i : i + step]
            full = chunk.shape[0] // base * base
            b0 = i // base
            if full:
                blocks = chunk[:full].reshape(-1, base)
                mins[b0 : b0 + blocks.shape[0]] = blocks.min(axis=1)
                maxs[b0 : b0 + blocks.shape[0]] = blocks.max(axis=1)
                msq[b0 : b0 + blocks.shape[0]] = np.einsum("ij,ij->i", blocks, blocks) / base
            if full < chunk.shape[0]:
                tail = chunk[full:]
                mins[-1], maxs[-1] = tail.min(), tail.max()
                msq[-1] = float(np.dot(tail, tail)) / tail.shape[0]
        if n == 0:
            mins[:] = maxs[:] = msq[:] = 0.0
        levels = [(mins, maxs, msq)]
        while levels[-1][0].shape[0] > 1:
            lo, hi, sq = levels[-1]
            if lo.shape[0] % 2:
                lo, hi, sq = (np.append(a, a[-1]) for a in (lo, hi, sq))
            levels.append(
                (
                    np.minimum(lo[0::2], lo[1::2]),
                    np.maximum(hi[0::2], hi[1::2]),
                    (sq[0::2] + sq[1::2]) * np.float32(0.5),
                )
            )
        return cls(levels, rate, n, base)

    @property
    def duration(self) -> float:
        """Length of the signal in seconds."""
        return self.num_samples / self.rate

    @property
    def peak(self) -> float:
        """Largest absolute sample value."""
        lo, hi, _ = self.levels[-1]
        return float(max(-lo.min(), hi.max(), 0.0))

    def columns(self, t0: float, seconds_per_column: float, n_columns: int
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # fmt: skip
        """``(mins, maxs, rms)`` of ``n_columns`` columns from ``t0`` on (NaN outside the signal)."""
        n_columns = max(0, int(n_columns))
        spc = seconds_per_column * self.rate  # samples per column
        level = 0
        if spc > self.base:
            level = min(int(math.floor(math.log2(spc / self.base))), len(self.levels) - 1)
        block = self.base * (1 << level)
        lo, hi, sq = self.levels[level]
        nb = lo.shape[0]
        edges = (t0 * self.rate + np.arange(n_columns + 1) * spc) / block
        starts = np.floor(edges[:-1]).astype(np.int64)
        inside = (edges[1:] > 0) & (edges[:-1] * block < self.num_samples)
        starts = np.clip(starts, 0, nb - 1)
        out = [np.full(n_columns, np.nan, np.float32) for _ in range(3)]
        if not inside.any():
            return out[0], out[1], out[2]
        idx = starts[inside]
        tail = np.clip(np.ceil(edges[1:][inside]).astype(np.int64), idx + 1, nb)
        # reduceat partitions the blocks: column i gets [idx[i], idx[i+1]) (the last one up
        # to its end). A column that ends inside a block also gets that block, which is
        # the next column's first: combine it in afterwards.
        i0, i_end = int(idx[0]), int(tail[-1])
        offsets = idx - i0
        lo_c = np.minimum.reduceat(lo[i0:i_end], offsets)
        hi_c = np.maximum.reduceat(hi[i0:i_end], offsets)
        sq_c = np.add.reduceat(sq[i0:i_end], offsets)
        counts = np.maximum(np.diff(np.append(offsets, i_end - i0)), 1).astype(np.float32)
        spill = np.flatnonzero(tail[:-1] > idx[1:])
        if spill.size:
            nxt = idx[spill + 1]
            lo_c[spill] = np.minimum(lo_c[spill], lo[nxt])
            hi_c[spill] = np.maximum(hi_c[spill], hi[nxt])
            sq_c[spill] += sq[nxt]
            counts[spill] += 1
        out[0][inside], out[1][inside] = lo_c, hi_c
        out[2][inside] = np.sqrt(sq_c / counts)
        return out[0], out[1], out[2]


def waveform_image(
    mins: np.ndarray,
    maxs: np.ndarray,
    rms: np.ndarray,
    height: int,
    *,
    scale: float = 1.0,
    peak_colour: tuple[int, int, int, int] = (77, 182, 232, 255),
    rms_colour: tuple[int, int, int, int] = (170, 225, 250, 255),
    axis_colour: tuple[int, int, int, int] = (90, 96, 104, 255),
) -> np.ndarray:
    """RGBA ``[height, W]`` picture of per-column min/max (and RMS inside), transparent elsewhere.

    ``scale`` is the amplitude drawn at the top and bottom edges. Columns that are NaN
    (outside the signal) stay empty.
    """
    h = max(1, int(height))
    w = mins.shape[0]
    img = np.zeros((h, w, 4), np.uint8)
    mid = (h - 1) / 2.0
    img[int(round(mid)), :] = axis_colour
    valid = np.isfinite(mins)
    if not valid.any():
        return img

    def rows(v: np.ndarray) -> np.ndarray:
        return mid - np.clip(np.nan_to_num(v) / scale, -1.0, 1.0) * mid

    top, bottom = np.floor(rows(maxs)), np.ceil(rows(mins))
    bottom = np.maximum(bottom, top)  # at least one pixel per column
    y = np.arange(h, dtype=np.float64)[:, None]
    img[(y >= top) & (y <= bottom) & valid] = peak_colour
    r = np.nan_to_num(rms)
    r_top = np.maximum(top, np.floor(rows(r)))
    r_bottom = np.minimum(bottom, np.ceil(rows(-r)))
    img[(y >= r_top) & (y <= r_bottom) & valid & (r > 0)] = rms_colour
    return img


# --------------------------------------------------------------------------------------------
# Spectrogram.


def _hz_to_mel(hz: np.ndarray | float) -> np.ndarray:
    return 1127.0 * np.log(1.0 + np.asarray(hz, dtype=np.float64) / 700.0)


def _mel_matrix(rate: float, n_fft: int) -> np.ndarray:
    """The VGGish mel triangles (HTK, 125-7500 Hz, peak 1, DC 0) for another FFT grid."""
    bins_mel = _hz_to_mel(np.linspace(0.0, rate / 2, n_fft // 2 + 1))[:, None]
    edges = np.linspace(_hz_to_mel(MEL_LOW_HZ), _hz_to_mel(MEL_HIGH_HZ), NUM_MEL_BANDS + 2)
    lower, centre, upper = edges[:-2], edges[1:-1], edges[2:]
    w = np.maximum(0.0, np.minimum((bins_mel - lower) / (centre - lower),
                                   (upper - bins_mel) / (upper - centre)))  # fmt: skip
    w[0, :] = 0.0
    return w


def mel_band_position(hz: float) -> float:
    """Where ``hz`` lies on the 64-band mel axis: 0 at band 0's centre, 63 at the top band's."""
    edges = np.linspace(_hz_to_mel(MEL_LOW_HZ), _hz_to_mel(MEL_HIGH_HZ), NUM_MEL_BANDS + 2)
    return float((_hz_to_mel(hz) - edges[1]) / (edges[2] - edges[1]))


def display_log_mel(
    samples: np.ndarray,
    rate: float,
    *,
    progress: Progress = no_progress,
    cancel: CancelToken | None = None,
) -> np.ndarray:
    """Log-mel frames ``[F, 64]`` float32 every 10 ms, for display (frame ``k`` starts at ``k`` cs).

    ``samples`` is ``[S]`` or ``[S, C]`` float (mixed down to mono). At 16 kHz these are
    exactly the VGGish front end's frames (``audio.md`` §3), so example ``n`` of the model
    is frames ``[96 n, 96 n + 96)`` of this array. Other rates are analysed as they are
    (25 ms periodic Hann, 10 ms hop, the same 64 HTK bands, levels matched to a 400-sample
    window), which looks the same below 7.5 kHz and spares resampling a long recording.
    """
    x = np.asarray(samples)
    if x.ndim == 2:
        x = x.mean(axis=1) if x.shape[1] > 1 else x[:, 0]
    rate = float(rate)
    if rate == SAMPLE_RATE:
        # The model's own analysis, in float64 as the official code computes it.
        x = np.asarray(x, dtype=np.float64)
        win, hop, n_fft = STFT_WINDOW, float(STFT_HOP), FFT_LENGTH
        window, mel = periodic_hann(), mel_weight_matrix()
        bins = slice(None)
    else:
        # Display only: just the FFT bins the mel bands weigh (float64: numpy's float32 FFT
        # was measured 4x slower).
        x = np.asarray(x, dtype=np.float64)
        win = int(round(rate * STFT_WINDOW / SAMPLE_RATE))
        hop = rate * STFT_HOP / SAMPLE_RATE
        n_fft = 1 << max(1, (win - 1).bit_length())
        hann = 0.5 - 0.5 * np.cos(2.0 * np.pi / win * np.arange(win))
        window = hann * (STFT_WINDOW / win)  # levels as through a 400-sample window
        full = _mel_matrix(rate, n_fft)
        used = np.flatnonzero(full.any(axis=1))
        bins = slice(int(used[0]), int(used[-1]) + 1) if used.size else slice(0, 1)
        mel = full[bins]
    n = x.shape[0]
    if n < win:
        return np.zeros((0, NUM_MEL_BANDS), np.float32)
    frames = 1 + int(math.floor((n - win) / hop + 1e-9))
    out = np.empty((frames, NUM_MEL_BANDS), np.float32)
    chunk = 2048
    for f0 in range(0, frames, chunk):
        if cancel is not None:
            cancel.raise_if_cancelled()
        f1 = min(frames, f0 + chunk)
        starts = np.round(np.arange(f0, f1) * hop).astype(np.int64)
        idx = starts[:, None] + np.arange(win)[None, :]
        spectrum = np.abs(np.fft.rfft(x[idx] * window, n_fft, axis=-1)[:, bins])
        out[f0:f1] = np.log(spectrum @ mel + LOG_OFFSET)
        progress(f1, frames, "spectrogram")
    return out


# Anchor colours of a dark-to-light perceptual map (black, violet, red, orange, pale yellow).
_MAP_ANCHORS = np.array(
    [
        (0.00, 0, 0, 4),
        (0.13, 28, 16, 68),
        (0.25, 79, 18, 123),
        (0.38, 129, 37, 129),
        (0.50, 181, 54, 122),
        (0.63, 229, 80, 100),
        (0.75, 251, 135, 97),
        (0.88, 254, 194, 135),
        (1.00, 252, 253, 191),
    ]
)
_LUT = np.stack(
    [np.interp(np.linspace(0, 1, 256), _MAP_ANCHORS[:, 0], _MAP_ANCHORS[:, c]) for c in (1, 2, 3)],
    axis=1,
).round().astype(np.uint8)


def colourise(values: np.ndarray, vmin: float, vmax: float) -> np.ndarray:
    """Values -> RGB uint8 through the spectrogram colour map, ``vmin`` dark, ``vmax`` light."""
    span = max(vmax - vmin, 1e-9)
    idx = np.clip((np.asarray(values, np.float64) - vmin) / span * 255.0, 0, 255).astype(np.uint8)
    return _LUT[idx]


def spectrogram_levels(log_mel: np.ndarray, dynamic_range: float = 9.0) -> tuple[float, float]:
    """Colour range of a log-mel array: its loud end (99.5th percentile) and ``dynamic_range``
    nats (about 39 dB for 9) below it, never below the digital-silence floor ``ln 0.01``."""
    if log_mel.size == 0:
        return math.log(LOG_OFFSET), 0.0
    vmax = float(np.percentile(log_mel, 99.5))
    vmin = max(math.log(LOG_OFFSET), vmax - dynamic_range)
    if vmax - vmin < 1.0:
        vmax = vmin + 1.0
    return vmin, vmax


def spectrogram_rgb(log_mel: np.ndarray) -> np.ndarray:
    """``[F, 64]`` log-mel -> RGB ``[64, F, 3]`` picture, low bands at the bottom."""
    vmin, vmax = spectrogram_levels(log_mel)
    return np.ascontiguousarray(colourise(log_mel.T[::-1], vmin, vmax))


# --------------------------------------------------------------------------------------------
# Timeline helpers.

_STEPS = (0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 1800, 3600)


def nice_step(pixels_per_second: float, min_pixels: float = 60.0) -> float:
    """The smallest round tick interval (s) at least ``min_pixels`` apart on screen."""
    for s in _STEPS:
        if s * pixels_per_second >= min_pixels:
            return float(s)
    return float(_STEPS[-1])


def format_time(t: float, step: float) -> str:
    """A ruler label: ``"2.5 s"`` / ``"12 s"`` below a minute, ``"1:05"`` from a minute on."""
    if step >= 1 and t >= 60:
        m, s = divmod(int(round(t)), 60)
        return f"{m // 60}:{m % 60:02d}:{s:02d}" if m >= 60 else f"{m}:{s:02d}"
    digits = 0 if step >= 1 else 1 if step >= 0.1 else 2
    return f"{t:.{digits}f} s"


def snap_segment(start: float, seconds: float, duration: float, step: float = 0.1) -> float:
    """A segment start on the ``step`` grid that keeps ``[start, start + seconds)`` in the media."""
    latest = max(0.0, duration - seconds)
    if step > 0:
        start = round(start / step) * step
        latest = math.floor(latest / step + 1e-9) * step
    return float(round(min(max(0.0, start), latest), 6))


def sampled_frame_times(start: float, seconds: int) -> list[float]:
    """Nominal times of the frames the official scripts sample from ``[start, start+seconds)``."""
    return [start + k + 15.0 / 16.0 for k in range(int(seconds))]

