"""Export masks into the official AVSBench layouts (S4, MS3, AVSS) with their metadata.

Masks alone make a loadable layout for evaluation; when the masks come from a dataset,
its frames, WAVs and videos are carried over too, so the result is a complete dataset.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from avs_studio.core.clip import MODEL_SIZE
from avs_studio.core.datasets.avss import SUBSETS, AVSSWriter
from avs_studio.core.datasets.common import Dataset
from avs_studio.core.datasets.ms3 import MS3Writer
from avs_studio.core.datasets.s4 import S4Writer
from avs_studio.core.errors import FormatError
from avs_studio.core.export.maskset import MaskSet
from avs_studio.core.fsutil import atomic_dir
from avs_studio.core.jobs import CancelToken, Progress, no_progress
from avs_studio.core.masks.resize import resize_nearest
from avs_studio.core.setting import Setting

FOLDER = {Setting.S4: "Single-source", Setting.MS3: "Multi-sources", Setting.AVSS: "AVSS"}


@dataclass
class LayoutSummary:
    """What an AVSBench export wrote and what it had to change."""

    clips: int = 0
    masks: int = 0
    notes: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)


def write_avsbench(
    out: str | os.PathLike[str],
    masks: MaskSet,
    target: Setting | str,
    *,
    dataset: Dataset | None = None,
    default_split: str = "test",
    progress: Progress = no_progress,
    cancel: CancelToken | None = None,
) -> LayoutSummary:
    """Write ``masks`` as an AVSBench ``target`` layout under ``out/<official folder>``.

    AVSS class masks may be exported to S4/MS3 (any class = foreground); binary masks
    cannot become AVSS (no classes). S4/MS3 masks are brought to 224 x 224 with the
    Pillow-exact NEAREST rule when needed, and every such change is listed in the notes.
    """
    target = Setting.parse(target)
    if target is Setting.AVSS and masks.setting.is_binary:
        raise FormatError("binary masks carry no classes; they cannot be written as AVSS colour masks")
    dest = Path(out) / FOLDER[target]
    if dest.exists():
        raise FormatError(f"{dest} already exists; choose a new folder")
    summary = LayoutSummary()
    groups = masks.by_clip()
    resized = binarised = 0
    with atomic_dir(dest) as root:
        writer = {Setting.S4: S4Writer, Setting.MS3: MS3Writer, Setting.AVSS: AVSSWriter}[target](root)
        progress(0, len(groups), "")
        for i, (clip_id, frames) in enumerate(groups.items(), start=1):
            if cancel is not None:
                cancel.raise_if_cancelled()
            first = frames[0]
            split = first.split or default_split
            clip_masks: dict[int, np.ndarray] = {}
            for fm in frames:
                m = fm.try_mask(summary.failures)
                if m is None:
                    continue
                if target.is_binary:
                    if not masks.setting.is_binary:
                        m = (m != 0).astype(np.uint8)
                        binarised += 1
                    if m.shape != (MODEL_SIZE[1], MODEL_SIZE[0]):
                        m = resize_nearest(m, MODEL_SIZE)
                        resized += 1
                clip_masks[fm.frame] = m
                fm.release()
            if not clip_masks:
                continue
            src = dataset.get(clip_id) if dataset is not None else None
            extra = _carry(src, target)
            if target is Setting.S4:
                category = first.category or (src.category if src is not None else "") or "unknown"
                writer.add_clip(clip_id, category=category, split=split, masks=clip_masks, **extra)
            elif target is Setting.MS3:
                writer.add_clip(clip_id, split=split, masks=clip_masks, **extra)
            else:
                subset = first.subset or (src.subset if src is not None else "")
                if subset not in SUBSETS:
                    subset = "v2" if max(clip_masks) >= 5 else "v1m"
                    summary.notes.append(f"{clip_id}: no subset recorded, written as {subset}")
                meta = src.meta if src is not None else {}
                writer.add_clip(
                    clip_id, vid=str(meta.get("vid", clip_id)), subset=subset, split=split,
                    start=int(src.start) if src is not None else 0, a_obj=str(meta.get("a_obj", "")),
                    masks=clip_masks, **extra,
                )  # fmt: skip
            summary.clips += 1
            summary.masks += len(clip_masks)
            progress(i, len(groups), clip_id)
        writer.finish()
    if resized:
        summary.notes.append(f"{resized} mask(s) resized to 224x224 (NEAREST), as the layout requires")
    if binarised:
        summary.notes.append(f"{binarised} class mask(s) turned binary (any class = sounding object)")
    return summary


def _carry(clip, target: Setting) -> dict:
    """Frames, audio and video of a source clip, converted for the target layout."""
    if clip is None:
        return {}
    import cv2

    frames = []
    for k in range(clip.num_frames):
        rgb = clip.frame(k)
        if target.is_binary and rgb.shape[:2] != (MODEL_SIZE[1], MODEL_SIZE[0]):
            rgb = cv2.resize(rgb, MODEL_SIZE, interpolation=cv2.INTER_LINEAR)
        frames.append(rgb)
    expected = SUBSETS.get(clip.subset, 5) if target is Setting.AVSS else 5
    extra: dict = {"frames": frames} if len(frames) == expected else {}
    wav_path = clip.dataset.wav_path(clip)
    if wav_path is not None and wav_path.exists():
        extra["wav"] = wav_path
    if clip.video_path is not None and clip.video_path.exists():
        extra["video"] = clip.video_path
    return extra
