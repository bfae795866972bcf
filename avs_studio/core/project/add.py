"""Adding clips to a project: video files (whole or segments), folders, list files, datasets.

Each clip is added in its own transaction (its row and, for a dataset, its ground-truth
objects), so an interrupted or cancelled batch keeps the clips added so far. Adding a clip
that is already there (same id, same media) is skipped; the same id with other media is a
reported failure, never an overwrite. Adding clips is not an edit of a clip: it has no
undo entry (the clip's history starts empty).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from avs_studio.core.datasets.common import SPLITS
from avs_studio.core.errors import DatasetError, MediaError
from avs_studio.core.export.layout import segment_note
from avs_studio.core.fsutil import read_user_text
from avs_studio.core.jobs import BatchReport, CancelToken, Progress, no_progress, run_batch
from avs_studio.core.project.errors import ProjectError
from avs_studio.core.project.media import fast_hash, is_video_file, store_location
from avs_studio.core.project.records import KIND_DATASET, ClipRecord, Provenance
from avs_studio.core.project.store import now_iso
from avs_studio.core.setting import Setting

if TYPE_CHECKING:
    from avs_studio.core.datasets.common import Dataset, DatasetClip
    from avs_studio.core.project.project import Project

#: How much longer than ``start + seconds`` a video may fall short and still give a clip.
_LENGTH_TOLERANCE = 0.25
LIST_SUFFIXES = (".txt", ".lst", ".list", ".csv")


@dataclass
class AddReport(BatchReport):
    """What adding clips did: the clips added, failures, skips, and notes on the sources."""

    notes: list[str] = field(default_factory=list)


class AlreadyPresent(Exception):
    """The clip is in the project already (same id and media): skipped, not a failure."""


@dataclass
class NewClip:
    """Everything a clip row holds, before it is inserted."""

    uid: str
    source: str
    root: Path
    files: dict
    media_hash: str
    duration: float | None
    start: float
    seconds: int
    num_frames: int
    frame_times: list[float]
    annotated: list[int]
    width: int
    height: int
    ordinals: list[int] = field(default_factory=list)
    split: str = ""
    category: str = ""
    subset: str = ""
    vid: str = ""
    a_obj: str = ""
    status: str = "new"
    comment: str = ""


def insert_clip(project: Project, clip: NewClip,
                objects: Iterable[tuple[int, int, int, np.ndarray]] = ()) -> ClipRecord:  # fmt: skip
    """Insert one clip (and its initial objects ``(frame, instance, label, mask)``) atomically."""
    from avs_studio.core.project import rle

    store = project._store
    rel, absolute = store_location(clip.root, store.dir)
    stamp = now_iso()
    with store.write(f"adding clip {clip.uid}") as conn:
        row = conn.execute("SELECT media_hash, start, seconds FROM clips WHERE uid=?", (clip.uid,)).fetchone()
        if row is not None:
            if (row[0], float(row[1]), int(row[2])) == (clip.media_hash, float(clip.start), clip.seconds):
                raise AlreadyPresent(clip.uid)
            raise ProjectError(f"a clip named {clip.uid!r} is already in the project, with other media")
        cur = conn.execute(
            "INSERT INTO clips(uid, source, root_rel, root_abs, files, media_hash, duration, start, "
            "seconds, num_frames, frame_times, ordinals, annotated, width, height, split, category, "
            "subset, vid, a_obj, status, comment, added_at, updated_at) "
            "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (clip.uid, clip.source, rel, absolute, json.dumps(clip.files), clip.media_hash,
             clip.duration, float(clip.start), int(clip.seconds), int(clip.num_frames),
             json.dumps([round(float(t), 6) for t in clip.frame_times]),
             json.dumps([int(o) for o in clip.ordinals]), json.dumps(sorted(int(k) for k in clip.annotated)),
             int(clip.width), int(clip.height), clip.split, clip.category, clip.subset, clip.vid,
             clip.a_obj, clip.status, clip.comment, stamp, stamp),
        )  # fmt: skip
        rowid = cur.lastrowid
        prov = Provenance(KIND_DATASET, created_by=project.user, edited_by=project.user, edited_at=stamp)
        for frame, instance, label, mask in objects:
            counts, area = rle.encode(np.asfortranarray(mask, dtype=np.uint8))
            conn.execute(
                "INSERT INTO objects(clip, frame, instance, label, rle, area, kind, created_by, "
                "edited_by, edited_at) VALUES (?,?,?,?,?,?,?,?,?,?)",
                (rowid, int(frame), int(instance), int(label), counts, area, prov.kind,
                 prov.created_by, prov.edited_by, prov.edited_at),
            )  # fmt: skip
    return project.clip_record(clip.uid)


# ====================================================================== batches


def run_adds(items: list, work: Callable, *, name: Callable = str, progress: Progress = no_progress,
             cancel: CancelToken | None = None) -> AddReport:  # fmt: skip
    """Like :func:`~avs_studio.core.jobs.run_batch`, counting clips already present as skipped."""
    report = AddReport()
    run_batch(items, work, name=name, progress=progress, cancel=cancel, skip=AlreadyPresent, report=report)
    return report


def merge_reports(reports: Iterable[AddReport]) -> AddReport:
    """One report from several."""
    out = AddReport()
    for r in reports:
        out.notes.extend(r.notes)
        out.results.extend(r.results)
        out.failures.extend(r.failures)
        out.skipped += r.skipped
        out.cancelled = out.cancelled or r.cancelled
    return out


# ====================================================================== videos


def check_split(split: str) -> str:
    """'' (no split yet) or train/val/test."""
    if split and split not in SPLITS:
        raise ProjectError(f"unknown split {split!r} (expected train, val or test)")
    return split


def default_seconds(setting: Setting, duration: float | None, start: float) -> int:
    """5 s for S4/MS3; 10 s for AVSS when the video is long enough (a v2 clip), else 5 s."""
    if setting.is_binary:
        return 5
    if duration is None or duration + _LENGTH_TOLERANCE >= start + 10:
        return 10
    return 5


def segment_uid(vid: str, start: float, seconds: int) -> str:
    """``<vid>_<start_ms>_<end_ms>``: the AVSS rule for clips cut from a longer video."""
    start_ms = int(round(start * 1000))
    return f"{vid}_{start_ms}_{start_ms + int(seconds) * 1000}"


def video_clip(project: Project, path: str | os.PathLike[str], *, start: float = 0.0,
               seconds: int | None = None, split: str = "", category: str = "",
               clip_id: str | None = None, vid: str | None = None, a_obj: str = "") -> NewClip:  # fmt: skip
    """Probe a video and describe the clip ``[start, start + seconds)`` of it (no insert)."""
    from avs_studio.core.fsutil import check_component
    from avs_studio.core.media.decode import open_media

    p = Path(path)
    if not p.is_file():
        raise MediaError(f"{p}: no such video file" if not p.exists() else f"{p}: not a video file "
                         f"({'a folder' if p.is_dir() else 'a pipe, a socket or a device'})")
    setting = project.setting
    check_split(split)
    if start < 0 or not np.isfinite(start):
        raise ProjectError(f"{p}: the start time must be >= 0 s, got {start}")
    with open_media(p) as media:
        info = media.info
        if info.video is None:
            raise MediaError(f"{p}: has no video stream")
        duration = info.duration
        secs = int(seconds) if seconds is not None else default_seconds(setting, duration, start)
        allowed = (5,) if setting.is_binary else (5, 10)
        if secs not in allowed:
            raise ProjectError(
                f"{setting.value.upper()} clips are {' or '.join(map(str, allowed))} s long, not {secs} s"
            )
        if duration is not None and start > 0 and start + secs > duration + _LENGTH_TOLERANCE:
            # A segment running past the end is a mistake in the start time; a whole video
            # shorter than a clip is accepted below, as the official preprocessing takes it.
            raise MediaError(
                f"{p}: is {duration:.2f} s long; a {secs} s clip from {start:g} s needs "
                f"{start + secs:g} s"
            )
        sampling = media.official_sampling(secs, start)
        width, height = info.video.display_width, info.video.display_height
    comment = ""
    if duration is not None and secs > duration + _LENGTH_TOLERANCE:
        # Accepted the official way: the preprocessing clamps to the last frame (and the
        # log-mel repeats its last example), so the missing seconds show the last frame.
        short = short_seconds(sampling)
        comment = (f"the video is {duration:.2f} s long, shorter than this {secs} s clip: second(s) "
                   f"{', '.join(map(str, short))} repeat its last frame, as the official preprocessing does")  # fmt: skip
    vid = vid or p.stem
    segment = start > 0 or (duration is not None and duration > secs + 0.5)
    if clip_id is None:
        clip_id = segment_uid(vid, start, secs) if (segment or not setting.is_binary) else vid
    check_component(clip_id, "clip id")
    return NewClip(
        uid=clip_id, source="video", root=p.parent.resolve(), files={"video": p.name},
        media_hash=fast_hash(p), duration=duration, start=float(start), seconds=secs,
        num_frames=len(sampling.ordinals), frame_times=[t - start for t in sampling.times],
        annotated=list(range(len(sampling.ordinals))), width=width, height=height,
        ordinals=list(sampling.ordinals), split=split, category=category,
        subset="" if setting.is_binary else ("v2" if secs == 10 else "v1s"), vid=vid, a_obj=a_obj,
        comment=comment,
    )  # fmt: skip


def short_seconds(sampling) -> list[int]:
    """The seconds (1-based) of a clip whose official frame is the repeated last frame."""
    from avs_studio.core.media.official import official_output_indices

    wanted = official_output_indices(sampling.fi, sampling.seconds, 1 << 30)
    return [s + 1 for s, k in enumerate(wanted) if k >= sampling.n_sequence]


def segment_starts(duration: float | None, seconds: int, step: float | None) -> list[float]:
    """Starts of consecutive segments of ``seconds`` every ``step`` s (default: back to back)."""
    if duration is None:
        raise MediaError("the video's duration is unknown; give explicit start times")
    step = float(step or seconds)
    if step <= 0:
        raise ProjectError("the step between segments must be > 0 s")
    starts, t = [], 0.0
    while t + seconds <= duration + _LENGTH_TOLERANCE:
        starts.append(round(t, 3))
        t += step
    return starts


def find_videos(folder: Path, *, recursive: bool = True) -> list[Path]:
    """Video files in a folder (sorted; hidden files and our temporaries skipped)."""
    pattern = "**/*" if recursive else "*"
    return sorted(
        p for p in folder.glob(pattern)
        if is_video_file(p) and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    )  # fmt: skip


@dataclass
class ListEntry:
    """One line of a list file: ``path[,start[,seconds[,split[,category]]]]``."""

    path: Path
    start: float = 0.0
    seconds: int | None = None
    split: str = ""
    category: str = ""
    line: int = 0

    def __str__(self) -> str:
        return f"{self.path.name}@{self.start:g}s"


def read_list_file(path: Path) -> list[ListEntry]:
    """Parse a list file: one clip per line, ``#`` comments, paths relative to the file."""
    text = read_user_text(path, DatasetError, "list file", max_bytes=64 << 20, encoding="utf-8-sig")
    out = []
    for n, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        fields = [f.strip() for f in line.split(",")]
        if n == 1 and fields[0].lower() in ("path", "video", "file"):
            continue  # a header row
        try:
            entry = ListEntry(
                path=(path.parent / fields[0]) if not os.path.isabs(fields[0]) else Path(fields[0]),
                start=float(fields[1]) if len(fields) > 1 and fields[1] else 0.0,
                seconds=int(fields[2]) if len(fields) > 2 and fields[2] else None,
                split=fields[3] if len(fields) > 3 else "",
                category=fields[4] if len(fields) > 4 else "",
                line=n,
            )
        except ValueError:
            raise DatasetError(f"{path}:{n}: expected path[,start[,seconds[,split[,category]]]], got {line!r}") from None
        out.append(entry)
    return out


# ====================================================================== datasets


def dataset_clip(project: Project, dataset: Dataset, clip: DatasetClip, *, with_masks: bool = True,
                 status: str | None = None, origin: dict | None = None,
                 ) -> tuple[NewClip, list[tuple[int, int, int, np.ndarray]]]:  # fmt: skip
    """Describe a dataset clip and its ground-truth objects (no insert).

    ``origin`` (from an export's segment manifest) names the longer video the clip was cut
    from: it goes into the clip's comment.
    """
    from PIL import Image

    from avs_studio.core.masks.resize import resize_nearest

    root = Path(dataset.root).resolve()
    frames = [clip.frame_path(k).resolve() for k in range(clip.num_frames)]
    if not frames[0].is_file():
        raise DatasetError(f"{clip.clip_id}: frame file {frames[0]} is missing")
    try:
        with Image.open(frames[0]) as img:
            width, height = img.size
    except OSError as exc:
        raise DatasetError(f"{frames[0]}: not a readable image ({exc})") from None
    files: dict = {"frames": [f.relative_to(root).as_posix() for f in frames]}
    wav = dataset.wav_path(clip)
    if wav is not None and wav.is_file():
        files["wav"] = wav.resolve().relative_to(root).as_posix()
    if clip.video_path is not None and clip.video_path.is_file():
        files["video"] = clip.video_path.resolve().relative_to(root).as_posix()
    objects: list[tuple[int, int, int, np.ndarray]] = []
    if with_masks:
        instance_of: dict[int, int] = {}
        for k in clip.annotated:
            m = clip.mask(k, size=None)
            if m is None:
                continue
            if m.shape != (height, width):
                m = resize_nearest(m, (width, height))
            if project.setting.is_binary:
                if m.any():
                    objects.append((k, 1, 1, (m != 0).astype(np.uint8)))
                continue
            present = np.flatnonzero(np.bincount(m.ravel(), minlength=1)[1:]) + 1
            for label in present:
                inst = instance_of.setdefault(int(label), len(instance_of) + 1)
                objects.append((k, inst, int(label), (m == label).astype(np.uint8)))
    has_gt = bool(clip.annotated) and with_masks
    new = NewClip(
        uid=clip.clip_id, source="dataset", root=root, files=files, media_hash=fast_hash(frames[0]),
        duration=float(clip.num_frames), start=float(clip.start), seconds=int(clip.num_frames),
        num_frames=clip.num_frames, frame_times=clip.frame_times(), annotated=list(clip.annotated),
        width=width, height=height, split=clip.split, category=clip.category, subset=clip.subset,
        vid=str(clip.meta.get("vid", "")), a_obj=str(clip.meta.get("a_obj", "")),
        status=status or ("done" if has_gt else "new"),
        comment=segment_note(origin) if origin else "",
    )  # fmt: skip
    return new, objects


def open_project_dataset(project: Project, source) -> Dataset:
    """A dataset object (given, or opened from a path) of the project's setting."""
    from avs_studio.core.datasets import open_dataset

    if isinstance(source, (str, os.PathLike)):
        dataset = open_dataset(source, project.setting)
    else:
        dataset = source
    if dataset.setting is not project.setting:
        raise ProjectError(
            f"{dataset.root}: a {dataset.setting.value.upper()} dataset cannot go into a "
            f"{project.setting.value.upper()} project"
        )
    return dataset


def is_list_file(path: Path) -> bool:
    """True for the files :func:`read_list_file` reads (by extension)."""
    return path.is_file() and path.suffix.lower() in LIST_SUFFIXES
