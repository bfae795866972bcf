"""What a media file holds: streams, rates, rotation, frame timestamps (no full decode).

:func:`probe` opens a file with PyAV, reads the stream headers, decodes at most one
video frame (for the display matrix) and, for files up to :data:`COUNT_FRAMES_MAX_SECONDS`
long, demuxes the video packets to get every frame's presentation timestamp. That
:class:`FrameTable` gives the exact frame count, the variable-frame-rate check and the
frames that the official AVSBench preprocessing samples.

Times are seconds from the start of the file (the container's start time), which is
what players show as 0:00.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from avs_studio.core.errors import MediaError
from avs_studio.core.fsutil import require_regular_file
from avs_studio.core.media import official

# Demuxing every packet is I/O only (no decoding), a few ms for an AVSBench clip.
COUNT_FRAMES_MAX_SECONDS = 600.0
# Containers ffmpeg may "open" that are not media a user would call a video.
_NOT_MEDIA_FORMATS = {"tty", "lrc", "srt", "ass", "webvtt", "subviewer", "microdvd"}
_FFMPEG_ERRORS = (av.FFmpegError, OSError)
AV_TIME_BASE_INT = official.AV_TIME_BASE


def media_error(
    path: str | os.PathLike[str], what: str, exc: BaseException | None = None
) -> MediaError:
    """A :class:`MediaError` naming the file, with the library's reason appended."""
    name = Path(path).name or str(path)
    msg = f"{name}: {what}"
    if exc is not None:
        reason = getattr(exc, "strerror", None) or str(exc)
        msg += f" ({reason})"
    return MediaError(msg)


def open_container(path: str | os.PathLike[str]) -> av.container.InputContainer:
    """Open ``path`` for reading or raise a :class:`MediaError` a user can act on."""
    p = Path(path)
    if not p.exists():
        raise media_error(p, "file not found")  # checked first: FFmpeg's wording is vaguer
    if p.is_dir():
        raise media_error(p, "is a folder, not a media file")
    if not p.is_file():  # a FIFO would block FFmpeg, a device would never end
        require_regular_file(p, MediaError, "media file")
    if p.stat().st_size == 0:
        raise media_error(p, "the file is empty")
    try:
        container = av.open(str(p), mode="r", metadata_errors="ignore")
    except av.error.EOFError as exc:
        raise media_error(p, "is truncated or holds no media data", exc) from None
    except PermissionError as exc:
        raise media_error(p, "cannot be read (permission denied)", exc) from None
    except _FFMPEG_ERRORS as exc:
        raise media_error(p, "is not a video or audio file FFmpeg can read", exc) from None
    if container.format.name in _NOT_MEDIA_FORMATS:
        container.close()
        raise media_error(
            p, f"is not a video or audio file (FFmpeg reads it as {container.format.name})"
        )
    return container


def pick_video_stream(container: av.container.InputContainer) -> av.video.stream.VideoStream | None:
    """The main video stream, ignoring cover art (attached pictures)."""
    candidates = [
        s
        for s in container.streams.video
        if not (int(s.disposition) & int(av.stream.Disposition.attached_pic))
    ]
    if not candidates:
        return None
    defaults = [s for s in candidates if int(s.disposition) & int(av.stream.Disposition.default)]
    return (defaults or candidates)[0]


def clockwise_rotation(ccw_degrees: float) -> int:
    """Display-matrix angle (counter-clockwise, as ffmpeg reports it) -> clockwise 0/90/180/270."""
    if not math.isfinite(ccw_degrees):
        return 0
    return int(round(-ccw_degrees / 90.0)) % 4 * 90


def rotation_from_tag(stream: av.stream.Stream) -> int:
    """The legacy ``rotate`` metadata tag (clockwise degrees), 0 when absent or odd."""
    tag = (stream.metadata or {}).get("rotate")
    try:
        return int(round(float(tag) / 90.0)) % 4 * 90 if tag is not None else 0
    except ValueError:
        return 0


@dataclass(frozen=True, eq=False)
class FrameTable:
    """Presentation timestamps of every video frame, from demuxing (no decoding).

    ``pts`` is sorted (presentation order); ``durations`` and ``keyframes`` follow it.
    All three are in the stream's ``time_base``. ``origin_pts`` is the file's start time
    in the same unit (time 0 for users and for the official pipeline).

    ``positional`` is True for an AVI stream whose frames are reordered (B-frames, often
    "packed" two to a packet): AVI stores no presentation times, so the timestamps the
    decoder attaches to such frames do not follow the order it shows them in. The
    decoder's output order is the presentation order, and the ffmpeg command line (the
    official reader) numbers the frames in that order; so do we: the frame the decoder
    outputs ``k``-th from a keyframe is the ``k``-th frame after it in ``pts``.
    """

    time_base: Fraction
    pts: np.ndarray
    durations: np.ndarray
    keyframes: np.ndarray
    origin_pts: int
    positional: bool = False

    def __len__(self) -> int:
        return int(self.pts.shape[0])

    @property
    def times(self) -> np.ndarray:
        """Presentation times in seconds from the start of the file."""
        return (self.pts - self.origin_pts).astype(np.float64) * float(self.time_base)

    def ordinal_at(self, t: float) -> int:
        """Ordinal of the frame displayed at ``t`` seconds (the first frame before it starts)."""
        target = self.origin_pts + t / float(self.time_base)
        i = int(np.searchsorted(self.pts, target + 1e-6, side="right")) - 1
        return min(max(i, 0), len(self) - 1)

    def keyframe_before(self, ordinal: int) -> int:
        """Ordinal of the last keyframe at or before ``ordinal`` (0 when none)."""
        keys = np.flatnonzero(self.keyframes[: ordinal + 1])
        return int(keys[-1]) if keys.size else 0

    def looks_variable(self) -> bool:
        """True when frame intervals differ by more than 10 % (and one tick)."""
        if len(self) < 3:
            return False
        deltas = np.diff(self.pts)
        deltas = deltas[deltas > 0]
        if deltas.size < 2:
            return False
        spread = int(deltas.max() - deltas.min())
        return spread > max(1, 0.1 * float(np.median(deltas)))


def read_frame_table(
    container: av.container.InputContainer, stream: av.video.stream.VideoStream
) -> FrameTable:
    """Demux all packets of ``stream`` (from the start) into a :class:`FrameTable`.

    Reading stops quietly at the first unreadable packet: a truncated file yields the
    frames before the damage.
    """
    tb = stream.time_base or Fraction(1, AV_TIME_BASE_INT)
    pts_list: list[int] = []
    dur_list: list[int] = []
    key_list: list[bool] = []
    last = None
    reordered = False  # some packet's pts differs from its dts: the stream has B-frames
    demux = container.demux(stream)
    while True:
        try:
            packet = next(demux)
        except StopIteration:
            break
        except _FFMPEG_ERRORS:
            break
        if packet.size == 0:
            continue
        p = packet.pts if packet.pts is not None else packet.dts
        if p is None:
            p = (last + max(dur_list[-1], 1)) if last is not None else 0
        elif packet.pts is not None and packet.dts is not None and packet.pts != packet.dts:
            reordered = True
        last = p
        pts_list.append(int(p))
        dur_list.append(int(packet.duration or 0))
        key_list.append(bool(packet.is_keyframe))
    pts = np.asarray(pts_list, dtype=np.int64)
    order = np.argsort(pts, kind="stable")
    durations = np.asarray(dur_list, dtype=np.int64)[order]
    fmt = container.format.name.split(",")
    if reordered and "mov" in fmt:
        durations = _legacy_mov_durations(stream, tb, durations)
    return FrameTable(
        time_base=Fraction(tb),
        pts=pts[order],
        durations=durations,
        keyframes=np.asarray(key_list, dtype=bool)[order],
        origin_pts=origin_in(container, tb),
        positional=reordered and "avi" in fmt,
    )


def _legacy_mov_durations(
    stream: av.video.stream.VideoStream, tb: Fraction, durations: np.ndarray
) -> np.ndarray:
    """Packet durations of an MP4/MOV stream with B-frames as the official reader saw them.

    The MP4 demuxer of ffmpeg 4.x/5.x (the official preprocessing ran ffmpeg 4.x through
    imageio) sets no duration on packets of a stream with composition offsets (``ctts``);
    libavformat then gives every packet one frame at ``r_frame_rate``
    (``ff_compute_frame_duration``, rounded down). Newer demuxers (the one PyAV bundles)
    give the sample's own duration instead, which differs on a variable-frame-rate file
    and moves the official frame grid by a frame.
    """
    rate = _rate(stream.base_rate)
    if rate is None:
        return np.zeros_like(durations)
    one = (tb.denominator * rate.denominator) // (tb.numerator * rate.numerator)
    return np.full_like(durations, max(int(one), 0))


def origin_in(container: av.container.InputContainer, time_base: Fraction) -> int:
    """The container's start time expressed in ``time_base`` (0 when unknown)."""
    start = container.start_time
    if start is None:
        return 0
    return official.rescale_q(int(start), Fraction(1, AV_TIME_BASE_INT), Fraction(time_base))


@dataclass(frozen=True)
class VideoStreamInfo:
    """The main video stream.

    ``width``/``height`` are the stored picture size; ``display_width``/``display_height``
    the size after ``rotation`` (clockwise degrees a player turns the picture: 0, 90,
    180 or 270; sample aspect ratio is not applied). ``frame_count_source`` says how
    ``frame_count`` was obtained: ``"counted"`` (every packet demuxed, exact),
    ``"header"`` (the container's count) or ``"estimated"`` (duration × average rate).
    """

    index: int
    codec: str
    width: int
    height: int
    display_width: int
    display_height: int
    rotation: int
    pix_fmt: str | None
    avg_rate: Fraction | None
    r_frame_rate: Fraction | None
    guessed_rate: Fraction | None
    frame_count: int | None
    frame_count_source: str
    variable_frame_rate: bool | None
    duration: float | None
    time_base: Fraction | None

    @property
    def avg_fps(self) -> float | None:
        """Average frame rate in frames per second."""
        return float(self.avg_rate) if self.avg_rate else None

    @property
    def frame_count_exact(self) -> bool:
        """True when ``frame_count`` comes from the file itself rather than an estimate."""
        return self.frame_count_source in ("counted", "header")


@dataclass(frozen=True)
class AudioStreamInfo:
    """One audio stream: codec, native sample rate, channel count and duration (s)."""

    index: int
    codec: str
    sample_rate: int
    channels: int
    layout: str | None
    duration: float | None


@dataclass(frozen=True)
class MediaInfo:
    """What :func:`probe` found in a media file."""

    path: Path
    container_format: str
    duration: float | None
    start_time: float
    duration_us: int | None
    video: VideoStreamInfo | None
    audio_streams: tuple[AudioStreamInfo, ...]
    nb_streams: int
    frame_table: FrameTable | None = field(default=None, repr=False, compare=False)

    @property
    def has_video(self) -> bool:
        """True when the file has a video stream (cover art does not count)."""
        return self.video is not None

    @property
    def has_audio(self) -> bool:
        """True when the file has at least one audio stream."""
        return bool(self.audio_streams)

    def official_sampling(self, seconds: int = 5, start: float = 0.0) -> official.OfficialSampling:
        """The frames the official S4/MS3 preprocessing keeps (see :func:`official_sampling`)."""
        if self.video is None:
            raise media_error(self.path, "has no video stream, so there are no frames to sample")
        if self.frame_table is None:
            raise media_error(self.path, "frame timestamps were not read (file too long to count)")
        return official_sampling(
            self.frame_table,
            self.video,
            self.nb_streams,
            seconds=seconds,
            start=start,
            path=self.path,
        )

    def describe(self, seconds: int | None = None) -> str:
        """A short human-readable summary for ``avs-studio info CLIP``."""
        lines = [f"File:      {self.path.name}"]
        dur = f"{self.duration:.3f} s" if self.duration is not None else "unknown"
        lines.append(f"Container: {self.container_format}, duration {dur}")
        v = self.video
        if v is None:
            lines.append("Video:     none (audio only)")
        else:
            size = f"{v.width}x{v.height}"
            if v.rotation:
                size += f", rotated {v.rotation}° -> shown {v.display_width}x{v.display_height}"
            rate = _fmt_rate(v.avg_rate)
            count = (
                "unknown" if v.frame_count is None else f"{v.frame_count} ({v.frame_count_source})"
            )
            vfr = {
                True: "variable frame rate",
                False: "constant frame rate",
                None: "frame rate mode unknown",
            }
            lines.append(
                f"Video:     {v.codec} {size}, {v.pix_fmt or '?'}, {rate} fps "
                f"(r_frame_rate {_fmt_rate(v.r_frame_rate)}), {vfr[v.variable_frame_rate]}"
            )
            lines.append(f"Frames:    {count}")
        if not self.audio_streams:
            lines.append(
                "Audio:     none (the official pipeline would need an audio track; silence is used)"
            )
        for a in self.audio_streams:
            adur = f", {a.duration:.3f} s" if a.duration is not None else ""
            lines.append(
                f"Audio:     #{a.index} {a.codec}, {a.sample_rate} Hz, {a.channels} ch"
                f"{' (' + a.layout + ')' if a.layout else ''}{adur}"
            )
        if v is not None:
            if seconds is None:
                seconds = 5 if (self.duration or 0.0) < 7.5 else 10
            lines.append(self._describe_sampling(seconds))
        return "\n".join(lines)

    def _describe_sampling(self, seconds: int) -> str:
        head = f"Official S4/MS3 sampling ({seconds} s):"
        v = self.video
        assert v is not None
        if self.frame_table is None or len(self.frame_table) == 0:
            fi = official.frame_interval(v.guessed_rate)
            n = v.frame_count or 0
            if fi <= 0 or n <= 0:
                return f"{head} not available (frame rate or frame count unknown)"
            idx = official.official_output_indices(fi, seconds, n)
            times = ", ".join(f"{k / float(v.guessed_rate):.3f}" for k in idx)
            return (
                f"{head} fi={fi}, frames {idx} at ~[{times}] s (estimated, constant rate assumed)"
            )
        try:
            s = self.official_sampling(seconds)
        except MediaError as exc:
            return f"{head} not available ({exc})"
        times = ", ".join(f"{t:.3f}" for t in s.times)
        note = "" if s.is_identity else f"; official sequence indices {list(s.output_indices)}"
        if official.official_output_indices(s.fi, seconds, 1 << 30)[-1] >= s.n_sequence:
            note += f"; the clip is shorter than {seconds} s, its last frame is repeated"
        return (
            f"{head} fps={s.fps:g} (fi={s.fi}), decoded frames {list(s.ordinals)} "
            f"at [{times}] s{note}"
        )


def _fmt_rate(rate: Fraction | None) -> str:
    if not rate:
        return "?"
    f = float(rate)
    return f"{f:.3f}".rstrip("0").rstrip(".") if rate.denominator != 1 else str(rate.numerator)


def segment_bounds(table: FrameTable, start: float, seconds: float) -> tuple[int, int]:
    """Ordinals ``[first, last)`` of the frames shown in ``[start, start + seconds)``.

    The frames whose presentation time is at or after ``start`` and before the end, in
    the stream's own time base (what an exact cut of the segment holds).
    """
    tb = table.time_base
    lo = table.origin_pts + official.rescale_q(round(start * AV_TIME_BASE_INT), Fraction(1, AV_TIME_BASE_INT), tb)
    hi = table.origin_pts + official.rescale_q(
        round((start + seconds) * AV_TIME_BASE_INT), Fraction(1, AV_TIME_BASE_INT), tb
    )
    return int(np.searchsorted(table.pts, lo, side="left")), int(np.searchsorted(table.pts, hi, side="left"))


def official_sampling(
    table: FrameTable,
    video: VideoStreamInfo,
    nb_streams: int,
    *,
    seconds: int = 5,
    start: float = 0.0,
    path: str | os.PathLike[str] = "",
) -> official.OfficialSampling:
    """Which decoded frames the official S4/MS3 preprocessing keeps for a clip.

    ``start == 0`` treats the file as the clip itself (the official scripts read
    already-trimmed 5-s files), including ffmpeg's handling of a video that starts
    after the file does. ``start > 0`` emulates cutting ``[start, start+seconds)`` out
    of a longer file exactly (the frames whose presentation time is >= ``start`` and
    < ``start+seconds``, the first of them at time 0) and then reading that cut; for a
    constant-rate video the ordinals then count from the first frame at or after
    ``start``. How the released clips were cut is not part of the official code.
    """
    if seconds <= 0:
        raise ValueError("seconds must be positive")
    if start < 0 or not math.isfinite(start):
        raise ValueError("start must be a finite time >= 0")
    tb = table.time_base
    rate = video.guessed_rate or video.r_frame_rate or video.avg_rate
    if not rate:
        raise media_error(path, "the video has no usable frame rate")
    if start > 0:
        first, last = segment_bounds(table, start, seconds)
        # The cut file is modelled as starting with its first frame at 0.
        origin = int(table.pts[first]) if first < len(table) else table.origin_pts
    else:
        first, last, origin = 0, len(table), table.origin_pts
    if last <= first:
        raise media_error(
            path, f"has no video frames between {start:g} s and {start + seconds:g} s"
        )
    seq = official.cfr_frame_sequence(
        table.pts[first:last],
        table.durations[first:last],
        tb,
        Fraction(rate),
        origin_pts=origin,
        single_stream=(nb_streams == 1),
    )
    if seq.size == 0:
        raise media_error(path, "the official frame sequence of this clip is empty")
    fi = official.frame_interval(Fraction(rate))
    out_idx = official.official_output_indices(fi, seconds, int(seq.size))
    ordinals = tuple(int(seq[k]) + first for k in out_idx)
    times = table.times
    return official.OfficialSampling(
        seconds=seconds,
        start=float(start),
        fps=official.imageio_fps(Fraction(rate)),
        fi=fi,
        output_indices=tuple(out_idx),
        ordinals=ordinals,
        times=tuple(float(times[o]) for o in ordinals),
        n_sequence=int(seq.size),
        n_decoded=last - first,
    )


def _rate(value: Fraction | None) -> Fraction | None:
    if value is None:
        return None
    value = Fraction(value)
    return value if value > 0 else None


def _first_frame_rotation(
    container: av.container.InputContainer, stream: av.video.stream.VideoStream
) -> int | None:
    """Clockwise rotation from the first decodable frame's display matrix (None if none decodes)."""
    try:
        frame = next(iter(container.decode(stream)), None)
    except _FFMPEG_ERRORS:
        return None
    return None if frame is None else clockwise_rotation(float(frame.rotation))


def probe(path: str | os.PathLike[str], *, count_frames: bool | None = None) -> MediaInfo:
    """Read what ``path`` holds without decoding it.

    ``count_frames`` forces (True) or skips (False) demuxing every packet for the exact
    frame count; by default files up to :data:`COUNT_FRAMES_MAX_SECONDS` are counted.
    Raises :class:`MediaError` for files that are missing, empty or not media.
    """
    p = Path(path)
    container = open_container(p)
    try:
        return _probe_open(p, container, count_frames)
    except _FFMPEG_ERRORS as exc:
        raise media_error(p, "cannot be read", exc) from None
    finally:
        container.close()


def _probe_open(
    p: Path, container: av.container.InputContainer, count_frames: bool | None
) -> MediaInfo:
    duration_us = container.duration if container.duration and container.duration > 0 else None
    duration = duration_us / AV_TIME_BASE_INT if duration_us else None
    start_time = (container.start_time or 0) / AV_TIME_BASE_INT
    audio = []
    for s in container.streams.audio:
        cc = s.codec_context
        if cc is None:  # a damaged header names no codec FFmpeg knows: not a usable track
            continue
        adur = float(s.duration * s.time_base) if s.duration and s.time_base else duration
        layout = getattr(getattr(cc, "layout", None), "name", None)
        audio.append(
            AudioStreamInfo(
                index=s.index,
                codec=cc.name,
                sample_rate=int(cc.sample_rate or 0),
                channels=int(cc.channels or 0),
                layout=layout,
                duration=adur,
            )
        )
    vs = pick_video_stream(container)
    video = None
    table = None
    if vs is not None and vs.codec_context is None:
        raise media_error(p, "its video stream names no codec FFmpeg knows (a damaged file?)")
    if vs is not None:
        cc = vs.codec_context
        tb = Fraction(vs.time_base) if vs.time_base else None
        vdur = float(vs.duration * vs.time_base) if vs.duration and vs.time_base else duration
        # The display matrix is authoritative; the old "rotate" tag only fills in for it.
        rotation = _first_frame_rotation(container, vs) or rotation_from_tag(vs)
        if count_frames is None:
            count_frames = duration is None or duration <= COUNT_FRAMES_MAX_SECONDS
        if count_frames:
            # A fresh demuxer reads from the first packet; seeking back can skip some.
            with open_container(p) as fresh:
                table = read_frame_table(fresh, fresh.streams[vs.index])
        avg = _rate(vs.average_rate)
        if table is not None:
            count, source = len(table), "counted"
        elif vs.frames:
            count, source = int(vs.frames), "header"
        elif vdur and avg:
            count, source = int(round(vdur * float(avg))), "estimated"
        else:
            count, source = None, "unknown"
        r_rate = _rate(vs.base_rate)
        if table is not None:
            vfr: bool | None = table.looks_variable()
        elif avg and r_rate:
            vfr = abs(float(avg) - float(r_rate)) > 0.01 * float(r_rate)
        else:
            vfr = None
        w, h = int(cc.width or vs.width or 0), int(cc.height or vs.height or 0)
        swap = rotation in (90, 270)
        video = VideoStreamInfo(
            index=vs.index,
            codec=cc.name,
            width=w,
            height=h,
            display_width=h if swap else w,
            display_height=w if swap else h,
            rotation=rotation or 0,
            pix_fmt=cc.pix_fmt,
            avg_rate=avg,
            r_frame_rate=r_rate,
            guessed_rate=_rate(vs.guessed_rate),
            frame_count=count,
            frame_count_source=source,
            variable_frame_rate=vfr,
            duration=vdur,
            time_base=tb,
        )
    if video is None and not audio:
        raise media_error(p, "contains neither video nor audio")
    return MediaInfo(
        path=p,
        container_format=container.format.name,
        duration=duration,
        start_time=start_time,
        duration_us=duration_us,
        video=video,
        audio_streams=tuple(audio),
        nb_streams=len(container.streams),
        frame_table=table,
    )
