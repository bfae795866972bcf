"""Writing videos (frames + optional audio) and cutting segments out of them, with PyAV.

:func:`write_video` encodes RGB frames, optionally with variable frame timing, a
rotation flag and an audio track, into the container its extension names. The file
appears atomically: a crash leaves either no file or the old one.

:func:`trim_video` cuts ``[start, start+duration)`` out of a recording. By default it
copies the compressed packets (fast, lossless) and therefore can only start at a
keyframe: the cut begins at the last keyframe at or before ``start``, and its
:class:`TrimResult` says where. ``reencode=True`` cuts exactly, at the cost of a
re-encode.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from avs_studio.core.errors import MediaError
from avs_studio.core.fsutil import atomic_path
from avs_studio.core.media.probe import (
    media_error,
    open_container,
    pick_video_stream,
    read_frame_table,
    segment_bounds,
)

_FFMPEG_ERRORS = (av.FFmpegError, OSError)

# extension -> (muxer, video codec, audio codec)
CONTAINERS: dict[str, tuple[str, str, str]] = {
    ".mp4": ("mp4", "libx264", "aac"),
    ".m4v": ("mp4", "libx264", "aac"),
    ".mov": ("mov", "libx264", "aac"),
    ".mkv": ("matroska", "libx264", "flac"),
    ".webm": ("webm", "libvpx-vp9", "libopus"),
    ".avi": ("avi", "mjpeg", "pcm_s16le"),
}
# Containers whose muxer stores a display matrix (rotation).
_ROTATION_CONTAINERS = {"mp4", "mov", "matroska", "webm"}
# Timestamps for variable frame rate: 90 kHz is the MPEG clock mp4/mov players expect.
_VFR_TIME_BASE = Fraction(1, 90000)
_OPUS_RATES = {8000, 12000, 16000, 24000, 48000}
_COLOUR_PROPS = ("color_range", "colorspace", "color_primaries", "color_trc")
# Pixel formats libx264 stores losslessly as they are (a decoded picture passes through).
_X264_LOSSLESS = {"yuv420p", "yuvj420p", "yuv422p", "yuvj422p", "yuv444p", "yuvj444p", "gray"}


def _fraction_rate(fps: float | Fraction | int) -> Fraction:
    if isinstance(fps, Fraction):
        rate = fps
    else:
        f = float(fps)
        if not math.isfinite(f):
            raise ValueError(f"fps must be a positive number, got {fps}")
        # 29.97 -> 30000/1001 and friends: the NTSC rates are what such numbers mean.
        for num in (24000, 30000, 60000, 120000):
            if abs(f - num / 1001) < 5e-4:
                return Fraction(num, 1001)
        rate = Fraction(f).limit_denominator(1001)
    if rate <= 0:
        raise ValueError(f"fps must be a positive number, got {fps}")
    return rate


def _default_pix_fmt(codec: str, width: int, height: int) -> str:
    odd = width % 2 or height % 2
    if codec in ("libx264", "h264"):
        # 4:2:0 needs even sizes; 4:4:4 (High 4:4:4 profile) takes any size.
        return "yuv444p" if odd else "yuv420p"
    if codec == "libx264rgb":
        return "rgb24"
    if codec == "mjpeg":
        return "yuvj444p" if odd else "yuvj420p"
    if codec in ("ffv1", "png", "rawvideo"):
        return "rgb24" if codec != "ffv1" else "yuv444p"
    return "yuv420p"


def _video_options(codec: str, crf: int | None, threads: int) -> dict[str, str]:
    opts = {"threads": str(threads)}
    if codec in ("libx264", "libx264rgb") and crf == 0:
        # qp 0 is x264's lossless mode for every pixel format (crf 0 is not, for 4:4:4)
        opts.update(qp="0", preset="veryfast")
    elif codec in ("libx264", "libx264rgb"):
        opts.update(crf=str(23 if crf is None else crf), preset="veryfast")
    elif codec == "libvpx-vp9":
        opts.update(
            {
                "crf": str(32 if crf is None else crf),
                "b": "0",
                "deadline": "realtime",
                "cpu-used": "8",
                "row-mt": "0" if threads == 1 else "1",
            }
        )
    return opts


def _as_frame_array(frame: object, index: int, path: Path) -> np.ndarray:
    arr = np.asarray(frame)
    if arr.ndim != 3 or arr.shape[2] != 3 or arr.dtype != np.uint8:
        raise media_error(
            path,
            f"frame {index} must be an RGB uint8 array [H, W, 3], "
            f"got {arr.dtype} {list(arr.shape)}",
        )
    return np.ascontiguousarray(arr)


def _audio_planar(audio: np.ndarray, path: Path) -> np.ndarray:
    """PCM [S] or [S, C] (float in [-1, 1] or int16) -> float32 planar [C, S]."""
    a = np.asarray(audio)
    if a.ndim == 1:
        a = a[:, None]
    if a.ndim != 2 or a.shape[1] not in (1, 2):
        raise media_error(path, f"audio must be [samples] or [samples, 1|2], got {list(a.shape)}")
    if a.dtype == np.int16:
        a = a.astype(np.float32) / 32768.0
    a = np.clip(a.astype(np.float32), -1.0, 1.0)
    return np.ascontiguousarray(a.T)


def write_video(
    path: str | os.PathLike[str],
    frames: Iterable[np.ndarray],
    fps: float | Fraction,
    *,
    audio: np.ndarray | None = None,
    sample_rate: int = 16000,
    video_codec: str | None = None,
    audio_codec: str | None = None,
    pix_fmt: str | None = None,
    rotation: int = 0,
    frame_times: Sequence[float] | None = None,
    crf: int | None = None,
    gop_size: int | None = None,
    max_b_frames: int | None = None,
    audio_bit_rate: int | None = None,
    faststart: bool = False,
    threads: int = 1,
) -> Path:
    """Encode RGB ``uint8 [H, W, 3]`` frames (and optional audio) into ``path``.

    The container comes from the extension (:data:`CONTAINERS`: .mp4/.mov -> H.264 +
    AAC, .mkv -> H.264 + FLAC, .webm -> VP9 + Opus, .avi -> MJPEG + PCM). ``audio`` is
    PCM ``[S]`` or ``[S, channels]`` (float in [-1, 1], or int16) at ``sample_rate``.
    ``frame_times`` (seconds, increasing, one per frame) writes a variable-frame-rate
    file; ``fps`` then only sets the nominal rate. ``rotation`` (0/90/180/270, clockwise
    as a player turns the picture) is stored as the stream's display matrix; the frames
    themselves are stored as given. Odd sizes get a 4:4:4 pixel format unless
    ``pix_fmt`` says otherwise. Returns the path written.

    Reproducibility: with ``threads=1`` (the default) and the audio encoded before the
    pictures, the same input gives the same file in a fresh process. With more encoder
    threads (0 = one per core) x264 output varies from run to run under load, and even
    single-threaded x264 was seen to differ rarely (~1-4 % of files) in a long process
    doing other media work. ``crf=0`` (lossless) makes the *decoded* frames
    reproducible in every case.
    """
    path = Path(path)
    ext = path.suffix.lower()
    if ext not in CONTAINERS:
        raise media_error(
            path, f"unsupported video extension {ext!r}; use one of {', '.join(sorted(CONTAINERS))}"
        )
    muxer, default_vcodec, default_acodec = CONTAINERS[ext]
    rate = _fraction_rate(fps)
    if rotation % 90:
        raise ValueError(f"rotation must be a multiple of 90 degrees, got {rotation}")
    rotation %= 360
    if rotation and muxer not in _ROTATION_CONTAINERS:
        raise media_error(path, f"{ext} files cannot store a rotation flag")
    times = None if frame_times is None else [float(t) for t in frame_times]
    if times is not None:
        if muxer == "avi":
            raise media_error(path, "AVI cannot store variable frame timing; use .mp4 or .mkv")
        if any(b <= a for a, b in zip(times, times[1:])) or (times and times[0] < 0):
            raise ValueError("frame_times must be >= 0 and strictly increasing")
    vcodec = video_codec or default_vcodec
    acodec = audio_codec or default_acodec

    it = iter(frames)
    try:
        first = next(it)
    except StopIteration:
        raise media_error(path, "no frames to write") from None
    if isinstance(first, av.VideoFrame):  # decoded pictures passed through as stored
        height, width = first.height, first.width
        pix_fmt = pix_fmt or first.format.name
    else:
        first = _as_frame_array(first, 0, path)
        height, width = first.shape[:2]
    pcm = _audio_planar(audio, path) if audio is not None else None
    chosen_pix_fmt = pix_fmt or _default_pix_fmt(vcodec, width, height)
    if (
        vcodec == "libx264"
        and (width % 2 or height % 2)
        and ("420" in chosen_pix_fmt or "422" in chosen_pix_fmt or chosen_pix_fmt.startswith("nv"))
    ):
        raise media_error(
            path,
            f"libx264 with {chosen_pix_fmt} needs an even width and height "
            f"(got {width}x{height}); use pix_fmt='yuv444p' or leave it unset",
        )
    codecs = f"{vcodec}/{acodec}" if pcm is not None else vcodec
    if pcm is not None and acodec == "libopus" and int(sample_rate) not in _OPUS_RATES:
        raise media_error(
            path,
            f"Opus audio must be 8, 12, 16, 24 or 48 kHz, not {sample_rate} Hz; "
            "resample it or write .mkv/.mp4",
        )

    try:
        with atomic_path(path) as tmp:
            options = {"movflags": "+faststart"} if faststart and muxer in ("mp4", "mov") else {}
            with av.open(str(tmp), mode="w", format=muxer, options=options) as out:
                vs = out.add_stream(vcodec, rate=rate, options=_video_options(vcodec, crf, threads))
                vs.width, vs.height = width, height
                vs.pix_fmt = chosen_pix_fmt
                if vcodec == "mjpeg":
                    # Constant quantiser 2..3: near-lossless, the usual "-q:v 2".
                    vs.codec_context.qmin, vs.codec_context.qmax = 2, 3
                if gop_size is not None:
                    vs.codec_context.gop_size = int(gop_size)
                if max_b_frames is not None:
                    vs.codec_context.max_b_frames = int(max_b_frames)
                if times is not None:
                    vs.codec_context.time_base = _VFR_TIME_BASE
                if isinstance(first, av.VideoFrame):
                    for prop in _COLOUR_PROPS:  # so that decoding converts to RGB as the source did
                        setattr(vs.codec_context, prop, getattr(first, prop))
                if rotation:
                    # PyAV takes the counter-clockwise angle of the display matrix.
                    vs.set_display_rotation(-rotation)
                astream = None
                if pcm is not None:
                    layout = "mono" if pcm.shape[0] == 1 else "stereo"
                    astream = out.add_stream(acodec, rate=int(sample_rate), layout=layout)
                    if audio_bit_rate:
                        astream.bit_rate = int(audio_bit_rate)
                writer = _Interleaver(out, vs, astream, pcm, int(sample_rate), rate, times, path)
                writer.write(first, 0)
                for i, frame in enumerate(it, start=1):
                    writer.write(frame if isinstance(frame, av.VideoFrame) else _as_frame_array(frame, i, path), i)
                writer.finish()
    except MediaError:
        raise
    except _FFMPEG_ERRORS as exc:
        raise media_error(path, f"cannot be written with {codecs}", exc) from None
    return path


class _Interleaver:
    """Encodes frames and muxes the audio packets up to each frame's time in step.

    The audio is encoded up front, before the first picture: with AAC encoding
    interleaved between x264 calls (after the process had used libswresample), x264's
    output was seen to change from run to run; encoding it first keeps files
    reproducible. Its packets are small and are muxed as the video advances.
    """

    def __init__(
        self,
        out: av.container.OutputContainer,
        vs: av.video.stream.VideoStream,
        astream: av.audio.stream.AudioStream | None,
        pcm: np.ndarray | None,
        sample_rate: int,
        rate: Fraction,
        times: list[float] | None,
        path: Path,
    ) -> None:
        self.out, self.vs, self.rate, self.times, self.path = out, vs, rate, times, path
        self.shape: tuple[int, ...] | None = None
        self.audio_packets: list[av.Packet] = []
        if pcm is not None and astream is not None:
            layout = "mono" if pcm.shape[0] == 1 else "stereo"
            aframe = av.AudioFrame.from_ndarray(pcm, format="fltp", layout=layout)
            aframe.sample_rate = sample_rate
            aframe.pts = 0
            aframe.time_base = Fraction(1, sample_rate)
            self.audio_packets = [*astream.encode(aframe), *astream.encode(None)]
            self.audio_packets.reverse()  # pop() from the end = earliest first

    def write(self, rgb: np.ndarray | av.VideoFrame, index: int) -> None:
        if isinstance(rgb, av.VideoFrame):
            # A decoded picture, re-encoded as stored (a fresh frame: no picture type or
            # timestamps of the source carried over).
            frame = av.VideoFrame.from_ndarray(rgb.to_ndarray(), format=rgb.format.name)
            for prop in _COLOUR_PROPS:
                setattr(frame, prop, getattr(rgb, prop))
            shape: tuple[int, ...] = (rgb.height, rgb.width, rgb.format.name)
        else:
            shape = rgb.shape
        if self.shape is None:
            self.shape = shape
        elif shape != self.shape:
            raise media_error(
                self.path,
                f"frame {index} is {list(shape)}, the first frame was {list(self.shape)}",
            )
        if not isinstance(rgb, av.VideoFrame):
            # Convert here, single-threaded, rather than inside the encoder on swscale
            # threads: one conversion path, the same bytes every run.
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame = frame.reformat(format=self.vs.pix_fmt, threads=1)
        if self.times is not None:
            if index >= len(self.times):
                raise media_error(self.path, f"more frames than frame_times ({len(self.times)})")
            frame.pts = round(self.times[index] / _VFR_TIME_BASE)
            frame.time_base = _VFR_TIME_BASE
            t_end = self.times[index + 1] if index + 1 < len(self.times) else math.inf
        else:
            frame.pts = index
            frame.time_base = 1 / self.rate
            t_end = float((index + 1) / self.rate)
        for packet in self.vs.encode(frame):
            self.out.mux(packet)
        self._audio_until(t_end)

    def _audio_until(self, t_end: float) -> None:
        while self.audio_packets:
            packet = self.audio_packets[-1]
            if packet.pts is not None and float(packet.pts * packet.time_base) >= t_end:
                return
            self.out.mux(self.audio_packets.pop())

    def finish(self) -> None:
        for packet in self.vs.encode(None):
            self.out.mux(packet)
        self._audio_until(math.inf)


# --- cutting ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class TrimResult:
    """Where a cut really starts in the source and how long it is (seconds)."""

    path: Path
    start: float
    duration: float
    reencoded: bool


def trim_video(
    src: str | os.PathLike[str],
    dst: str | os.PathLike[str],
    start: float,
    duration: float,
    *,
    reencode: bool = False,
    exact: bool = False,
) -> TrimResult:
    """Cut ``[start, start+duration)`` of ``src`` into ``dst``.

    Without ``reencode`` the packets are copied (no quality loss, fast). A copied cut
    can only begin at a keyframe, so it starts at the last keyframe at or before
    ``start`` (``TrimResult.start``) and ends at the first packet at or after the end
    (frames that later frames still reference are kept). ``dst`` must be a container
    that accepts the source codecs (the same extension always does). With
    ``reencode=True`` the cut is exact: the frames shown in ``[start, start+duration)``
    and the audio samples of that span are re-encoded with :func:`write_video`'s
    defaults for ``dst``'s extension, frame timing preserved and pictures stored upright
    (a rotation flag of the source is applied, not copied).

    ``exact=True`` is the cut a dataset export needs: it begins with the first frame at
    or after ``start`` (at time 0, the audio from ``start``), and decoding it gives the
    very pixels decoded from the source, so the official preprocessing run on the cut
    picks the frames a clip of ``[start, start+duration)`` shows. The packets are copied
    when that frame is a keyframe; otherwise the span is re-encoded losslessly (x264 qp 0,
    the decoded pictures as stored, no B-frames), which makes a several times larger file.
    """
    src, dst = Path(src), Path(dst)
    if not (math.isfinite(start) and math.isfinite(duration)) or start < 0 or duration <= 0:
        raise ValueError("start must be >= 0 and duration > 0 (seconds)")
    if src.resolve() == dst.resolve():
        raise media_error(dst, "cannot trim a file onto itself")
    if exact:
        return _trim_exact(src, dst, start, duration)
    if reencode:
        return _trim_reencode(src, dst, start, duration)
    return _trim_copy(src, dst, start, duration)


def _trim_exact(src: Path, dst: Path, start: float, duration: float) -> TrimResult:
    with open_container(src) as probe_c:
        vs0 = pick_video_stream(probe_c)
        if vs0 is None:
            raise media_error(src, "has no video stream to cut")
        table = read_frame_table(probe_c, vs0)
    first, last = segment_bounds(table, start, duration)
    if last <= first:
        raise media_error(src, f"has no frames between {start:g} s and {start + duration:g} s")
    if table.keyframes[first] and not table.positional:
        cut = float(table.times[first])
        try:
            result = _trim_copy(src, dst, start, duration, cut=cut)
        except MediaError:
            pass  # the container cannot take the codecs: re-encode
        else:
            if first == 0 or _copy_decodes_alike(src, dst, first):
                return result
            # A copy that a fresh decoder reads differently (old x264 streams keep what the
            # decoder needs in the first packet only): re-encode, replacing it atomically.
    return _trim_lossless(src, dst, start, duration, table, first, last)


def _copy_decodes_alike(src: Path, dst: Path, first: int) -> bool:
    """True when the copied cut's first picture, decoded by a fresh decoder as any reader
    would, is the source's frame ``first`` (decoded as our reader decodes it)."""
    from avs_studio.core.media.decode import open_media

    try:
        with open_media(src) as a, open_media(dst) as b:
            return bool(np.array_equal(a.frames_by_ordinal([first])[0], b.frames_by_ordinal([0])[0]))
    except (MediaError, IndexError):
        return False


def _trim_lossless(src: Path, dst: Path, start: float, duration: float, table, first: int,
                   last: int) -> TrimResult:  # fmt: skip
    """Re-encode the frames ``[first, last)`` losslessly, the first at time 0.

    The decoded pictures go to x264 as stored (qp 0, their own pixel format, colour tags
    and rotation flag), so decoding the cut gives the source's pictures exactly; a pixel
    format x264 cannot store as it is goes through RGB (``libx264rgb``), 2-3x larger.
    """
    from avs_studio.core.media.decode import open_media

    times = table.times[first:last]
    frame_times = [float(t - times[0]) for t in times]
    eps = 0.5 * float(table.time_base)
    span = (float(times[0]) - eps, float(times[-1]) + eps)
    ext = dst.suffix.lower()
    acodec = None if ext in CONTAINERS else "aac"
    with open_media(src) as mf:
        video = mf.info.video
        assert video is not None
        pcm, rate = mf.audio(start, duration) if mf.has_audio else (None, 16000)
        fps = video.guessed_rate or video.avg_rate or Fraction(25)
        probe_frame = next(mf.iter_frames(*span, raw=True), (0.0, None))[1]
        if probe_frame is not None and _passes_through(probe_frame):
            frames = (f for _, f in mf.iter_frames(*span, raw=True))
            write_video(dst, frames, fps, audio=pcm, sample_rate=rate, frame_times=frame_times,
                        video_codec="libx264", audio_codec=acodec, rotation=video.rotation,
                        crf=0, max_b_frames=0, threads=0)  # fmt: skip
        else:
            rgb = (f for _, f in mf.iter_frames(*span))
            write_video(dst, rgb, fps, audio=pcm, sample_rate=rate, frame_times=frame_times,
                        video_codec="libx264rgb", audio_codec=acodec, crf=0, max_b_frames=0,
                        threads=0)  # fmt: skip
    return TrimResult(path=dst, start=float(times[0]), duration=duration, reencoded=True)


def _passes_through(frame: av.VideoFrame) -> bool:
    """True when x264 can store this decoded picture losslessly as it is."""
    if frame.format.name not in _X264_LOSSLESS:
        return False
    try:
        av.VideoFrame.from_ndarray(frame.to_ndarray(), format=frame.format.name)
    except (ValueError, TypeError, av.FFmpegError):
        return False
    return True


def _trim_copy(src: Path, dst: Path, start: float, duration: float, *, cut: float | None = None) -> TrimResult:
    muxer = CONTAINERS.get(dst.suffix.lower(), (None,))[0]
    end = start + duration
    if cut is None:
        with open_container(src) as probe_c:
            vs0 = pick_video_stream(probe_c)
            table = read_frame_table(probe_c, vs0) if vs0 is not None else None
        cut = start
        if table is not None and len(table):
            cut_pts = int(table.pts[table.keyframe_before(table.ordinal_at(start))])
            cut = float((cut_pts - table.origin_pts) * table.time_base)
    try:
        with open_container(src) as inp, atomic_path(dst) as tmp:
            streams = [s for s in inp.streams if s.type in ("video", "audio")]
            if not streams:
                raise media_error(src, "has no video or audio to cut")
            vs = pick_video_stream(inp)
            origin_s = (inp.start_time or 0) / 1_000_000
            last_time = _copy_packets(inp, streams, vs, tmp, muxer, cut, end, origin_s)
    except MediaError:
        raise
    except _FFMPEG_ERRORS as exc:
        raise media_error(
            dst,
            "the segment cannot be copied into this container "
            "(use the source's extension, or reencode=True)",
            exc,
        ) from None
    return TrimResult(
        path=dst, start=cut, duration=max(min(last_time, end) - cut, 0.0), reencoded=False
    )


def _copy_packets(
    inp: av.container.InputContainer,
    streams: list[av.stream.Stream],
    vs: av.video.stream.VideoStream | None,
    tmp: Path,
    muxer: str | None,
    cut: float,
    end: float,
    origin_s: float,
) -> float:
    """Copy packets of ``streams`` from the keyframe at ``cut`` to ``end``; return the last time."""
    eps = 1e-6
    with av.open(str(tmp), mode="w", format=muxer) as out:
        mapping = {}
        for s in streams:
            try:
                mapping[s.index] = out.add_stream_from_template(s)
            except ValueError as exc:  # PyAV: "format does not support codec"
                raise av.error.InvalidDataError(22, str(exc)) from None
        shift = {s.index: round((cut + origin_s) / s.time_base) for s in streams}
        seek_stream = vs if vs is not None else streams[0]
        inp.seek(shift[seek_stream.index], stream=seek_stream, backward=True)
        # Video starts at the keyframe of the cut; frames that later frames reference
        # stay until the decode clock (dts) passes the end.
        started = vs is None
        done = {s.index: False for s in streams}
        last_time = cut
        for packet in inp.demux(streams):
            if packet.size == 0 or (packet.dts is None and packet.pts is None):
                continue
            s = packet.stream
            ts = packet.pts if packet.pts is not None else packet.dts
            t = float(ts * s.time_base) - origin_s
            if s.type == "video":
                if not started:
                    if not (packet.is_keyframe and t >= cut - eps):
                        continue
                    started = True
                clock = float(packet.dts * s.time_base) - origin_s if packet.dts is not None else t
                if clock >= end - eps:
                    done[s.index] = True
            elif t >= end - eps:
                done[s.index] = True
            elif t < cut - eps:
                continue
            if done[s.index]:
                if all(done.values()):
                    break
                continue
            last_time = max(last_time, t + float((packet.duration or 0) * s.time_base))
            off = shift[s.index]
            if packet.pts is not None:
                packet.pts -= off
            if packet.dts is not None:
                packet.dts -= off
            packet.stream = mapping[s.index]
            out.mux(packet)
    return last_time


def _trim_reencode(src: Path, dst: Path, start: float, duration: float) -> TrimResult:
    from avs_studio.core.media.decode import (
        open_media,  # media imports the probe layer; keep this module light
    )

    end = start + duration
    with open_media(src) as mf:
        video = mf.info.video
        if video is None:
            raise media_error(src, "has no video stream; cut its audio with MediaFile.audio")
        table_times = mf.frame_table().times
        times = [float(t) - start for t in table_times if start - 1e-9 <= t < end]
        if not times:
            raise media_error(src, f"has no frames between {start:g} s and {end:g} s")
        pcm, rate = mf.audio(start, duration) if mf.has_audio else (None, 16000)
        fps = video.avg_rate or video.guessed_rate or Fraction(25)
        frames = (rgb for _, rgb in mf.iter_frames(start, end))
        write_video(dst, frames, fps, audio=pcm, sample_rate=rate, frame_times=times)
    return TrimResult(path=dst, start=start, duration=duration, reencoded=True)


__all__ = ["CONTAINERS", "TrimResult", "trim_video", "write_video"]
