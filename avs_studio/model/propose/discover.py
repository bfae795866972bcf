"""Discover the clips of an input: an AVSBench dataset folder (any setting; ``split`` picks one
split), a folder of videos (recursive, the extensions projects accept), a list file (one
``path[,start[,seconds[,split[,category]]]]`` per line, as ``project add`` reads), one video file,
or clip objects. Clip ids: the dataset's; a video's file name without extension, or
``<name>_<start_ms>_<end_ms>`` for a segment starting after 0 s. Each clip becomes a picklable
:class:`ClipTask` that a worker turns back into a clip.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from avs_studio.core.clip import Clip
from avs_studio.core.errors import AVSError, DatasetError, MediaError
from avs_studio.core.fsutil import check_component
from avs_studio.core.jobs import ItemFailure
from avs_studio.core.setting import Setting
from avs_studio.model.propose.state import RESERVED

if TYPE_CHECKING:  # pragma: no cover
    pass


@dataclass(frozen=True)
class ClipTask:
    """One clip to propose, as a picklable recipe a worker process turns into a Clip."""

    clip_id: str
    source: str
    kind: str  # "dataset" | "video" | "clip"
    setting: str
    path: str = ""
    start: float = 0.0
    seconds: int | None = None
    split: str = ""
    category: str = ""
    clip: Any = None

    def resolve(self) -> Clip:
        """The clip this task names (opens the dataset or probes the video)."""
        if self.kind == "clip":
            return self.clip
        if self.kind == "dataset":
            try:
                return _dataset(self.path, self.setting).get(self.clip_id)
            except KeyError:
                raise DatasetError(f"{self.path}: no clip {self.clip_id!r}") from None
        from avs_studio.core.media.video_clip import VideoClip

        return VideoClip(self.path, self.setting, start=self.start, seconds=self.seconds,
                         clip_id=self.clip_id, split=self.split, category=self.category)  # fmt: skip

    def __str__(self) -> str:
        return self.clip_id


_DATASETS: dict[tuple[str, str], Any] = {}


def _dataset(root: str, setting: str):
    """A dataset opened once per process (workers open it on their first clip)."""
    key = (root, setting)
    if key not in _DATASETS:
        from avs_studio.core.datasets import open_dataset

        _DATASETS[key] = open_dataset(root, setting)
    return _DATASETS[key]


@dataclass
class Discovery:
    """The clips found in an input, and the entries that could not become clips."""

    setting: Setting
    kind: str
    tasks: list[ClipTask] = field(default_factory=list)
    failures: list[ItemFailure] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def discover(
    source: str | os.PathLike[str] | Sequence[Clip],
    setting: Setting | str | None = None,
    *,
    split: str | None = None,
    seconds: int | None = None,
) -> Discovery:
    """Find the clips of an input (see the module docstring). ``setting`` is needed for
    videos and list files; for a dataset it picks one of several settings in the folder."""
    if not isinstance(source, (str, os.PathLike)):
        clips = list(source)
        if not clips:
            raise AVSError("no clips to propose")
        st = Setting.parse(setting) if setting is not None else clips[0].setting
        disc = Discovery(st, "clips")
        for c in clips:
            disc.tasks.append(ClipTask(c.clip_id, str(c.video_path or c.clip_id), "clip", st.value, clip=c))
        return _dedupe(disc)
    p = Path(source)
    if not p.exists():
        raise AVSError(f"{p}: no such file or folder")
    if seconds is not None and seconds not in (5, 10):
        raise AVSError(f"clips are 5 or 10 s long, not {seconds} s")
    if p.is_dir():
        from avs_studio.core.datasets import detect_setting

        found = detect_setting(p)
        if found:
            return _discover_dataset(p, found, setting, split)
        return _discover_folder(p, _need_setting(setting, p), seconds)
    from avs_studio.core.project.add import is_list_file
    from avs_studio.core.project.media import is_video_file

    if is_list_file(p):
        return _discover_list(p, _need_setting(setting, p), seconds)
    if is_video_file(p):
        st = _need_setting(setting, p)
        disc = Discovery(st, "video")
        disc.tasks.append(_video_task(p, st, 0.0, seconds))
        return disc
    raise AVSError(
        f"{p}: not an AVSBench dataset folder, a folder of videos, a list file (.txt, .lst, "
        ".list, .csv) or a video file"
    )


def _need_setting(setting, p: Path) -> Setting:
    if setting is None:
        raise AVSError(f"{p}: videos need a setting (s4, ms3 or avss) to be proposed")
    return Setting.parse(setting)


def _discover_dataset(p: Path, found: list[Setting], setting, split: str | None) -> Discovery:
    from avs_studio.core.datasets import open_dataset

    wanted = Setting.parse(setting) if setting is not None else None
    if wanted is not None and wanted in found:
        st = wanted
    elif len(found) == 1:
        st = found[0]
    else:
        names = ", ".join(s.value for s in found)
        raise AVSError(f"{p}: holds several settings ({names}); choose one with --setting")
    ds = open_dataset(p, st)
    root = str(Path(ds.root).resolve())
    _DATASETS[(root, st.value)] = ds
    clips = ds.clips(split)
    if not clips:
        raise AVSError(f"{p}: no {split + ' ' if split else ''}clips in this {st.value.upper()} dataset")
    disc = Discovery(st, "dataset")
    disc.notes.extend(str(x) for x in ds.problems[:20])
    for c in clips:
        disc.tasks.append(ClipTask(c.clip_id, f"{root}:{c.clip_id}", "dataset", st.value, path=root,
                                   split=c.split, category=c.category))  # fmt: skip
    return _dedupe(disc)


def _discover_folder(p: Path, st: Setting, seconds: int | None) -> Discovery:
    from avs_studio.core.project.add import find_videos

    videos = find_videos(p)
    if not videos:
        raise AVSError(f"{p}: no video files in this folder (and it is not an AVSBench dataset)")
    disc = Discovery(st, "videos")
    for v in videos:
        disc.tasks.append(_video_task(v, st, 0.0, seconds))
    return _dedupe(disc)


def _discover_list(p: Path, st: Setting, seconds: int | None) -> Discovery:
    from avs_studio.core.project.add import read_list_file

    disc = Discovery(st, "list")
    for e in read_list_file(p):
        secs = e.seconds if e.seconds is not None else seconds
        try:
            disc.tasks.append(_video_task(e.path, st, e.start, secs, split=e.split, category=e.category))
        except AVSError as exc:
            disc.failures.append(ItemFailure(f"{p.name}:{e.line}", f"{type(exc).__name__}: {exc}", str(e.path)))
    return _dedupe(disc)


def _video_task(path: Path, st: Setting, start: float, seconds: int | None, *, split: str = "",
                category: str = "") -> ClipTask:  # fmt: skip
    from avs_studio.core.project.add import default_seconds, segment_uid

    if start < 0 or not np.isfinite(start):
        raise MediaError(f"{path}: the start time must be >= 0 s, got {start}")
    if start > 0:
        secs = seconds
        if secs is None:
            secs = 5 if st.is_binary else default_seconds(st, _duration(path), start)
        clip_id = segment_uid(path.stem, start, secs)
    else:
        clip_id = path.stem
    return ClipTask(clip_id, str(path), "video", st.value, path=str(path), start=float(start),
                    seconds=seconds if start == 0 else secs, split=split, category=category)  # fmt: skip


def _duration(path: Path) -> float | None:
    from avs_studio.core.media.probe import probe

    return probe(path, count_frames=False).duration


def _dedupe(disc: Discovery) -> Discovery:
    """Refuse clip ids that repeat or are not usable as file names (reported, not fatal)."""
    seen: dict[str, ClipTask] = {}
    kept = []
    for t in disc.tasks:
        try:
            check_component(t.clip_id, "clip id")
        except AVSError as exc:
            disc.failures.append(ItemFailure(t.clip_id, f"{type(exc).__name__}: {exc}", t.source))
            continue
        if t.clip_id in RESERVED:
            disc.failures.append(ItemFailure(t.clip_id, f"the clip id {t.clip_id!r} is the name of an output folder; rename the file", t.source))
            continue
        if t.clip_id in seen:
            disc.failures.append(ItemFailure(
                t.clip_id, f"another input has the same clip id ({seen[t.clip_id].source}); rename one "
                "of them", t.source))  # fmt: skip
            continue
        seen[t.clip_id] = t
        kept.append(t)
    disc.tasks = kept
    return disc
