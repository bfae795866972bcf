"""Playback of a clip or video: sound through an :class:`AudioOutput`, pictures on its clock.

The audio output's position is the master clock. A precise Qt timer reads it every few
milliseconds and shows the video frame due at that time (``floor(t * fps)``); a frame not
yet decoded is skipped rather than waited for, so video never drifts from the sound and
the GUI thread never waits for a decoder. Frames are decoded ahead of the playhead in one
background thread (:class:`~avs_studio.core.media.playback.FramePrefetcher`) into a small
bounded cache. With the silent sink the same code runs on wall time.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, Qt, QTimer, Signal

from avs_studio.core.media.playback import (
    FramePrefetcher,
    frame_count,
    frame_index_at,
    vggish_window,
)
from avs_studio.gui.common.audio_output import AudioOutput, default_output

__all__ = ["MediaFrameSource", "Player"]

PLAYING, PAUSED, STOPPED = "playing", "paused", "stopped"

class MediaFrameSource:
    """``t -> RGB`` over a video file (opened on first use, in the thread that decodes).

    ``offset`` is the file time of ``t = 0`` (a clip cut from a longer video).
    """

    def __init__(self, path: str | Path, offset: float = 0.0) -> None:
        self.path = Path(path)
        self.offset = float(offset)
        self._media = None

    def __call__(self, t: float) -> np.ndarray:
        if self._media is None:
            from avs_studio.core.media.decode import open_media

            self._media = open_media(self.path)
        return self._media.frame_at(self.offset + t)

    def close(self) -> None:
        """Close the decoder."""
        if self._media is not None:
            self._media.close()
            self._media = None


class _Resources:
    """What must be released when the player goes, reachable without the player itself."""

    def __init__(self, output: AudioOutput) -> None:
        self.output = output
        self.prefetcher: FramePrefetcher | None = None

    def close_prefetcher(self) -> None:
        if self.prefetcher is not None:
            self.prefetcher.on_ready = None
            self.prefetcher.close()
            self.prefetcher = None

    def shutdown(self) -> None:
        self.close_prefetcher()
        self.output.close()


class Player(QObject):
    """Plays one clip: ``set_media`` it, then ``play``/``pause``/``seek``/``play_window``.

    Signals: ``positionChanged(t)`` while playing and on seeks; ``frameReady(t, rgb)``
    for each frame shown (``t`` its nominal time ``k / fps``); ``stateChanged(state)`` with
    ``"playing"``, ``"paused"`` (paused by the user, or a window played to its end) or
    ``"stopped"`` (nothing loaded, not started yet, or at the end of the media);
    ``message(text)`` for the status bar (silent playback, undecodable video).
    """

    positionChanged = Signal(float)
    frameReady = Signal(float, object)
    stateChanged = Signal(str)
    message = Signal(str)
    _decoded = Signal(int)

    def __init__(self, parent: QObject | None = None, *, output: AudioOutput | None = None,
                 tick_ms: int = 8) -> None:  # fmt: skip
        super().__init__(parent)
        self._res = _Resources(output if output is not None else default_output())
        res = self._res
        self.destroyed.connect(lambda *_: res.shutdown())
        self._timer = QTimer(self)
        self._timer.setTimerType(Qt.TimerType.PreciseTimer)
        self._timer.setInterval(int(tick_ms))
        self._timer.timeout.connect(self._tick)
        self._decoded.connect(self._on_decoded, Qt.ConnectionType.QueuedConnection)
        self._audio = np.zeros((0, 1), np.float32)
        self._rate = 16000
        self._fps = 25.0
        self._duration = 0.0
        self._n_frames = 0
        self._has_media = False
        self._pos = 0.0
        self._state = STOPPED
        self._window: tuple[float, float, bool] | None = None
        self._output_paused = False
        self._shown = -1
        self._want = -1
        self._told_silent = False
        self._told_error = False
        self._last_emitted = -1.0
        self._frame_times: list[float] = []
        self.frames_shown = 0
        self.frames_dropped = 0

    # ------------------------------------------------------------------ properties
    @property
    def output(self) -> AudioOutput:
        """The audio sink (its position is the clock)."""
        return self._res.output

    @property
    def state(self) -> str:
        """``"playing"``, ``"paused"`` or ``"stopped"``."""
        return self._state

    @property
    def duration(self) -> float:
        """Length of the media in seconds."""
        return self._duration

    @property
    def fps(self) -> float:
        """Video frame rate."""
        return self._fps

    @property
    def window(self) -> tuple[float, float, bool] | None:
        """The window being played by :meth:`play_window` (``t0, t1, loop``), if any."""
        return self._window

    @property
    def silent_reason(self) -> str:
        """Why playback makes no sound ("" when it does)."""
        out = self.output
        return "" if out.available else out.reason

    # ------------------------------------------------------------------ media
    def set_media(
        self,
        video_path: Path | str | None,
        audio: np.ndarray,
        rate: int,
        *,
        fps: float,
        duration: float,
        frame_source: Callable[[float], np.ndarray] | None = None,
        offset: float = 0.0,
    ) -> None:
        """Load a clip: its video (file or ``frame_source``), audio ``[S, C]`` float32 at ``rate``.

        ``frame_source(t)`` returns the RGB frame at ``t`` s; it is called from the decode
        thread only. Without one, frames are decoded from ``video_path`` (from file time
        ``offset`` on); with neither, no frames are shown. ``duration`` is the media length
        (audio is padded with silence or cut to it); ``fps`` the video's own frame rate.
        """
        self.clear()
        a = np.asarray(audio, dtype=np.float32)
        if a.ndim == 1:
            a = a[:, None]
        if a.ndim != 2 or a.shape[1] == 0:
            a = np.zeros((0, 1), np.float32)
        self._rate = int(rate) if rate and rate > 0 else 16000
        self._duration = float(duration) if duration and duration > 0 else a.shape[0] / self._rate
        self._fps = float(fps) if fps and fps > 0 and math.isfinite(fps) else 25.0
        need = round(self._duration * self._rate)
        if a.shape[0] < need:
            a = np.concatenate([a, np.zeros((need - a.shape[0], a.shape[1]), np.float32)])
        self._audio = a[:need]
        self._n_frames = frame_count(self._duration, self._fps)
        self._has_media = True
        self._told_silent = self._told_error = False
        make = None
        if frame_source is not None:
            make = lambda: frame_source  # noqa: E731 - the thread asks for its source
        elif video_path is not None:
            path, start = Path(video_path), float(offset)
            make = lambda: MediaFrameSource(path, start)  # noqa: E731
        if make is not None:
            ahead = max(4, round(self._fps / 3))
            self._res.prefetcher = FramePrefetcher(
                make, self._fps, self._n_frames, ahead=ahead, behind=2, on_ready=self._thread_ready
            )
        self._set_state(STOPPED)
        self._show_at(0.0)

    def clear(self) -> None:
        """Unload the media (stop sound, stop decoding)."""
        self._timer.stop()
        self.output.stop()
        self._res.close_prefetcher()
        self._has_media = False
        self._window = None
        self._output_paused = False
        self._pos = 0.0
        self._shown = self._want = -1
        self._last_emitted = -1.0
        self._set_state(STOPPED)

    def close(self) -> None:
        """Release the audio device and the decoder thread (call when the view goes)."""
        self.clear()
        self._res.shutdown()

    def set_frame_times(self, times: Sequence[float]) -> None:
        """Times of the clip's sampled frames, for :meth:`step_sampled`."""
        self._frame_times = sorted(float(t) for t in times)

    # ------------------------------------------------------------------ transport
    def position(self) -> float:
        """Seconds from the start: the audio clock while playing."""
        if self._state == PLAYING:
            return min(self.output.position_frames() / self._rate, self._duration)
        return self._pos

    def play(self) -> None:
        """Play from the current position (from the start when at the end)."""
        if not self._has_media or self._state == PLAYING:
            return
        if self._output_paused:
            self.output.resume()
            self._output_paused = False
        else:
            if self._pos >= self._duration - 0.5 / self._fps:
                self._pos = 0.0
            self._window = None
            self._start_output(self._pos, None, False)
        self._begin_playing()

    def pause(self) -> None:
        """Pause at the current position."""
        if self._state != PLAYING:
            return
        self._pos = self.position()
        self.output.pause()
        self._output_paused = True
        self._set_state(PAUSED)
        self._emit_position(self._pos, force=True)
        self._show_at(self._pos)

    def toggle(self) -> None:
        """Play if not playing, else pause."""
        self.pause() if self._state == PLAYING else self.play()

    def seek(self, t: float) -> None:
        """Go to ``t`` s; playing continues from there (a looping window keeps looping if
        ``t`` lies inside it)."""
        if not self._has_media:
            return
        t = min(max(0.0, float(t)), self._duration)
        playing = self._state == PLAYING
        self.output.stop()
        self._output_paused = False
        self._pos = t
        w = self._window
        if w is not None and not (w[2] and w[0] <= t < w[1]):
            self._window = None
        if playing:
            if self._window is not None:
                self._start_output(t, self._window[1], True, loop_from=self._window[0])
            else:
                self._start_output(t, None, False)
            self._shown = -1
        self._emit_position(t, force=True)
        self._show_at(t)

    def play_window(self, t0: float, t1: float, loop: bool = False) -> None:
        """Play just ``[t0, t1)`` (e.g. one frame's audio window), once or on a loop."""
        if not self._has_media:
            return
        t0 = min(max(0.0, float(t0)), self._duration)
        t1 = min(max(t0, float(t1)), self._duration)
        if t1 - t0 < 1.0 / self._rate:
            return
        self.output.stop()
        self._output_paused = False
        self._window = (t0, t1, bool(loop))
        self._pos = t0
        self._start_output(t0, t1, bool(loop))
        self._shown = -1
        self._begin_playing()

    def play_frame_window(self, n: int, loop: bool = False) -> None:
        """Play the audio VGGish example ``n`` hears, ``[0.96 n, 0.96 n + 0.975)`` s."""
        self.play_window(*vggish_window(n), loop=loop)

    def step_sampled(self, delta: int) -> int | None:
        """Seek to the sampled frame ``delta`` steps from the playhead; return its index."""
        times = self._frame_times
        if not times:
            return None
        t = self.position()
        eps = 0.5 / self._fps
        here = [i for i, ft in enumerate(times) if abs(ft - t) <= eps]
        if here:
            k = here[0] + delta
        elif delta > 0:
            k = next((i for i, ft in enumerate(times) if ft > t), len(times)) + delta - 1
        else:
            k = max((i for i, ft in enumerate(times) if ft < t), default=-1) + delta + 1
        k = min(max(0, k), len(times) - 1)
        self.seek(times[k])
        return k

    # ------------------------------------------------------------------ internals
    def _start_output(self, t: float, end: float | None, loop: bool, loop_from: float | None = None) -> None:
        f = round(t * self._rate)
        if end is None:
            self.output.start(self._audio, self._rate, start_frame=f)
        elif loop:
            a = round((loop_from if loop_from is not None else t) * self._rate)
            self.output.start(self._audio, self._rate, start_frame=f, loop=(a, round(end * self._rate)))
        else:
            self.output.start(self._audio[: round(end * self._rate)], self._rate, start_frame=f)

    def _begin_playing(self) -> None:
        self._set_state(PLAYING)
        if not self.output.available and not self._told_silent:
            self._told_silent = True
            self.message.emit(f"{self.output.reason}: playback is silent")
        self._timer.start()
        self._tick()

    def _set_state(self, state: str) -> None:
        if state != self._state:
            self._state = state
            self.stateChanged.emit(state)

    def _emit_position(self, t: float, force: bool = False) -> None:
        if force or abs(t - self._last_emitted) >= 0.015:
            self._last_emitted = t
            self.positionChanged.emit(t)

    def _show_at(self, t: float) -> None:
        """Show the frame at ``t`` now if decoded, else as soon as the thread has it."""
        k = frame_index_at(t, self._fps, self._n_frames)
        self._want = k
        pf = self._res.prefetcher
        if pf is None:
            return
        pf.request(k)
        frame = pf.get(k)
        if frame is not None and k != self._shown:
            self._emit_frame(k, frame)

    def _emit_frame(self, k: int, frame: np.ndarray) -> None:
        if self._state == PLAYING and self._shown >= 0 and k > self._shown + 1:
            self.frames_dropped += k - self._shown - 1
        self._shown = k
        self.frames_shown += 1
        self.frameReady.emit(k / self._fps, frame)

    def _thread_ready(self, k: int) -> None:
        # Called on the decode thread: hand over to the GUI thread. RuntimeError: the
        # player's C++ side is already gone (shutting down).
        with contextlib.suppress(RuntimeError):
            self._decoded.emit(k)

    def _on_decoded(self, k: int) -> None:
        pf = self._res.prefetcher
        if pf is None:
            return
        self._report_decode_error(pf)
        if self._state != PLAYING and k == self._want and k != self._shown:
            frame = pf.get(k)
            if frame is not None:
                self._emit_frame(k, frame)

    def _report_decode_error(self, pf: FramePrefetcher) -> None:
        if pf.error and not self._told_error:
            self._told_error = True
            self.message.emit(f"Cannot show the video: {pf.error}")

    def _tick(self) -> None:
        if self._state != PLAYING:
            self._timer.stop()
            return
        out = self.output
        t = self.position()
        if not out.is_playing:
            self._finish()
            return
        pf = self._res.prefetcher
        if pf is not None:
            k = frame_index_at(t, self._fps, self._n_frames)
            self._want = k
            pf.request(k)
            if k != self._shown:
                frame = pf.get(k)
                if frame is not None:
                    self._emit_frame(k, frame)
            self._report_decode_error(pf)
        self._emit_position(t)

    def _finish(self) -> None:
        """The sound ran out: a window stops at its end, the media at its end."""
        self._timer.stop()
        w = self._window
        end = w[1] if w is not None else self._duration
        self._pos = end
        self._window = None
        self._output_paused = False
        self.output.stop()
        self._set_state(PAUSED if w is not None else STOPPED)
        self._emit_position(end, force=True)
        self._show_at(min(end, self._duration - 0.5 / self._fps))

