"""Clip: one AVS clip that knows its frames, audio and masks, whatever it came from.

A clip read from an S4, MS3 or AVSS dataset folder and a clip cut from a plain video file
answer the same questions: its sampled frames (0-based ``k``), the frames as the official
loader feeds the model (224 x 224), its audio, its VGGish log-mel examples and its
ground-truth masks. Dataset modules, projects and :class:`~avs_studio.core.media.video_clip.VideoClip`
(a segment of any video file) build them.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from avs_studio.core.errors import AVSError
from avs_studio.core.masks.resize import resize_bilinear_pil
from avs_studio.core.setting import Setting

MODEL_SIZE = (224, 224)
IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)


def official_frame_time(second: int) -> float:
    """Approximate time (s, from the clip start) of the frame the official scripts sample.

    The preprocessing takes decoded frame ``int(s*fi + 15/16*fi)`` (fi = round(fps)), i.e.
    near the end of second ``s``; exact per-file times come from the media module.
    """
    return second + 15.0 / 16.0


@dataclass
class Clip(ABC):
    """A clip: identity and metadata, plus access to frames, audio and masks.

    ``num_frames`` counts the real frames (5 for S4/MS3 and AVSS v1, 10 for AVSS v2);
    ``annotated`` lists the 0-based frames that have a ground-truth mask.
    """

    clip_id: str
    setting: Setting
    split: str = ""
    category: str = ""
    subset: str = ""
    num_frames: int = 5
    annotated: tuple[int, ...] = ()
    start: float = 0.0
    video_path: Path | None = None
    meta: dict = field(default_factory=dict)

    # ------------------------------------------------------------------ content
    @abstractmethod
    def frame(self, k: int) -> np.ndarray:
        """Frame ``k`` (0-based) as stored, RGB uint8 ``[H, W, 3]``."""

    @abstractmethod
    def mask(self, k: int, *, size: tuple[int, int] | None = MODEL_SIZE) -> np.ndarray | None:
        """Ground truth of frame ``k``: uint8 {0,1} (S4/MS3) or int64 class map (AVSS).

        None when frame ``k`` has no mask. ``size`` applies to AVSS colour masks (the
        official loader's NEAREST resize; None keeps the native size).
        """

    @abstractmethod
    def audio(self) -> tuple[np.ndarray, int]:
        """The clip's audio as float32 ``[S, channels]`` in [-1, 1] and its sample rate."""

    @abstractmethod
    def log_mel(self) -> np.ndarray:
        """VGGish log-mel examples in the setting's layout: ``[5 or 10, 96, 64]`` float32."""

    # ------------------------------------------------------------------ derived
    @property
    def duration(self) -> float:
        """Nominal length in seconds: one second per frame."""
        return float(self.num_frames)

    @property
    def frames_per_clip(self) -> int:
        """Time steps fed to the model (AVSS pads v1 clips to 10)."""
        return self.setting.frames_per_clip

    def frame_times(self) -> list[float]:
        """Approximate time of each sampled frame, from the clip start (s)."""
        return [official_frame_time(k) for k in range(self.num_frames)]

    def frames(self) -> list[np.ndarray]:
        """All real frames, as stored."""
        return [self.frame(k) for k in range(self.num_frames)]

    def masks(self, *, size: tuple[int, int] | None = MODEL_SIZE) -> dict[int, np.ndarray]:
        """All ground-truth masks by 0-based frame index."""
        out = {}
        for k in self.annotated:
            m = self.mask(k, size=size)
            if m is not None:
                out[k] = m
        return out

    def model_frame(self, k: int) -> np.ndarray:
        """Frame ``k`` at 224 x 224 RGB uint8 as the official loader feeds the model.

        S4/MS3 frames are stored at 224 already (the preprocessing resized them with
        OpenCV); AVSS frames are resized with Pillow BILINEAR (formats.md §2.7, val/test).
        """
        img = self.frame(k)
        if img.shape[:2] == (MODEL_SIZE[1], MODEL_SIZE[0]):
            return img
        if self.setting is Setting.AVSS:
            return resize_bilinear_pil(img, MODEL_SIZE)
        import cv2

        return cv2.resize(img, MODEL_SIZE, interpolation=cv2.INTER_LINEAR)

    def model_frames(self) -> tuple[np.ndarray, np.ndarray]:
        """Normalised model input ``[T, 3, 224, 224]`` float32 and the validity flags ``[T]``.

        ``T`` is the setting's frames per clip; padded steps are all-zero after
        normalisation (the ImageNet mean colour), as the official AVSS loader pads.
        """
        t = self.frames_per_clip
        out = np.zeros((t, 3, MODEL_SIZE[1], MODEL_SIZE[0]), dtype=np.float32)
        flags = np.zeros(t, dtype=np.float32)
        for k in range(min(self.num_frames, t)):
            out[k] = normalise_frame(self.model_frame(k))
            flags[k] = 1.0
        if self.setting is Setting.AVSS and self.subset == "v2":
            flags[:] = 1.0  # flags come from the subset, not from the files (formats.md §2.1)
        return out, flags

    def gt_stack(self) -> tuple[np.ndarray, np.ndarray]:
        """Ground truth for the official metric: ``[T, 224, 224]`` and a has-mask flag ``[T]``.

        AVSS steps without a mask (padding) are all background, as the official loader pads.
        """
        t = self.frames_per_clip
        binary = self.setting.is_binary
        gt = np.zeros((t, MODEL_SIZE[1], MODEL_SIZE[0]), dtype=np.uint8 if binary else np.int64)
        has = np.zeros(t, dtype=bool)
        for k in self.annotated:
            if k >= t:
                continue
            m = self.mask(k)
            if m is None:
                continue
            if m.shape != gt.shape[1:]:
                raise AVSError(
                    f"{self.clip_id}: mask {k} is {m.shape[1]}x{m.shape[0]}, the metric needs 224x224"
                )
            gt[k] = m
            has[k] = True
        return gt, has

    def __str__(self) -> str:
        return f"{self.setting.value}:{self.clip_id}"


def normalise_frame(rgb: np.ndarray) -> np.ndarray:
    """RGB uint8 ``[H, W, 3]`` -> ImageNet-normalised float32 ``[3, H, W]`` (ToTensor + Normalize)."""
    x = np.asarray(rgb, dtype=np.float32) / np.float32(255.0)
    x = (x - IMAGENET_MEAN) / IMAGENET_STD
    return np.ascontiguousarray(x.transpose(2, 0, 1))


def as_path(p: str | os.PathLike[str] | None) -> Path | None:
    """``Path(p)`` or None."""
    return None if p is None else Path(p)
