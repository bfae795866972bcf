"""Where playback sound goes, and the clock playback follows.

An :class:`AudioOutput` plays a float32 ``[S, C]`` array from a start frame, optionally
looping a span, and tells how far playback has got (:meth:`AudioOutput.position_frames`):
that position is the *audio clock* the player shows video by.

* :class:`SoundDeviceOutput` plays through PortAudio (``sounddevice``), imported lazily. A
  machine without the PortAudio library, without an output device, or whose device refuses
  to open degrades to silence: ``available`` turns False, ``reason`` says why, and the
  clock keeps running on wall time so playback still works.
* :class:`NullOutput` is silent; its clock runs on ``time.monotonic`` (or any clock given,
  e.g. :class:`~avs_studio.core.media.playback.ManualClock` in tests).
* :func:`default_output` picks one; ``AVS_STUDIO_AUDIO=null`` forces the silent sink.

Nothing here needs Qt; it lives with the GUI because only the GUI plays sound.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from avs_studio.core.media.playback import LoopSpan

__all__ = ["AudioOutput", "NullOutput", "SoundDeviceOutput", "default_output"]

Clock = Callable[[], float]

NO_DEVICE = "No audio output device"
NO_PORTAUDIO = "PortAudio library not found (install libportaudio2)"
NO_SOUNDDEVICE = "the sounddevice package is not installed"
SOUND_OFF = "Sound is off (AVS_STUDIO_AUDIO=null)"


def _as_frames(samples: np.ndarray) -> np.ndarray:
    a = np.asarray(samples, dtype=np.float32)
    if a.ndim == 1:
        a = a[:, None]
    if a.ndim != 2:
        raise ValueError(f"audio must be [S] or [S, channels], got shape {a.shape}")
    return a


class AudioOutput:
    """A sound sink whose playback position is the clock (base class; see the module doc).

    ``available`` is False when no sound comes out, ``reason`` then says why.
    """

    available: bool = True
    reason: str = ""

    def start(
        self,
        samples: np.ndarray,
        rate: int,
        *,
        start_frame: int = 0,
        loop: tuple[int, int] | None = None,
    ) -> None:
        """Play ``samples`` (float32 ``[S, C]``) at ``rate`` from ``start_frame``.

        With ``loop=(a, b)`` playback runs on to frame ``b`` and then repeats ``[a, b)``
        until stopped; without, it ends at the last frame. Starting again replaces what
        was playing.
        """
        raise NotImplementedError

    def stop(self) -> None:
        """Stop playing; :meth:`position_frames` keeps the last position."""
        raise NotImplementedError

    def pause(self) -> None:
        """Pause; :meth:`resume` continues from the same frame."""
        raise NotImplementedError

    def resume(self) -> None:
        """Continue after :meth:`pause`."""
        raise NotImplementedError

    def position_frames(self) -> int:
        """The audio clock: the frame of the array being heard now."""
        raise NotImplementedError

    @property
    def is_playing(self) -> bool:
        """True while sound (or the silent clock) runs: started, not paused, not at the end."""
        raise NotImplementedError

    def close(self) -> None:
        """Release the device (the object may be started again)."""
        self.stop()


class NullOutput(AudioOutput):
    """A silent sink whose clock advances with ``clock()`` (wall time by default).

    ``reason`` tells the user why playback is silent; the sink itself always works.
    """

    def __init__(self, reason: str = NO_DEVICE, *, clock: Clock = time.monotonic) -> None:
        self.available = False
        self.reason = reason
        self.clock = clock
        self._span = LoopSpan(0)
        self._rate = 1
        self._consumed = 0.0  # frames played before the current run
        self._since: float | None = None  # clock time the current run began (None: not running)
        self._lock = threading.Lock()

    def start(self, samples, rate, *, start_frame=0, loop=None) -> None:
        frames = np.asarray(samples)
        with self._lock:
            self._span = LoopSpan.make(frames.shape[0], start_frame, loop)
            self._rate = int(rate)
            self._consumed = 0.0
            self._since = self.clock()

    def _now_consumed(self) -> float:
        if self._since is None:
            return self._consumed
        return self._consumed + (self.clock() - self._since) * self._rate

    def stop(self) -> None:
        with self._lock:
            self._consumed = self._now_consumed()
            self._since = None

    def pause(self) -> None:
        self.stop()

    def resume(self) -> None:
        with self._lock:
            if self._since is None and not self._span.finished(self._consumed):
                self._since = self.clock()

    def position_frames(self) -> int:
        with self._lock:
            return self._span.position(self._now_consumed())

    @property
    def is_playing(self) -> bool:
        with self._lock:
            return self._since is not None and not self._span.finished(self._now_consumed())


def _load_sounddevice() -> Any:
    """Import sounddevice (raises OSError when the PortAudio library is missing)."""
    import sounddevice

    return sounddevice


class SoundDeviceOutput(AudioOutput):
    """Plays through a PortAudio output stream with a callback; silent with a reason if it can't.

    The clock counts frames handed to the device and places the block being heard with
    the DAC time PortAudio reports for it (its output latency), interpolated with
    ``time.monotonic`` between callbacks, so video stays on what is heard. Pausing closes
    the stream and resuming opens a new one at the same frame.
    """

    def __init__(self, device: int | str | None = None, *, latency: float | str = 0.1,
                 clock: Clock = time.monotonic) -> None:  # fmt: skip
        self.device = device
        self.latency = latency
        self.clock = clock
        self._sd: Any = None
        self._info: dict | None = None
        self._stream: Any = None
        self._fallback = NullOutput(NO_DEVICE, clock=clock)
        self._silent = False
        self._prepared: tuple[tuple, np.ndarray, int] | None = None
        self._lock = threading.Lock()
        self._reset_run()
        self.available, self.reason = self._probe()

    # --- set-up ---------------------------------------------------------------------------

    def _probe(self) -> tuple[bool, str]:
        try:
            sd = _load_sounddevice()
        except OSError:
            return False, NO_PORTAUDIO
        except ImportError:
            return False, NO_SOUNDDEVICE
        try:
            info = sd.query_devices(self.device, kind="output")
        except (sd.PortAudioError, ValueError, OSError):
            return False, NO_DEVICE
        if not info or int(info.get("max_output_channels", 0)) < 1:
            return False, NO_DEVICE
        self._sd, self._info = sd, dict(info)
        return True, ""

    def _reset_run(self) -> None:
        self._data = np.zeros((0, 1), np.float32)
        self._span = LoopSpan(0)
        self._rate = 1
        self._scale = 1.0  # source frames per device frame (when the device needs another rate)
        self._handed = 0  # frames given to the device in this run
        self._anchor: tuple[int, float, int] | None = None  # (handed before block, DAC time, n)
        self._heard = 0.0  # monotonic estimate of frames heard in this run
        self._t_start = 0.0  # clock time the run started
        self._done = False
        self._paused_at: int | None = None
        self._src_span = LoopSpan(0)
        self._src_samples: np.ndarray | None = None
        self._src_rate = 1

    # --- AudioOutput ------------------------------------------------------------------------

    def start(self, samples, rate, *, start_frame=0, loop=None) -> None:
        self.stop()
        frames = _as_frames(samples)
        self._src_samples, self._src_rate = frames, int(rate)
        self._src_span = LoopSpan.make(frames.shape[0], start_frame, loop)
        self._paused_at = None
        if not self.available:
            self._silent = True
            self._fallback.reason = self.reason
            self._fallback.start(frames, rate, start_frame=start_frame, loop=loop)
            return
        self._silent = False
        try:
            self._open(self._src_span.start)
        except Exception as exc:  # PortAudioError, OSError, ValueError: the device refused
            self._go_silent(exc)
            self._fallback.start(frames, rate, start_frame=start_frame, loop=loop)

    def _open(self, start_frame: int) -> None:
        sd = self._sd
        src = self._src_samples
        assert src is not None and self._info is not None
        channels = min(max(src.shape[1], 2), int(self._info["max_output_channels"]))
        data, rate = self._device_data(src, channels)
        scale = self._src_rate / rate
        span = self._src_span
        loop = None if span.loop is None else (round(span.loop[0] / scale), round(span.loop[1] / scale))
        with self._lock:
            self._data = data
            self._rate = rate
            self._scale = scale
            self._span = LoopSpan.make(data.shape[0], round(start_frame / scale), loop)
            self._handed = 0
            self._anchor = None
            self._heard = 0.0
            self._done = False
            self._t_start = self.clock()
        self._stream = sd.OutputStream(
            samplerate=rate,
            channels=channels,
            dtype="float32",
            device=self.device,
            latency=self.latency,
            callback=self._callback,
            finished_callback=self._finished,
        )
        self._stream.start()

    def _device_data(self, src: np.ndarray, channels: int) -> tuple[np.ndarray, int]:
        """The samples as the device takes them (its rate, its channels), cached per array."""
        key = (src.__array_interface__["data"][0], src.shape, src.strides, self._src_rate, channels)
        if self._prepared is not None and self._prepared[0] == key:
            return self._prepared[1], self._prepared[2]
        data, rate = src, self._src_rate
        try:
            self._sd.check_output_settings(device=self.device, channels=channels, samplerate=rate,
                                           dtype="float32")  # fmt: skip
        except Exception:
            rate = int(self._info.get("default_samplerate") or 48000)
            data = _linear_resample(src, self._src_rate, rate)
        if data.shape[1] > channels:
            data = data.mean(axis=1, keepdims=True)
        self._prepared = (key, np.ascontiguousarray(data), rate)
        return self._prepared[1], rate

    def _callback(self, outdata, frames, time_info, status) -> None:
        # Runs on PortAudio's thread: copy, note where this block will be heard, no more.
        with self._lock:
            before = self._handed
            self._span.fill(self._data, before, outdata)
            self._handed += frames
            try:
                delay = float(time_info.outputBufferDacTime - time_info.currentTime)
            except (AttributeError, TypeError):
                delay = -1.0
            if not 0.0 <= delay < 1.0:
                delay = self._stream_latency()
            self._anchor = (before, self.clock() + delay, frames)
            ended = self._span.finished(before + frames)
        if ended:
            raise self._sd.CallbackStop

    def _stream_latency(self) -> float:
        try:
            return float(self._stream.latency)
        except Exception:
            return 0.0

    def _finished(self) -> None:
        with self._lock:
            self._done = True

    def _heard_now(self) -> float:
        """Frames of this run heard by now: monotonic, never beyond what the device was
        given, and never faster than real time (a device that swallows buffers at once,
        like ALSA's null PCM, must not make the video race)."""
        if self._done:
            est = float(self._audible())
        elif self._anchor is None:
            est = 0.0
        else:
            before, t_dac, n = self._anchor
            est = before + (self.clock() - t_dac) * self._rate
            est = min(max(est, 0.0), float(before + n))
        est = min(est, (self.clock() - self._t_start) * self._rate)
        self._heard = max(self._heard, est)
        return self._heard

    def _audible(self) -> int:
        """Frames handed over that hold sound (not the silence padding the last block)."""
        length = self._span.length
        return self._handed if length is None else min(self._handed, length)

    def _close_stream(self) -> None:
        stream, self._stream = self._stream, None
        if stream is not None:
            # A device that vanished mid-play may fail to stop; it is dropped either way.
            with contextlib.suppress(Exception):
                stream.abort()
            with contextlib.suppress(Exception):
                stream.close()

    def stop(self) -> None:
        if self._silent:
            self._fallback.stop()
            return
        if self._stream is not None:
            pos = self.position_frames()
            self._close_stream()
            self._paused_at = pos

    def pause(self) -> None:
        self.stop()

    def resume(self) -> None:
        if self._silent:
            self._fallback.resume()
            return
        if self._stream is not None or self._paused_at is None or self._src_samples is None:
            return
        start, span = self._paused_at, self._src_span
        if span.loop is None and start >= span.total:
            return  # paused at the very end: nothing left to play
        self._src_span = LoopSpan.make(span.total, start, span.loop)
        self._paused_at = None
        try:
            self._open(start)
        except Exception as exc:
            self._go_silent(exc)
            self._fallback.start(self._src_samples, self._src_rate, start_frame=start, loop=span.loop)

    def _go_silent(self, exc: BaseException) -> None:
        self._close_stream()
        self.available = False
        self.reason = f"The audio device could not be opened ({exc})"
        self._silent = True
        self._fallback.reason = self.reason

    def position_frames(self) -> int:
        if self._silent:
            return self._fallback.position_frames()
        if self._stream is None:
            if self._paused_at is not None:
                return self._paused_at
            return self._src_span.start
        with self._lock:
            dev = self._span.position(self._heard_now())
        return min(round(dev * self._scale), self._src_span.total)

    @property
    def is_playing(self) -> bool:
        if self._silent:
            return self._fallback.is_playing
        if self._stream is None:
            return False
        with self._lock:
            return not self._done or self._heard_now() < self._audible()

    def close(self) -> None:
        self._close_stream()
        self._fallback.stop()


def _linear_resample(x: np.ndarray, rate_in: int, rate_out: int) -> np.ndarray:
    """Linear interpolation to another rate (a device fallback for listening, not analysis)."""
    n_out = max(1, round(x.shape[0] * rate_out / rate_in))
    t = np.arange(n_out) * (rate_in / rate_out)
    src = np.arange(x.shape[0])
    return np.stack([np.interp(t, src, x[:, c]) for c in range(x.shape[1])], axis=1).astype(np.float32)


def default_output() -> AudioOutput:
    """The sound card when there is one, else a :class:`NullOutput` saying why.

    ``AVS_STUDIO_AUDIO=null`` (or ``off``) forces the silent sink (the tests set it).
    """
    mode = os.environ.get("AVS_STUDIO_AUDIO", "").strip().lower()
    if mode in ("null", "none", "off", "0"):
        return NullOutput(SOUND_OFF)
    out = SoundDeviceOutput()
    if out.available:
        return out
    return NullOutput(out.reason)
