"""ProjectClip: a project's clip as a :class:`~avs_studio.core.clip.Clip`.

Frames and audio come from the clip's media (a video file through the official sampling,
or the frame and WAV files of the AVSBench dataset it was added from); masks come from the
project's objects. The engine and the GUI treat it exactly like a dataset clip.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from avs_studio.core.clip import MODEL_SIZE, Clip
from avs_studio.core.errors import AudioError, MediaError
from avs_studio.core.masks.resize import resize_nearest
from avs_studio.core.project.records import ClipRecord, ObjectRecord
from avs_studio.core.setting import Setting

if TYPE_CHECKING:
    from avs_studio.core.media.decode import MediaFile
    from avs_studio.core.project.project import Project


class ProjectClip(Clip):
    """One clip of a project; ``close()`` (or a ``with`` block) releases its video decoder."""

    def __init__(self, project: Project, record: ClipRecord) -> None:
        media = record.media_path if record.source == "video" else None
        super().__init__(
            clip_id=record.clip_id, setting=project.setting, split=record.split,
            category=record.category, subset=record.subset, num_frames=record.num_frames,
            annotated=record.annotated, start=record.start, video_path=media or self._dataset_video(record),
            meta={"vid": record.vid, "a_obj": record.a_obj, "status": record.status,
                  "s_min": int(record.start) // 60, "s_sec": int(record.start) % 60},
        )  # fmt: skip
        self.project = project
        self.record = record
        self._media: MediaFile | None = None

    @staticmethod
    def _dataset_video(record: ClipRecord) -> Path | None:
        video = record.files.get("video")
        return record.root / video if video else None

    # ------------------------------------------------------------------ lifetime
    def close(self) -> None:
        """Close the video decoder (it reopens on the next frame asked for)."""
        if self._media is not None:
            self._media.close()
            self._media = None

    def __enter__(self) -> ProjectClip:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _open(self) -> MediaFile:
        from avs_studio.core.media.decode import open_media

        if self._media is None:
            path = self.record.media_path
            if not path.is_file():
                raise MediaError(
                    f"{self.clip_id}: its video {path} is missing; relink it (avs-studio project status)"
                )
            self._media = open_media(path)
        return self._media

    # ------------------------------------------------------------------ frames
    def frame_path(self, k: int) -> Path | None:
        """The frame file of a dataset clip (None for a clip read from a video)."""
        self._check_k(k)
        frames = self.record.files.get("frames")
        return self.record.root / frames[k] if frames else None

    def frame(self, k: int) -> np.ndarray:
        """Frame ``k`` (0-based), RGB uint8 at the media's resolution."""
        self._check_k(k)
        if self.record.source == "dataset":
            from avs_studio.core.datasets.common import read_rgb

            path = self.frame_path(k)
            if not path.is_file():
                raise MediaError(f"{self.clip_id}: frame file {path} is missing; relink the dataset")
            return read_rgb(path)
        return self._open().frames_by_ordinal([self.record.ordinals[k]])[0]

    def frames(self) -> list[np.ndarray]:
        """All frames (a video is decoded in one forward pass)."""
        if self.record.source == "dataset":
            return [self.frame(k) for k in range(self.num_frames)]
        return self._open().frames_by_ordinal(list(self.record.ordinals))

    def frame_times(self) -> list[float]:
        """Time of each sampled frame from the clip start (s), as the sampling found them."""
        return list(self.record.frame_times)

    @property
    def duration(self) -> float:
        """Length of the clip in seconds."""
        return float(self.record.seconds)

    # ------------------------------------------------------------------ masks
    def objects(self, k: int, *, include_proposals: bool = True) -> list[ObjectRecord]:
        """The project's objects in frame ``k``."""
        return self.project.frame_objects(self.clip_id, k, include_proposals=include_proposals)

    def mask(self, k: int, *, size: tuple[int, int] | None = MODEL_SIZE) -> np.ndarray | None:
        """The project's mask of frame ``k`` (proposals excluded), or None if it has no slot.

        uint8 {0, 1} for S4/MS3, an int64 class map for AVSS (as the dataset clips);
        resized with the official NEAREST rule to ``size`` (None keeps the frame size).
        """
        self._check_k(k)
        if k not in self.annotated:
            return None
        if self.setting is Setting.AVSS:
            m = self.project.label_mask(self.clip_id, k).astype(np.int64)
        else:
            m = self.project.binary_mask(self.clip_id, k)
        if size is not None and (m.shape[1], m.shape[0]) != (int(size[0]), int(size[1])):
            m = resize_nearest(m, size)
        return m

    # ------------------------------------------------------------------ audio
    def _wav(self) -> Path | None:
        wav = self.record.files.get("wav")
        return self.record.root / wav if wav else None

    def audio(self) -> tuple[np.ndarray, int]:
        """The clip's audio, float32 ``[S, channels]``: the dataset's WAV or the video's track."""
        wav = self._wav()
        if wav is not None and wav.is_file():
            from avs_studio.core.media.wavio import read_wav

            return read_wav(wav)
        if self.record.source == "video":
            return self._open().audio(self.record.start, float(self.record.seconds))
        if self.video_path is not None and self.video_path.is_file():
            from avs_studio.core.media.decode import open_media

            with open_media(self.video_path) as media:
                return media.audio()
        raise AudioError(f"{self.clip_id}: no audio ({wav} is missing and there is no video)")

    def log_mel(self) -> np.ndarray:
        """VGGish log-mel examples in the setting's layout (``[5 or 10, 96, 64]``)."""
        from avs_studio.core.audio.logmel import log_mel_examples, log_mel_from_wav

        layout = "avss" if self.setting is Setting.AVSS else "s4"
        wav = self._wav()
        if wav is not None and wav.is_file():
            return log_mel_from_wav(wav, layout=layout)
        if self.record.source == "video" or (self.video_path is not None and self.video_path.is_file()):
            # the WAV the official preprocessing would write from this segment, read back as
            # the official reader does: the same log-mel as VideoClip and `propose`
            start = self.record.start if self.record.source == "video" else 0.0
            seconds = float(self.record.seconds) if self.record.source == "video" else None
            pcm, rate = self._official_wav(start, seconds)
            return log_mel_examples(pcm.astype(np.float64) / 32768.0, rate, layout=layout)
        samples, rate = self.audio()
        return log_mel_examples(samples, rate, layout=layout)

    def _official_wav(self, start: float, seconds: float | None) -> tuple[np.ndarray, int]:
        if self.record.source == "video":
            return self._open().official_wav(start, seconds)
        from avs_studio.core.media.decode import open_media

        with open_media(self.video_path) as media:
            return media.official_wav(start, seconds)

    def _check_k(self, k: int) -> None:
        if not 0 <= k < self.num_frames:
            raise IndexError(f"{self}: frame {k} out of range 0..{self.num_frames - 1}")
