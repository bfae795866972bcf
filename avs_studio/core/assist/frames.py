"""The frames propagation walks through: a clip's sampled frames and the video between them.

Objects move tens of pixels in the second between two sampled frames; optical flow
follows them only in small steps, so :class:`ClipFrames` hands out the full-rate frames
*between* two sampled frames, decoded from the clip's video (one forward pass of a
:class:`~avs_studio.core.media.decode.MediaFile`, which steps on without seeking), at the
sampled frames' size. A clip read from an AVSBench frame folder with no video has only its
sampled frames: :attr:`ClipFrames.has_video` is False and propagation falls back to flow
between the sampled frames themselves (and says so).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from avs_studio.core.errors import AVSError

__all__ = ["ClipFrames"]


class ClipFrames:
    """The sampled frames of one clip and the decoded frames between them.

    ``sampled`` (a list of RGB frames, or a function ``k -> RGB``) gives the sampled
    frames; ``video`` is the clip's video file (None: no in-between frames) and
    ``video_times`` the time of each sampled frame in that file (seconds from its start).
    Use :meth:`for_clip` to build one from a project or dataset clip. Not thread-safe.
    """

    def __init__(self, sampled: Sequence[np.ndarray] | Callable[[int], np.ndarray], num_frames: int, *,
                 video: str | Path | None = None, video_times: Sequence[float] = (),
                 max_between: int = 60) -> None:  # fmt: skip
        self._sampled = sampled
        self.num_frames = int(num_frames)
        self.video = Path(video) if video is not None else None
        self.video_times = [float(t) for t in video_times]
        self.max_between = int(max_between)
        self._media: Any = None
        self._ordinals: list[int] | None = None
        self.notes: list[str] = []

    @classmethod
    def for_clip(cls, clip: Any, sampled: Sequence[np.ndarray] | None = None, **kw: Any) -> ClipFrames:
        """Frames of a :class:`~avs_studio.core.project.clip.ProjectClip` (or any clip with
        ``frame(k)``, ``frame_times()``, ``video_path`` and, for a segment, ``start``).

        ``sampled`` are the clip's sampled frames when the caller has them decoded already.
        """
        record = getattr(clip, "record", None)
        video = getattr(clip, "video_path", None)
        if video is not None and not Path(video).is_file():
            video = None
        offset = float(record.start) if record is not None and record.source == "video" else 0.0
        times = [offset + t for t in clip.frame_times()]
        out = cls(sampled if sampled is not None else clip.frame, clip.num_frames, video=video,
                  video_times=times, **kw)  # fmt: skip
        if record is not None and record.source == "video" and record.ordinals:
            out._ordinals = [int(o) for o in record.ordinals]
        return out

    # ------------------------------------------------------------------ lifetime
    def close(self) -> None:
        """Close the video decoder."""
        if self._media is not None:
            self._media.close()
            self._media = None

    def __enter__(self) -> ClipFrames:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ frames
    @property
    def has_video(self) -> bool:
        """True when frames between the sampled ones can be decoded."""
        return self.video is not None and len(self.video_times) == self.num_frames

    def sampled(self, k: int) -> np.ndarray:
        """Sampled frame ``k`` (RGB uint8)."""
        if not 0 <= k < self.num_frames:
            raise IndexError(f"frame {k} out of range 0..{self.num_frames - 1}")
        src = self._sampled
        return np.asarray(src(k) if callable(src) else src[k])

    def between(self, k0: int, k1: int) -> list[np.ndarray]:
        """The decoded frames strictly between sampled frames ``k0`` and ``k1``, in the order
        a walk from ``k0`` to ``k1`` meets them (reversed when ``k1 < k0``), at the sampled
        frames' size; at most :attr:`max_between` of them, evenly spread. Empty without video."""
        if not self.has_video or k0 == k1:
            return []
        lo, hi = sorted((k0, k1))
        ordinals = self._sampled_ordinals()
        wanted = list(range(ordinals[lo] + 1, ordinals[hi]))
        if len(wanted) > self.max_between:
            pick = np.linspace(0, len(wanted) - 1, self.max_between).round().astype(int)
            wanted = [wanted[i] for i in pick]
        if not wanted:
            return []
        h, w = self.sampled(lo).shape[:2]
        try:
            frames = self._open().frames_by_ordinal(wanted)
        except (AVSError, IndexError, OSError) as exc:
            self.notes.append(f"{self.video.name}: the frames between {lo + 1} and {hi + 1} could not be "
                              f"decoded ({exc}); flow went straight between the sampled frames")  # fmt: skip
            return []
        out = [_fit(f, w, h) for f in frames]
        return out if k1 > k0 else out[::-1]

    def walk(self, k0: int, k1: int) -> Iterator[np.ndarray]:
        """Every frame from sampled frame ``k0`` (excluded) to ``k1`` (included), in order."""
        yield from self.between(k0, k1)
        yield self.sampled(k1)

    # ------------------------------------------------------------------ video
    def _open(self):
        from avs_studio.core.media.decode import open_media

        if self._media is None:
            self._media = open_media(self.video)
        return self._media

    def _sampled_ordinals(self) -> list[int]:
        if self._ordinals is None:
            table = self._open().frame_table()
            self._ordinals = [table.ordinal_at(t) for t in self.video_times]
        return self._ordinals


def _fit(frame: np.ndarray, w: int, h: int) -> np.ndarray:
    if frame.shape[:2] == (h, w):
        return frame
    import cv2

    area = frame.shape[0] * frame.shape[1] > w * h
    return cv2.resize(frame, (w, h), interpolation=cv2.INTER_AREA if area else cv2.INTER_LINEAR)
