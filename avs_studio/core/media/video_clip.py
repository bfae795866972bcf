"""VideoClip: a 5- or 10-second segment of any video the core opens, as a Clip.

Frames follow the official sampling; the model's audio is the 16 kHz WAV the official
preprocessing would write from the segment, so its log-mel equals the official pipeline's.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from avs_studio.core.clip import MODEL_SIZE, Clip
from avs_studio.core.errors import AVSError, MediaError
from avs_studio.core.setting import Setting

if TYPE_CHECKING:  # pragma: no cover
    from avs_studio.core.media.decode import MediaFile

#: How much shorter than ``start + seconds`` a video may be and still give a clip (as projects).
LENGTH_TOLERANCE = 0.25


class VideoClip(Clip):
    """The clip ``[start, start + seconds)`` of a video file, sampled as the official scripts.

    Frames: the official S4/MS3 sampling (``MediaFile.official_sampling``), full resolution;
    ``model_frame`` resizes them as the official loaders do (OpenCV bilinear for S4/MS3,
    Pillow bilinear for AVSS). Audio for the model: :meth:`official_wav` (the 16 kHz stereo
    int16 WAV the official preprocessing writes), read back as the official reader does
    (``/ 32768``), so the log-mel equals what the official pipeline computes from that WAV.
    No ground truth. ``seconds`` defaults to 5 (S4/MS3) or, for AVSS, 10 when the video is
    long enough, else 5 (an AVSS v1-style clip padded to 10 steps). The file is probed at
    construction: a missing, corrupt or too short video raises :class:`MediaError` there.
    Use ``close()`` or a ``with`` block to release the decoder; clips pickle without it.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        setting: Setting | str,
        *,
        start: float = 0.0,
        seconds: int | None = None,
        clip_id: str | None = None,
        split: str = "",
        category: str = "",
    ) -> None:
        from avs_studio.core.media.decode import open_media
        from avs_studio.core.project.add import default_seconds

        p = Path(path)
        st = Setting.parse(setting)
        if not p.is_file():
            raise MediaError(f"{p}: no such video file" if not p.exists() else f"{p}: not a video file "
                             f"({'a folder' if p.is_dir() else 'a pipe, a socket or a device'})")
        start = float(start)
        if not np.isfinite(start) or start < 0:
            raise MediaError(f"{p}: the start time must be >= 0 s, got {start}")
        with open_media(p) as media:
            info = media.info
            if info.video is None:
                raise MediaError(f"{p}: has no video stream")
            duration = info.duration
            secs = int(seconds) if seconds is not None else default_seconds(st, duration, start)
            allowed = (5,) if st.is_binary else (5, 10)
            if secs not in allowed:
                raise MediaError(
                    f"{st.value.upper()} clips are {' or '.join(map(str, allowed))} s long, not {secs} s"
                )
            if duration is not None and start + secs > duration + LENGTH_TOLERANCE:
                raise MediaError(
                    f"{p}: is {duration:.2f} s long; a {secs} s clip from {start:g} s needs "
                    f"{start + secs:g} s"
                )
            sampling = media.official_sampling(secs, start)
            width, height = info.video.display_width, info.video.display_height
        # The whole file is the clip when it is no longer than the clip (the official
        # preprocessing runs on such trimmed files): its audio is then read to its end.
        whole = start == 0 and (duration is None or duration <= secs + LENGTH_TOLERANCE)
        super().__init__(
            clip_id=clip_id or p.stem, setting=st, split=split, category=category,
            subset="" if st.is_binary else ("v2" if secs == 10 else "v1s"),
            num_frames=len(sampling.ordinals), annotated=(), start=start, video_path=p,
            meta={"seconds": secs, "ordinals": [int(o) for o in sampling.ordinals],
                  "frame_times": [float(t) - start for t in sampling.times],
                  "width": int(width), "height": int(height), "whole_file": whole,
                  "has_audio": bool(info.has_audio), "duration": duration},
        )  # fmt: skip
        self._media: MediaFile | None = None

    # -------------------------------------------------------------- lifetime
    def close(self) -> None:
        """Release the video decoder (reopened on demand)."""
        if self._media is not None:
            self._media.close()
            self._media = None

    def __enter__(self) -> VideoClip:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_media"] = None  # decoders do not pickle; workers reopen the file
        return state

    def _open(self) -> MediaFile:
        from avs_studio.core.media.decode import open_media

        if self._media is None:
            self._media = open_media(self.video_path)
        return self._media

    # -------------------------------------------------------------- content
    @property
    def seconds(self) -> int:
        """Length of the clip in seconds (5 or 10)."""
        return int(self.meta["seconds"])

    @property
    def duration(self) -> float:
        """Length of the clip in seconds."""
        return float(self.seconds)

    def frame_times(self) -> list[float]:
        """Times of the sampled frames from the clip start (s), as the sampling found them."""
        return list(self.meta["frame_times"])

    def frame(self, k: int) -> np.ndarray:
        """Sampled frame ``k`` (0-based), upright RGB uint8 at the video's resolution."""
        if not 0 <= k < self.num_frames:
            raise IndexError(f"{self}: frame {k} out of range 0..{self.num_frames - 1}")
        return self._open().frames_by_ordinal([self.meta["ordinals"][k]])[0]

    def frames(self) -> list[np.ndarray]:
        """All sampled frames, decoded in one forward pass."""
        return self._open().frames_by_ordinal(list(self.meta["ordinals"]))

    def mask(self, k: int, *, size: tuple[int, int] | None = MODEL_SIZE) -> np.ndarray | None:
        """A plain video has no ground truth."""
        return None

    def audio(self) -> tuple[np.ndarray, int]:
        """The clip's audio track, float32 ``[S, channels]`` at its own rate."""
        return self._open().audio(self.start, float(self.seconds))

    def official_wav(self) -> tuple[np.ndarray, int]:
        """``int16 [S, 2]`` at 16 kHz: the WAV the official preprocessing would write."""
        duration = None if self.meta["whole_file"] else float(self.seconds)
        return self._open().official_wav(self.start, duration)

    def log_mel(self) -> np.ndarray:
        """VGGish log-mel examples of :meth:`official_wav`, in the setting's layout."""
        from avs_studio.core.audio.logmel import log_mel_examples

        pcm, rate = self.official_wav()
        layout = "avss" if self.setting is Setting.AVSS else "s4"
        source = f"{self.video_path}"
        try:
            return log_mel_examples(pcm.astype(np.float64) / 32768.0, rate, layout=layout)
        except AVSError as exc:
            raise type(exc)(str(exc).replace("audio:", f"{source}:", 1)) from None
