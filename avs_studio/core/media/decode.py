"""Decoding video frames and audio with PyAV: seeking, the official sampled frames, PCM.

``open_media(path)`` returns a :class:`MediaFile` (probing the file at once, so that a
bad file fails there, with its name). It keeps one video decoder whose position it
remembers: stepping forward decodes on and never re-seeks; a jump seeks to the keyframe
before the target (known from the demuxed :class:`FrameTable`) and decodes forward.
Containers are closed by :meth:`MediaFile.close` or at the end of a ``with`` block. A
``MediaFile`` is not thread-safe: use it from one thread at a time.

Times are seconds from the start of the file (the container start time, 0:00 in a
player). Frames come back as upright RGB ``uint8`` arrays ``[H, W, 3]``: the stream's
display matrix (or legacy ``rotate`` tag) is applied as players and the ffmpeg command
line apply it; the sample aspect ratio is not.

The official AVSBench S4/MS3 frames (``formats.md`` §1.3) are emulated in
:mod:`avs_studio.core.media.official` (see there why): the scripts read clips through
imageio's ffmpeg pipe, which lays frames on a constant-rate grid. Decisions:

* Constant frame rate: the official index is the decoded frame's ordinal (presentation
  order), as the spec says.
* Variable frame rate: the official index counts *slots of that grid* at the stream's
  guessed rate (``r_frame_rate``), not decoded frames. :meth:`MediaFile.official_sampling`
  replays ffmpeg's frame duplication/dropping and maps each slot back to the decoded
  frame it shows; the ordinals returned are decoded-frame ordinals over the whole file.
* A segment of a longer video (``start > 0``) is treated as an exact cut: the frames
  whose presentation time is in ``[start, start+seconds)``, the first of them at time 0
  of the cut (so, at a constant rate, ordinals count from the first frame at or after
  ``start``); the audio is cut at the source sample nearest ``start``.
  How the released clips were cut is not in the official code.

:meth:`MediaFile.sampled_frames` decodes exactly those frames in one forward pass and
does not decode frames nobody references or needs (``skip_frame = NONREF``).
"""

from __future__ import annotations

import contextlib
import itertools
import math
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from fractions import Fraction
from pathlib import Path
from types import TracebackType

import av
import numpy as np

from avs_studio.core.errors import MediaError
from avs_studio.core.media import official
from avs_studio.core.media.official import OfficialSampling
from avs_studio.core.media.probe import (
    AudioStreamInfo,
    FrameTable,
    MediaInfo,
    VideoStreamInfo,
    media_error,
    open_container,
    origin_in,
    probe,
    read_frame_table,
)
from avs_studio.core.media.probe import official_sampling as _official_sampling
from avs_studio.core.threads import decoder_threads

__all__ = [
    "NO_AUDIO_RATE",
    "AudioStreamInfo",
    "MediaError",
    "MediaFile",
    "MediaInfo",
    "OfficialSampling",
    "VideoStreamInfo",
    "open_media",
    "probe",
]

_FFMPEG_ERRORS = (av.FFmpegError, OSError)
# Sample rate of the silence returned for files without audio (the model's rate).
NO_AUDIO_RATE = 16000
# Seek instead of decoding forward only when the seek skips at least this many frames:
# a seek flushes the (frame-threaded) decoder, which costs about as much.
_SEEK_MIN_FRAMES = 12
# Without a frame table, decode forward over gaps up to this long rather than seek.
_FORWARD_SECONDS = 2.0
# How far before a target to retry when a seek lands after it (then 2x, 4x, ...).
_SEEK_BACKOFF_SECONDS = 1.0
_SEEK_RETRIES = 4


def prime_decoder(container: av.container.InputContainer, stream: av.video.stream.VideoStream) -> None:
    """Decode the stream's first packet, before the first seek of a new decoder.

    Why: FFmpeg's H.264 decoder works around bugs of old x264 builds (4:4:4 among them) by
    the encoder version that x264 writes into an SEI of the first packet only. A decoder
    that seeks before it has seen that packet decodes every later frame wrongly (imageio's
    ``cockatoo.mp4``: green frames after a seek, the ffmpeg command line's ``-ss`` too).
    The decoder keeps what it learnt across the seek's flush. Costs one packet's decode.
    """
    try:
        for packet in container.demux(stream):
            if packet.size:
                stream.decode(packet)
                return
    except _FFMPEG_ERRORS:
        return  # a damaged start: the seek and the decode that follow say what is wrong


def open_media(path: str | os.PathLike[str]) -> MediaFile:
    """Open a media file lazily; use as ``with open_media(p) as m: ...``.

    Missing, empty or unreadable files raise :class:`MediaError` here.
    """
    mf = MediaFile(path)
    mf.info  # noqa: B018 - probe now so that a bad file fails at open, with its name
    return mf


class MediaFile:
    """One media file: frames at times, the official sampled frames and its audio.

    ``decoded_frames`` counts video frames the decoder produced and ``seeks`` the seeks
    done, so that callers (and tests) can check that work is not repeated.
    ``decode_errors`` counts packets the decoder rejected (damaged data is skipped,
    as the ffmpeg command line does).
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._info: MediaInfo | None = None
        self._table: FrameTable | None = None
        self._vc: av.container.InputContainer | None = None
        self._vs: av.video.stream.VideoStream | None = None
        self._gen: Iterator[av.VideoFrame] | None = None
        self._prev: av.VideoFrame | None = None
        self._next: av.VideoFrame | None = None
        self._at_start = False
        self._exhausted = False
        self._wanted: set[int] | None = None
        self._primed = False
        self._skipped = False
        self.decoded_frames = 0
        self.seeks = 0
        self.decode_errors = 0

    # --- lifetime -----------------------------------------------------------------------

    def close(self) -> None:
        """Close the decoder and its file; the object can be reopened by using it again."""
        self._prev = self._next = None
        self._gen = None
        if self._vc is not None:
            self._vc.close()
        self._vc = self._vs = None

    def __enter__(self) -> MediaFile:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # --- what the file holds ----------------------------------------------------------

    @property
    def info(self) -> MediaInfo:
        """The :class:`MediaInfo` of the file (probed on first use)."""
        if self._info is None:
            self._info = probe(self.path)
        return self._info

    @property
    def has_audio(self) -> bool:
        """False for files without an audio stream (their audio reads as silence)."""
        return self.info.has_audio

    @property
    def has_video(self) -> bool:
        """False for audio-only files (asking them for frames raises :class:`MediaError`)."""
        return self.info.has_video

    @property
    def duration(self) -> float | None:
        """Duration of the file in seconds (None when the container does not say)."""
        return self.info.duration

    def frame_table(self) -> FrameTable:
        """Timestamps of every video frame (demuxed once, no decoding)."""
        video = self._require_video()
        if self._table is None:
            self._table = self.info.frame_table
        if self._table is None:
            with open_container(self.path) as c:
                self._table = read_frame_table(c, c.streams[video.index])
        if len(self._table) == 0:
            raise media_error(self.path, "has a video stream but no readable frames")
        return self._table

    # --- frames ---------------------------------------------------------------------------

    def frame_at(self, t: float) -> np.ndarray:
        """The upright RGB frame displayed at ``t`` seconds (the last frame past the end)."""
        return self.frame_with_time_at(t)[0]

    def frame_with_time_at(self, t: float) -> tuple[np.ndarray, float]:
        """Like :meth:`frame_at`, also returning the frame's own presentation time."""
        frame = self._frame_at_pts(self._pts_of_time(t))
        return self._to_rgb(frame), self._time_of(frame)

    def frames_at(self, times: Iterable[float]) -> list[np.ndarray]:
        """Frames at several times, in the order given, decoded in one forward pass."""
        times = list(times)
        targets = [self._pts_of_time(t) for t in times]
        return self._frames_at_pts(targets)

    def frames_by_ordinal(self, ordinals: Sequence[int]) -> list[np.ndarray]:
        """Frames by their 0-based position in presentation order, in one forward pass."""
        table = self.frame_table()
        n = len(table)
        for o in ordinals:
            if not 0 <= int(o) < n:
                raise IndexError(f"frame {o} does not exist: {self.path.name} has {n} frames")
        targets = [int(table.pts[int(o)]) for o in ordinals]
        frames = self._frames_at_pts(targets, exact=True)
        if frames is None:
            return self._frames_by_counting(ordinals)
        return frames

    def iter_frames(
        self, start: float = 0.0, end: float | None = None, *, raw: bool = False
    ) -> Iterator[tuple[float, np.ndarray]]:
        """Every frame whose presentation time is in ``[start, end)``, as ``(time, rgb)``.

        Uses its own decoder, so it does not disturb :meth:`frame_at`'s position. ``raw``
        yields the decoded ``av.VideoFrame`` as stored (no conversion, no rotation).
        """
        video = self._require_video()
        with open_container(self.path) as c:
            vs = c.streams[video.index]
            _use_threads(vs)
            tb = Fraction(vs.time_base)
            origin = origin_in(c, tb)
            if start > _FORWARD_SECONDS:
                prime_decoder(c, vs)
                c.seek(origin + int((start - _SEEK_BACKOFF_SECONDS) / tb), stream=vs)
            with contextlib.closing(self._decode_packets(c, vs)) as frames:
                for frame in frames:
                    t = float((frame.pts - origin) * tb)
                    if end is not None and t >= end:
                        break
                    if t >= start - 1e-9:
                        yield t, (frame if raw else self._to_rgb(frame))

    # --- the official AVSBench S4/MS3 frames -----------------------------------------

    def official_sampling(self, seconds: int = 5, start: float = 0.0) -> OfficialSampling:
        """Which frames the official S4/MS3 preprocessing samples for this clip.

        ``start == 0`` treats the file as the (already trimmed) clip; ``start > 0``
        emulates cutting ``[start, start+seconds)`` out of a longer video first. See
        :func:`avs_studio.core.media.probe.official_sampling`.
        """
        video = self._require_video()
        return _official_sampling(
            self.frame_table(),
            video,
            self.info.nb_streams,
            seconds=seconds,
            start=start,
            path=self.path,
        )

    def official_frame_indices(self, seconds: int = 5, start: float = 0.0) -> list[int]:
        """Ordinals (0-based, presentation order, over the whole file) of the official frames."""
        return list(self.official_sampling(seconds, start).ordinals)

    def sampled_frames(
        self, seconds: int = 5, start: float = 0.0
    ) -> tuple[list[np.ndarray], list[float]]:
        """The official frames (full resolution, upright RGB) and their times in seconds."""
        s = self.official_sampling(seconds, start)
        return self.frames_by_ordinal(s.ordinals), list(s.times)

    # --- audio ------------------------------------------------------------------------------

    def audio(
        self, start: float = 0.0, duration: float | None = None, *, stream: int | None = None
    ) -> tuple[np.ndarray, int]:
        """PCM ``float32 [S, channels]`` in [-1, 1] at the stream's native rate.

        ``duration=None`` reads to the end of the audio. A file without audio returns
        silence ``[S, 1]`` at :data:`NO_AUDIO_RATE` as long as the requested span (or
        the file); check :attr:`has_audio` to tell silence from no audio.
        """
        start = _check_time(start, "start")
        if duration is not None and (duration < 0 or not math.isfinite(duration)):
            raise ValueError("duration must be a finite number of seconds >= 0")
        info = self.info
        if not info.audio_streams:
            span = duration if duration is not None else max((info.duration or 0.0) - start, 0.0)
            return np.zeros((round(span * NO_AUDIO_RATE), 1), dtype=np.float32), NO_AUDIO_RATE
        a_info = self._audio_stream_info(stream)
        pieces, rate, channels = self._decode_audio(a_info, start, duration)
        return _assemble(pieces, rate, channels, duration), rate

    def official_wav(
        self, start: float = 0.0, duration: float | None = None
    ) -> tuple[np.ndarray, int]:
        """The ``int16 [S, 2]`` 16-kHz audio the official S4/MS3 preprocessing writes.

        An emulation of moviepy 1.x (``audio.md`` §5.1): ffmpeg's resampler (PyAV's
        ``AudioResampler``, i.e. libswresample, as the ffmpeg command line uses it) turns
        the track into 44.1 kHz stereo int16; moviepy picks sample ``round(44100·n/16000)``
        for output sample ``n``, clips to ±0.99, multiplies by 32768 and truncates. The
        length is ``int(16000·D)`` with ``D`` the clip duration as ffmpeg prints it (two
        decimals). A mono track is upmixed by libswresample to two equal channels at
        -3 dB (×0.7071). A file without audio gives zeros (the official script would fail).
        """
        start = _check_time(start, "start")
        info = self.info
        if start == 0.0 and duration is None:
            d_us = info.duration_us
        else:
            span = official.duration_of_clip(info.duration, start, duration)
            d_us = round(span * official.AV_TIME_BASE)
        n_out = official.moviepy_sample_count(official.ffmpeg_printed_duration(d_us))
        if not info.audio_streams:
            return np.zeros((n_out, 2), dtype=np.int16), official.OFFICIAL_WAV_RATE
        need = math.ceil(n_out * official.MOVIEPY_READ_RATE / official.OFFICIAL_WAV_RATE) + 2
        buf = self._decode_audio_44k_s16(self._audio_stream_info(None), start, need)
        return official.moviepy_pick(buf, n_out), official.OFFICIAL_WAV_RATE

    def audio_16k_mono(
        self, start: float = 0.0, duration: float | None = None
    ) -> tuple[np.ndarray, int]:
        """Mono 16-kHz ``float32 [S]``: mean over channels, then resampy ``kaiser_best``.

        The order (mix down, then resample) follows ``audio.md`` §2. Resampling goes
        through :func:`avs_studio.core.audio.logmel.resample`.
        """
        pcm, rate = self.audio(start, duration)
        mono = pcm.astype(np.float64).mean(axis=1)
        if rate != official.OFFICIAL_WAV_RATE:
            from avs_studio.core.audio.logmel import (
                resample,  # lazy: the front end is only needed here
            )

            mono = np.asarray(resample(mono, rate, official.OFFICIAL_WAV_RATE))
        return mono.astype(np.float32), official.OFFICIAL_WAV_RATE

    # --- internals: video -----------------------------------------------------------------

    def _require_video(self) -> VideoStreamInfo:
        video = self.info.video
        if video is None:
            raise media_error(
                self.path, "has no video stream (it is an audio-only file), so it has no frames"
            )
        return video

    def _open_video(self) -> None:
        video = self._require_video()
        self.close()
        self._vc = open_container(self.path)
        self._vs = self._vc.streams[video.index]
        _use_threads(self._vs)
        self._primed = False
        self._gen = self._decode_packets(self._vc, self._vs, cursor=True)
        self._at_start = True
        self._exhausted = False

    def _decode_packets(
        self,
        container: av.container.InputContainer,
        stream: av.video.stream.VideoStream,
        cursor: bool = False,
    ) -> Iterator[av.VideoFrame]:
        """Decoded frames from the current position; damaged packets are skipped.

        For the cursor's decoder, while a batch of exact timestamps is wanted
        (``self._wanted``), frames that no other frame references and that are not
        wanted are not decoded at all (``skip_frame = NONREF``).
        """
        demux = container.demux(stream)
        last_pts: int | None = None
        skipping = False
        table = self._table or self.info.frame_table
        # AVI with B-frames: decoder timestamps are not in presentation order (FrameTable)
        positional = table is not None and table.positional
        if cursor:
            stream.codec_context.skip_frame = "DEFAULT"
        while True:
            try:
                packet = next(demux)
            except StopIteration:
                return
            except _FFMPEG_ERRORS:
                packet = None  # unreadable rest of file: drain what the decoder holds
            if cursor:
                # Positional streams decode every frame: a skipped one would shift the count.
                skip = (
                    self._wanted is not None
                    and not positional
                    and packet is not None
                    and packet.pts is not None
                    and packet.pts not in self._wanted
                )
                if skip != skipping:
                    stream.codec_context.skip_frame = "NONREF" if skip else "DEFAULT"
                    skipping = skip
                    self._skipped |= skip
            try:
                frames = stream.decode(packet)
            except _FFMPEG_ERRORS:
                self.decode_errors += 1
                frames = []
            for frame in frames:
                if positional:
                    # What the ffmpeg command line does (libavcodec's best-effort timestamp,
                    # which falls back to the decode timestamps once the presentation ones
                    # go backwards): the packet's dts, which runs in output order.
                    if frame.dts is not None:
                        frame.pts = frame.dts
                    elif last_pts is not None:
                        frame.pts = last_pts + 1
                elif frame.pts is None:
                    # Some containers (AVI with B-frames) carry no timestamps.
                    frame.pts = 0 if last_pts is None else last_pts + 1
                last_pts = frame.pts
                self.decoded_frames += 1
                yield frame
            if packet is None:
                return

    def _pts_of_time(self, t: float) -> int:
        t = _check_time(t, "time")
        video = self._require_video()
        tb = video.time_base or Fraction(1, official.AV_TIME_BASE)
        origin = self._table.origin_pts if self._table is not None else self._origin_pts(tb)
        # A hair of slack so that a frame's own (rounded) time selects that frame.
        return origin + math.floor(t / tb + 1e-6)

    def _origin_pts(self, tb: Fraction) -> int:
        if self.info.frame_table is not None:
            return self.info.frame_table.origin_pts
        return official.rescale_q(
            round(self.info.start_time * official.AV_TIME_BASE),
            Fraction(1, official.AV_TIME_BASE),
            tb,
        )

    def _time_of(self, frame: av.VideoFrame) -> float:
        video = self._require_video()
        tb = video.time_base or Fraction(1, official.AV_TIME_BASE)
        return float((frame.pts - self._origin_pts(tb)) * tb)

    def _frames_at_pts(
        self, targets: Sequence[int], exact: bool = False
    ) -> list[np.ndarray] | None:
        order = sorted(range(len(targets)), key=lambda i: targets[i])
        out: list[np.ndarray | None] = [None] * len(targets)
        cache: dict[int, np.ndarray] = {}
        if exact:
            self._wanted = {int(t) for t in targets}
        try:
            for i in order:
                target = targets[i]
                frame = self._frame_at_pts(target)
                if exact and frame.pts != target:
                    return None  # decoder timestamps disagree with the demuxed ones
                key = int(frame.pts)
                if key not in cache:
                    cache[key] = self._to_rgb(frame)
                out[i] = cache[key]
        finally:
            self._wanted = None
            if self._skipped:
                # Frames skipped while batching may be needed later: restart cleanly.
                self._gen = None
                self._prev = self._next = None
                self._skipped = False
        return [o for o in out if o is not None]

    def _frames_by_counting(self, ordinals: Sequence[int]) -> list[np.ndarray]:
        """Fallback when decoder and demuxer disagree (damaged files): count decoded frames.

        One pass from the first frame. As in the official pipeline, an ordinal past the
        last frame that could be decoded gets that last frame.
        """
        wanted = {int(o) for o in ordinals}
        found: dict[int, np.ndarray] = {}
        last: tuple[int, av.VideoFrame] | None = None
        video = self._require_video()
        with open_container(self.path) as c:
            vs = c.streams[video.index]
            _use_threads(vs)
            with contextlib.closing(self._decode_packets(c, vs)) as frames:
                for k, frame in enumerate(frames):
                    last = (k, frame)
                    if k in wanted:
                        found[k] = self._to_rgb(frame)
                    if len(found) == len(wanted):
                        break
            if last is None:
                raise media_error(
                    self.path, "no video frame could be decoded (damaged or empty video)"
                )
            for o in wanted - found.keys():
                found[o] = self._to_rgb(last[1])
        return [found[int(o)] for o in ordinals]

    def _can_step_to(self, target: int) -> bool:
        """True when decoding forward from the current position is the cheap way to ``target``."""
        if self._gen is None:
            return False
        cur = self._prev.pts if self._prev is not None else None
        if cur is None:
            if not self._at_start:
                return False
        elif cur > target:
            return False
        table = self._table or self.info.frame_table
        if table is not None:
            t_ord = int(np.searchsorted(table.pts, target, side="right")) - 1
            if t_ord < 0:
                return self._at_start and cur is None
            key = table.keyframe_before(t_ord)
            c_ord = -1 if cur is None else int(np.searchsorted(table.pts, cur, side="right")) - 1
            return key <= c_ord or key - c_ord < _SEEK_MIN_FRAMES
        if cur is None:
            first = self._first_pts_hint()
            return first is not None and (target - first) * self._tb() <= _FORWARD_SECONDS
        return (target - cur) * self._tb() <= _FORWARD_SECONDS

    def _first_pts_hint(self) -> int | None:
        assert self._vs is not None
        return self._vs.start_time

    def _tb(self) -> Fraction:
        assert self._vs is not None
        return Fraction(self._vs.time_base)

    def _seek(self, pts: int) -> None:
        assert self._vc is not None and self._vs is not None
        self.seeks += 1
        try:
            if not self._primed:
                prime_decoder(self._vc, self._vs)
                self._primed = True
            self._vc.seek(int(pts), stream=self._vs, backward=True, any_frame=False)
        except _FFMPEG_ERRORS:
            self._open_video()
            return
        self._gen = self._decode_packets(self._vc, self._vs, cursor=True)
        self._prev = self._next = None
        self._at_start = False
        self._exhausted = False

    def _seek_point(self, target: int) -> int:
        table = self._table or self.info.frame_table
        if table is None:
            return target
        t_ord = max(int(np.searchsorted(table.pts, target, side="right")) - 1, 0)
        return int(table.pts[table.keyframe_before(t_ord)])

    def _frame_at_pts(self, target: int) -> av.VideoFrame:
        if self._vc is None:
            self._open_video()
        if not self._can_step_to(target):
            self._seek(self._seek_point(target))
        frame = self._advance(target)
        backoff = round(_SEEK_BACKOFF_SECONDS / self._tb())
        for k in range(_SEEK_RETRIES):
            if frame is not None or self._at_start or self._exhausted:
                break
            # The seek landed after the target (inexact index): go back further.
            self._seek(self._seek_point(target) - backoff * (1 << k))
            frame = self._advance(target)
        if frame is None and not self._at_start:
            self._open_video()  # last resort: decode from the first packet
            frame = self._advance(target)
        if frame is None:
            raise media_error(self.path, "no video frame could be decoded (damaged or empty video)")
        return frame

    def _advance(self, target: int) -> av.VideoFrame | None:
        """Decode forward to the last frame with pts <= target (the first frame if none)."""
        assert self._gen is not None
        while True:
            if self._next is not None:
                frame = self._next
            else:
                frame = next(self._gen, None)
                if frame is None:
                    # End of stream: the last frame stays on screen.
                    self._exhausted = self._prev is None
                    return self._prev
            if frame.pts > target:
                self._next = frame
                if self._prev is None:
                    return frame if self._at_start else None
                return self._prev
            self._prev, self._next = frame, None

    def _to_rgb(self, frame: av.VideoFrame) -> np.ndarray:
        # Bicubic is the ffmpeg command line's default scaler flag (chroma upsampling);
        # one thread keeps the conversion reproducible (see media_writer).
        rgb = frame.to_ndarray(format="rgb24", interpolation="BICUBIC", threads=1)
        rotation = self.info.video.rotation if self.info.video is not None else 0
        if rotation:
            rgb = np.ascontiguousarray(np.rot90(rgb, k=-(rotation // 90)))
        return rgb

    # --- internals: audio -----------------------------------------------------------------

    def _audio_stream_info(self, stream: int | None) -> AudioStreamInfo:
        streams = self.info.audio_streams
        if not streams:
            raise media_error(self.path, "has no audio stream")
        if stream is None:
            return streams[0]
        for a in streams:
            if a.index == stream:
                return a
        raise media_error(self.path, f"has no audio stream #{stream}")

    def _decode_audio(
        self, a_info: AudioStreamInfo, start: float, duration: float | None
    ) -> tuple[list[tuple[int, np.ndarray]], int, int]:
        """Decoded audio as (sample offset from ``start``, float32 [n, ch]) pieces."""
        pieces: list[tuple[int, np.ndarray]] = []
        rate = a_info.sample_rate or 0
        channels = max(a_info.channels, 1)
        with open_container(self.path) as c:
            s = c.streams[a_info.index]
            tb = Fraction(s.time_base)
            origin = (c.start_time or 0) / official.AV_TIME_BASE
            if start > _SEEK_BACKOFF_SECONDS:
                _seek_before(c, s, round((origin + start - _SEEK_BACKOFF_SECONDS) / tb))
            next_offset: int | None = None
            with contextlib.closing(_decode_audio_frames(c, s, self)) as frames:
                for frame in frames:
                    rate = frame.sample_rate
                    data = _audio_to_float(frame)
                    channels = data.shape[1]
                    if frame.pts is not None:
                        offset = round((float(frame.pts * tb) - origin - start) * rate)
                        if next_offset is not None and abs(offset - next_offset) <= 1:
                            offset = next_offset  # keep consecutive frames contiguous
                    else:
                        offset = next_offset or 0
                    next_offset = offset + data.shape[0]
                    if next_offset <= 0:
                        continue
                    pieces.append((offset, data))
                    if duration is not None and offset >= round(duration * rate):
                        break
        if not rate:
            raise media_error(self.path, "audio stream has no sample rate")
        return pieces, rate, channels

    def _decode_audio_44k_s16(self, a_info: AudioStreamInfo, start: float, need: int) -> np.ndarray:
        """ffmpeg's ``-ar 44100 -ac 2 -f s16le`` output: int16 [S, 2] from ``start``.

        For ``start > 0`` the track is first cut at the source sample nearest ``start``
        (as a trimmed file would hold it) and resampled from there, so the 44.1-kHz grid
        starts exactly at the cut.
        """
        resampler = av.AudioResampler(
            format="s16", layout="stereo", rate=official.MOVIEPY_READ_RATE
        )
        chunks: list[np.ndarray] = []
        have = 0
        with open_container(self.path) as c:
            s = c.streams[a_info.index]
            tb = Fraction(s.time_base)
            origin = (c.start_time or 0) / official.AV_TIME_BASE
            if start > 0:
                _seek_before(c, s, round((origin + start - _SEEK_BACKOFF_SECONDS) / tb))
            frames = _decode_audio_frames(c, s, self, stop=lambda: have >= need)
            for frame in itertools.chain(frames, [None]):  # None flushes the resampler
                if frame is not None and start > 0:
                    frame = _cut_before(frame, origin + start, tb)
                    if frame is None:
                        continue
                for out in resampler.resample(frame):
                    arr = out.to_ndarray().reshape(-1, 2)
                    chunks.append(arr)
                    have += arr.shape[0]
        return np.concatenate(chunks) if chunks else np.zeros((0, 2), dtype=np.int16)


def _cut_before(frame: av.AudioFrame, t_cut: float, tb: Fraction) -> av.AudioFrame | None:
    """``frame`` without its samples before ``t_cut`` (None when all are before it)."""
    if frame.pts is None:
        return frame
    rate = frame.sample_rate
    first = round(float(frame.pts * tb) * rate)
    cut = round(t_cut * rate)
    if first >= cut:
        return frame
    k = cut - first
    if k >= frame.samples:
        return None
    arr = frame.to_ndarray()
    channels = frame.layout.nb_channels
    arr = arr[:, k:] if frame.format.is_planar else arr[:, k * channels :]
    out = av.AudioFrame.from_ndarray(
        np.ascontiguousarray(arr), format=frame.format.name, layout=frame.layout.name
    )
    out.sample_rate = rate
    out.pts = cut
    out.time_base = Fraction(1, rate)
    return out


def _seek_before(c: av.container.InputContainer, s: av.stream.Stream, pts: int) -> None:
    """Seek ``s`` to at or before ``pts``; on failure stay at the start of the file."""
    with contextlib.suppress(*_FFMPEG_ERRORS):
        c.seek(pts, stream=s, backward=True)


def _decode_audio_frames(
    c: av.container.InputContainer,
    s: av.stream.Stream,
    owner: MediaFile,
    stop: Callable[[], bool] | None = None,
) -> Iterator[av.AudioFrame]:
    """Decoded audio frames from the current position; damaged packets are skipped."""
    demux = c.demux(s)
    while stop is None or not stop():
        try:
            packet = next(demux)
        except StopIteration:
            return
        except _FFMPEG_ERRORS:
            packet = None
        try:
            frames = s.decode(packet)
        except _FFMPEG_ERRORS:
            owner.decode_errors += 1
            frames = []
        yield from frames
        if packet is None:
            return


_INT_SCALE = {"s16": 32768.0, "s32": 2147483648.0, "s64": 9223372036854775808.0}


def _audio_to_float(frame: av.AudioFrame) -> np.ndarray:
    """Any sample format -> float32 [n, channels] (PCM scaled by 1/2^(bits-1))."""
    arr = frame.to_ndarray()
    fmt = frame.format
    channels = frame.layout.nb_channels
    arr = arr.T if fmt.is_planar else arr.reshape(-1, channels)
    base = fmt.name.rstrip("p")
    if base in _INT_SCALE:
        out = arr.astype(np.float64) / _INT_SCALE[base]
    elif base == "u8":
        out = (arr.astype(np.float64) - 128.0) / 128.0
    else:
        out = arr
    return np.asarray(out, dtype=np.float32)


def _assemble(
    pieces: list[tuple[int, np.ndarray]], rate: int, channels: int, duration: float | None
) -> np.ndarray:
    if duration is not None:
        total = round(duration * rate)
    else:
        total = max((off + d.shape[0] for off, d in pieces), default=0)
    out = np.zeros((max(total, 0), channels), dtype=np.float32)
    for off, data in pieces:
        lo, hi = max(off, 0), min(off + data.shape[0], total)
        if hi > lo:
            out[lo:hi, : data.shape[1]] = data[lo - off : hi - off, :channels]
    np.clip(out, -1.0, 1.0, out=out)
    return out


def _check_time(t: float, what: str) -> float:
    t = float(t)
    if not math.isfinite(t) or t < 0:
        raise ValueError(f"{what} must be a finite number of seconds >= 0, got {t}")
    return t


def _use_threads(vs: av.video.stream.VideoStream) -> None:
    """Thread a decoder as :func:`~avs_studio.core.threads.set_decoder_threads` asks."""
    count = decoder_threads()
    if count == 1:
        vs.thread_type = "NONE"
        return
    vs.thread_type = "AUTO"
    if count > 1:
        vs.thread_count = count
