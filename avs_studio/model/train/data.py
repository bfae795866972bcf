"""Training tensors from core clips: frames, log-mel, ground truth and flags, cached.

Decoding PNG frames and recomputing log-mel examples for every clip in every epoch would
cost more than a small model's training step, so each clip is turned into compact arrays
once (uint8 frames and masks, float32 log-mel) and kept in a bounded LRU cache
(:class:`ClipCache`, a byte budget).  Batches are assembled as torch tensors in the
official layout: clip-major frames ``[B*T, 3, 224, 224]`` ImageNet-normalised, log-mel
``[B*T, 1, 96, 64]``, ground truth ``[B*T, 224, 224]``, and per-frame flags.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from avs_studio.core.clip import IMAGENET_MEAN, IMAGENET_STD, Clip
from avs_studio.core.errors import AVSError
from avs_studio.core.setting import Setting

DEFAULT_CACHE_BYTES = 3 << 30


@dataclass
class ClipArrays:
    """One clip as compact arrays (what the cache holds).

    ``frames`` uint8 ``[T, 224, 224, 3]`` (padded steps all 0, replaced by the normalised
    zero at batch time), ``vid_flags`` float32 ``[T]`` (1 = real frame), ``log_mel`` float32
    ``[T, 96, 64]``, ``gt`` ``[T, 224, 224]`` uint8 (0/1, or AVSS class indices),
    ``gt_flags`` float32 ``[T]`` (frames whose mask the loss uses).
    """

    clip_id: str
    frames: np.ndarray
    vid_flags: np.ndarray
    log_mel: np.ndarray
    gt: np.ndarray
    gt_flags: np.ndarray

    @property
    def nbytes(self) -> int:
        """Memory held by the arrays."""
        return sum(a.nbytes for a in (self.frames, self.vid_flags, self.log_mel, self.gt,
                                      self.gt_flags))


def loss_frame_flags(clip: Clip, has_mask: np.ndarray) -> np.ndarray:
    """Frames whose mask the official loss uses (float32 ``[T]``).

    S4: the first frame only (the official S4 loss; official S4 train clips have no other
    mask).  MS3: the frames with a mask (all five).  AVSS: the official
    ``gt_temporal_mask_flag`` -- v1s clips frame 0 only, v1m and v2 clips their annotated
    frames.
    """
    flags = has_mask.astype(np.float32)
    if clip.setting is Setting.S4 or (clip.setting is Setting.AVSS and clip.subset == "v1s"):
        flags[1:] = 0.0
    return flags


def clip_arrays(clip: Clip) -> ClipArrays:
    """Decode a clip once into :class:`ClipArrays`."""
    t = clip.frames_per_clip
    frames = np.zeros((t, 224, 224, 3), dtype=np.uint8)
    vid_flags = np.zeros(t, dtype=np.float32)
    for k in range(min(clip.num_frames, t)):
        frames[k] = clip.model_frame(k)
        vid_flags[k] = 1.0
    if clip.setting is Setting.AVSS and clip.subset == "v2":
        vid_flags[:] = 1.0  # as Clip.model_frames: flags come from the subset
    log_mel = np.asarray(clip.log_mel(), dtype=np.float32).reshape(-1, 96, 64)
    if log_mel.shape[0] != t:
        raise AVSError(f"{clip}: {log_mel.shape[0]} log-mel examples, the {clip.setting.value.upper()} "
                       f"model needs {t}")
    gt, has = clip.gt_stack()
    if not has.any():
        raise AVSError(f"{clip}: no ground-truth mask to train on")
    if clip.setting.is_binary:
        gt = (gt > 0).astype(np.uint8)
    else:
        if gt.max(initial=0) >= clip.setting.num_classes:
            raise AVSError(f"{clip}: class index {int(gt.max())} out of range")
        gt = gt.astype(np.uint8)
    return ClipArrays(clip.clip_id, frames, vid_flags, log_mel, gt, loss_frame_flags(clip, has))


class ClipCache:
    """A least-recently-used cache of :class:`ClipArrays`, bounded in bytes."""

    def __init__(self, max_bytes: int = DEFAULT_CACHE_BYTES) -> None:
        self.max_bytes = int(max_bytes)
        self._items: OrderedDict[str, ClipArrays] = OrderedDict()
        self.bytes = 0
        self.hits = 0
        self.misses = 0

    def get(self, clip: Clip) -> ClipArrays:
        """The clip's arrays, decoded on a miss."""
        key = f"{clip.setting.value}:{clip.split}:{clip.clip_id}"
        item = self._items.get(key)
        if item is not None:
            self._items.move_to_end(key)
            self.hits += 1
            return item
        self.misses += 1
        item = clip_arrays(clip)
        if item.nbytes <= self.max_bytes:
            self._items[key] = item
            self.bytes += item.nbytes
            while self.bytes > self.max_bytes:
                _, old = self._items.popitem(last=False)
                self.bytes -= old.nbytes
        return item

    def __len__(self) -> int:
        return len(self._items)


@dataclass
class Batch:
    """Tensors of a batch of clips, clip-major (frame ``n`` = clip ``n // T``, step ``n % T``)."""

    frames: torch.Tensor     # [B*T, 3, 224, 224] float32, normalised
    log_mel: torch.Tensor    # [B*T, 1, 96, 64]
    vid_flags: torch.Tensor  # [B*T]
    gt: torch.Tensor         # [B*T, 224, 224] float32 0/1 (S4/MS3) or int64 classes (AVSS)
    gt_flags: torch.Tensor   # [B*T]
    clip_ids: list[str]


_MEAN = torch.from_numpy(IMAGENET_MEAN).view(1, 3, 1, 1)
_STD = torch.from_numpy(IMAGENET_STD).view(1, 3, 1, 1)


def make_batch(items: Sequence[ClipArrays], setting: Setting,
               flips: Sequence[bool] | None = None) -> Batch:
    """Stack clips into a :class:`Batch`; ``flips[i]`` mirrors clip ``i`` left-right (frames
    and masks; the audio is mono after the front end, so it stays)."""
    frames = np.stack([it.frames for it in items])          # [B, T, H, W, 3]
    gt = np.stack([it.gt for it in items])                  # [B, T, H, W]
    if flips is not None:
        for i, flip in enumerate(flips):
            if flip:
                frames[i] = frames[i][:, :, ::-1]
                gt[i] = gt[i][:, :, ::-1]
    b, t = frames.shape[:2]
    x = torch.from_numpy(frames).reshape(b * t, *frames.shape[2:]).permute(0, 3, 1, 2)
    x = (x.float() / 255.0 - _MEAN) / _STD
    vid = torch.from_numpy(np.concatenate([it.vid_flags for it in items]))
    x = x * vid.view(-1, 1, 1, 1)  # padded steps: zero after normalisation (official AVSS)
    log_mel = torch.from_numpy(np.concatenate([it.log_mel for it in items])).unsqueeze(1)
    g = torch.from_numpy(gt.reshape(b * t, *gt.shape[2:]))
    g = g.float() if setting.is_binary else g.long()
    return Batch(x.contiguous(), log_mel, vid,
                 g, torch.from_numpy(np.concatenate([it.gt_flags for it in items])),
                 [it.clip_id for it in items])
