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
from avs_studio.core.datasets.common import Dataset, LogMelWriter
from avs_studio.core.datasets.ms3 import MS3Writer
from avs_studio.core.datasets.s4 import S4Writer
from avs_studio.core.errors import AVSError, FormatError
from avs_studio.core.export.layout import (
    LeftOut,
    dropped_masks,
    frame_file_fits,
    left_out_note,
    output_folder,
    refusal,
    required_masks,
)
from avs_studio.core.export.maskset import FrameMask, MaskSet, clip_meta
from avs_studio.core.fsutil import atomic_dir
from avs_studio.core.jobs import CancelToken, Progress, no_progress
from avs_studio.core.masks.resize import resize_nearest
from avs_studio.core.setting import Setting

FOLDER = {Setting.S4: "Single-source", Setting.MS3: "Multi-sources", Setting.AVSS: "AVSS"}


@dataclass
class LayoutSummary:
    """What an AVSBench export wrote, what it had to change and what it left out."""

    clips: int = 0
    masks: int = 0
    notes: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    left_out: list[LeftOut] = field(default_factory=list)
    #: masks of the source the layout has no place for, named by clip and frame
    dropped: list[str] = field(default_factory=list)


def write_avsbench(
    out: str | os.PathLike[str],
    masks: MaskSet,
    target: Setting | str,
    *,
    dataset: Dataset | None = None,
    default_split: str = "test",
    log_mel_writer: LogMelWriter | None = None,
    progress: Progress = no_progress,
    cancel: CancelToken | None = None,
) -> LayoutSummary:
    """Write ``masks`` as an AVSBench ``target`` layout under ``out/<official folder>``.

    AVSS class masks may be exported to S4/MS3 (any class = foreground); binary masks
    cannot become AVSS (no classes). S4/MS3 masks are brought to 224 x 224 with the
    Pillow-exact NEAREST rule when needed, and every such change is listed in the notes.
    Clips lacking masks the official loader reads (an S4 train clip has one, MS3 needs
    five) are left out and listed in ``left_out``; when no clip is left, nothing is
    written. With a source ``dataset`` its frames (copied byte for byte when they already
    fit), audio, log-mel pickles (copied, else computed by ``log_mel_writer(pkl, wav)``
    from the WAV) and videos are carried over, and the metadata columns (S4 ``start``,
    AVSS ``vid``, ``s_min``, ``s_sec``, ``a_obj``) are kept.
    """
    target = Setting.parse(target)
    if target is Setting.AVSS and masks.setting.is_binary:
        raise FormatError("binary masks carry no classes; they cannot be written as AVSS colour masks")
    dest = Path(out) / FOLDER[target]
    if dest.exists():
        raise FormatError(f"{dest} already exists; choose a new folder")
    summary = LayoutSummary()
    groups = masks.by_clip()
    plan = _plan(groups, target, masks.setting, dataset, default_split, summary)
    if not plan:
        raise FormatError(f"no clip can be written as {target.value.upper()}: "
                          + "; ".join(str(x) for x in summary.left_out[:3]))  # fmt: skip
    counts = {"resized": 0, "binarised": 0, "train_masks": 0, "no_pkl": 0, "copied": 0, "start_zeroed": 0}
    with output_folder(out), atomic_dir(dest) as root:
        writer = {Setting.S4: S4Writer, Setting.MS3: MS3Writer, Setting.AVSS: AVSSWriter}[target](root)
        progress(0, len(plan), "")
        for i, (clip_id, frames, split, subset) in enumerate(plan, start=1):
            if cancel is not None:
                cancel.raise_if_cancelled()
            first = frames[0]
            clip_masks = _clip_masks(frames, target, masks.setting, summary, counts)
            if not clip_masks:
                continue
            src = _source_clip(dataset, clip_id)
            meta = dict(first.meta) or (clip_meta(src.setting, src.meta) if src is not None else {})
            try:
                extra = _carry(src, target, subset, counts, log_mel_writer)
            except AVSError as exc:  # a frame or a WAV of the source that cannot be read
                summary.failures.append(f"{clip_id}: {exc}")
                continue
            if target is Setting.S4:
                category = first.category or (src.category if src is not None else "") or "unknown"
                writer.add_clip(clip_id, category=category, split=split, start=_s4_start(meta, src, counts),
                                masks=clip_masks, **extra)  # fmt: skip
            elif target is Setting.MS3:
                writer.add_clip(clip_id, split=split, masks=clip_masks, **extra)
            else:
                start = _avss_start(meta, src)
                writer.add_clip(
                    clip_id, vid=str(meta.get("vid") or clip_id), subset=subset, split=split,
                    start=start, a_obj=str(meta.get("a_obj", "")), masks=clip_masks, **extra,
                )  # fmt: skip
            extra_frames = sorted(k for k in clip_masks if k) if required_masks(target, split, subset) == (0,) else []
            dropped = len(extra_frames)
            counts["train_masks"] += dropped
            if extra_frames:
                summary.dropped.append(dropped_masks(clip_id, extra_frames, target))
            summary.clips += 1
            summary.masks += len(clip_masks) - dropped
            progress(i, len(plan), clip_id)
        writer.finish()
    texts = {
        "resized": "mask(s) resized to 224x224 (NEAREST), as the layout requires",
        "binarised": "class mask(s) turned binary (any class = sounding object)",
        "train_masks": "mask(s) of frames 2-5 of train clips not written: the official layout keeps "
                       "the first frame's mask of a train clip (S4, AVSS v1s)",
        "no_pkl": "clip(s) without audio_log_mel/*.pkl (no pickle in the source, and none can be "
                  "computed here: torch is not installed)",
        "copied": "frame file(s) copied byte for byte from the source",
        "start_zeroed": "clip(s) whose position in the source video is no S4 start (0..5) written with "
                        "start 0 (the exported clip is the trimmed 5 s)",
    }  # fmt: skip
    summary.notes.extend(f"{counts[k]} {text}" for k, text in texts.items() if counts[k])
    if dataset is None:
        summary.notes.append("masks and metadata only (the source holds no frames or audio): enough to "
                             "evaluate against; training with the official code also needs the media")  # fmt: skip
    if summary.left_out:
        summary.notes.append(left_out_note(summary.left_out, target))
    return summary


def _plan(groups: dict[str, list[FrameMask]], target: Setting, source: Setting, dataset: Dataset | None,
          default_split: str, summary: LayoutSummary) -> list[tuple[str, list[FrameMask], str, str]]:  # fmt: skip
    """The clips to write, with split and AVSS subset; the others go to ``summary.left_out``."""
    plan = []
    for clip_id, frames in groups.items():
        first = frames[0]
        src = _source_clip(dataset, clip_id)
        split = first.split or (src.split if src is not None else "") or default_split
        subset = ""
        if target is Setting.AVSS:
            subset = first.subset or (src.subset if src is not None else "")
            if subset not in SUBSETS:
                subset = "v2" if max(f.frame for f in frames) >= 5 else "v1m"
                summary.notes.append(f"{clip_id}: no subset recorded, written as {subset}")
        n = src.num_frames if src is not None else None
        why = refusal(target, split, subset, {f.frame for f in frames}, n)
        if why is not None:
            summary.left_out.append(LeftOut(clip_id, why))
            continue
        plan.append((clip_id, frames, split, subset))
    return plan


def _clip_masks(frames: list[FrameMask], target: Setting, source: Setting, summary: LayoutSummary,
                counts: dict) -> dict[int, np.ndarray]:  # fmt: skip
    clip_masks: dict[int, np.ndarray] = {}
    for fm in frames:
        m = fm.try_mask(summary.failures)
        if m is None:
            continue
        if target.is_binary:
            if not source.is_binary:
                m = (m != 0).astype(np.uint8)
                counts["binarised"] += 1
            if m.shape != (MODEL_SIZE[1], MODEL_SIZE[0]):
                m = resize_nearest(m, MODEL_SIZE)
                counts["resized"] += 1
        clip_masks[fm.frame] = m
        fm.release()
    return clip_masks


def _source_clip(dataset: Dataset | None, clip_id: str):
    if dataset is None:
        return None
    try:
        return dataset.get(clip_id)
    except KeyError:
        return None


def _s4_start(meta: dict, src, counts: dict) -> int:
    """The S4 ``start`` column: kept from an S4 source; from another source only when it is
    an S4 start (0..5: the official script counts ``5`` seconds from it), else 0."""
    if "start" in meta:
        return int(meta["start"])
    start = int(src.start) if src is not None else 0
    if 0 <= start <= 5:
        return start
    counts["start_zeroed"] += 1
    return 0


def _avss_start(meta: dict, src) -> int:
    """Seconds into the source video (``s_min * 60 + s_sec``), kept from the source."""
    if "s_min" in meta or "s_sec" in meta:
        return int(meta.get("s_min", 0)) * 60 + int(meta.get("s_sec", 0))
    return int(src.start) if src is not None else 0


def _carry(clip, target: Setting, subset: str, counts: dict, log_mel_writer: LogMelWriter | None) -> dict:
    """Frames, audio, log-mel and video of a source clip, converted for the target layout."""
    if clip is None:
        return {}
    import cv2

    expected = SUBSETS.get(subset, 5) if target is Setting.AVSS else 5
    extra: dict = {}
    if clip.num_frames == expected:
        frames: list = []
        for k in range(clip.num_frames):
            path = clip.frame_path(k)
            if path.is_file() and frame_file_fits(path, target):
                frames.append(path)
                counts["copied"] += 1
                continue
            rgb = clip.frame(k)
            if target.is_binary and rgb.shape[:2] != (MODEL_SIZE[1], MODEL_SIZE[0]):
                rgb = cv2.resize(rgb, MODEL_SIZE, interpolation=cv2.INTER_LINEAR)
            frames.append(rgb)
        extra["frames"] = frames
    wav_path = clip.dataset.wav_path(clip)
    if wav_path is not None and wav_path.exists():
        extra["wav"] = wav_path
    if target.is_binary:
        pkl = clip.dataset.logmel_path(clip)
        if pkl is not None and pkl.is_file() and _valid_pickle(pkl):
            extra["log_mel"] = pkl
        elif "wav" in extra and log_mel_writer is not None:
            extra["log_mel_writer"] = log_mel_writer
        else:
            counts["no_pkl"] += 1
    if clip.video_path is not None and clip.video_path.exists():
        extra["video"] = clip.video_path
    return extra


def _valid_pickle(path: Path) -> bool:
    """True for a log-mel pickle the official loader reads ([5, 1, 96, 64], safely checked)."""
    from avs_studio.core.audio.logmel import load_logmel_pickle
    from avs_studio.core.errors import AudioError

    try:
        load_logmel_pickle(path)
    except AudioError:
        return False
    return True
