"""AVSBench-semantic (AVSS) layout: read and write (formats.md §2).

```
<root>/
  metadata.csv          vid,uid,s_min,s_sec,a_obj,split,label
  label2idx.json        71 class names -> 1..71
  v1s|v1m|v2/<uid>/
    frames/<k>.jpg            k = 0..4 (v1s, v1m) | 0..9 (v2)
    labels_rgb/<k>.png        palette colours; v1s train: only 0.png
    labels_semantic/<k>.png   class indices (not read by the official code)
    audio.wav
```
Indices are 0-based on disk here, as in this API.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import numpy as np

from avs_studio.core.clip import MODEL_SIZE, Clip
from avs_studio.core.datasets.common import (
    Dataset,
    DatasetClip,
    check_frames,
    check_split,
    copy_atomic,
    read_csv,
    safe_name,
    write_clip_audio,
    write_csv,
    write_frame,
    write_jpeg_rgb,
)
from avs_studio.core.errors import AVSError, DatasetError
from avs_studio.core.fsutil import atomic_write_text, read_user_json, safe_join
from avs_studio.core.masks.files import read_label_mask, write_colour_mask, write_index_mask
from avs_studio.core.masks.palette import CLASS_NAMES, label2idx
from avs_studio.core.setting import Setting

META = "metadata.csv"
LABELS = "label2idx.json"
COLUMNS = ("vid", "uid", "s_min", "s_sec", "a_obj", "split", "label")
SUBSETS = {"v1s": 5, "v1m": 5, "v2": 10}
_FRAME_RE = re.compile(r"^(\d+)\.jpg$")
_MASK_RE = re.compile(r"^(\d+)\.png$")


def find_root(path: str | os.PathLike[str]) -> Path | None:
    """The folder holding the AVSS ``metadata.csv`` at ``path`` or in ``path/AVSS``, or None."""
    p = Path(path)
    for cand in (p, p / "AVSS"):
        if (cand / META).is_file():
            return cand
    return None


def read_label2idx(path: Path) -> dict[str, int]:
    """Read and check ``label2idx.json``: 71 entries; a clear error otherwise."""
    # A regular file, of sane size, parsed without RecursionError however deep it nests.
    data = read_user_json(path, DatasetError, "label2idx.json", max_bytes=1 << 20)
    if not isinstance(data, dict) or not all(isinstance(v, int) and not isinstance(v, bool) for v in data.values()):
        raise DatasetError(f"{path}: expected a JSON object mapping class names to integers")
    if len(data) != len(CLASS_NAMES):
        raise DatasetError(
            f"{path}: {len(data)} entries, the official loader asserts {len(CLASS_NAMES)}"
        )
    return data


class AVSSLayout:
    """Path arithmetic of the AVSS layout."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def clip_dir(self, subset: str, uid: str) -> Path:
        """``<subset>/<uid>``."""
        return safe_join(self.root, subset, uid)

    def frame_path(self, subset: str, uid: str, k: int) -> Path:
        """``<subset>/<uid>/frames/<k>.jpg``."""
        return safe_join(self.root, subset, uid, "frames", f"{k}.jpg")

    def mask_path(self, subset: str, uid: str, k: int) -> Path:
        """``<subset>/<uid>/labels_rgb/<k>.png``."""
        return safe_join(self.root, subset, uid, "labels_rgb", f"{k}.png")

    def semantic_path(self, subset: str, uid: str, k: int) -> Path:
        """``<subset>/<uid>/labels_semantic/<k>.png``."""
        return safe_join(self.root, subset, uid, "labels_semantic", f"{k}.png")

    def wav_path(self, subset: str, uid: str) -> Path:
        """``<subset>/<uid>/audio.wav``."""
        return safe_join(self.root, subset, uid, "audio.wav")

    def video_path(self, uid: str) -> Path:
        """``raw_videos/<uid>.mp4``: AVS Studio keeps the source video here (not read officially)."""
        return safe_join(self.root, "raw_videos", f"{uid}.mp4")


def _numbered(folder: Path, pattern: re.Pattern[str]) -> tuple[list[int], list[str]]:
    """Indices of files named ``<k>.ext`` in ``folder`` and the names of any other files."""
    if not folder.is_dir():
        return [], []
    idx, stray = [], []
    for entry in sorted(os.listdir(folder)):
        m = pattern.match(entry)
        if m:
            idx.append(int(m.group(1)))
        else:
            stray.append(entry)
    return sorted(idx), stray


class AVSSDataset(Dataset):
    """An AVSBench-semantic dataset folder."""

    setting = Setting.AVSS

    def __init__(self, root: str | os.PathLike[str]) -> None:
        found = find_root(root)
        if found is None:
            raise DatasetError(f"{root}: no {META} here or in AVSS/")
        super().__init__(found)
        self.layout = AVSSLayout(self.root)
        try:
            self.label2idx = read_label2idx(self.root / LABELS)
            if list(self.label2idx) != list(CLASS_NAMES):
                self._problem(LABELS, "class names or order differ from the official palette order")
        except DatasetError as exc:
            self.label2idx = label2idx()
            self._problem(LABELS, str(exc))
        table = read_csv(self.root / META, COLUMNS)
        self.problems.extend(table.problems)
        seen: set[str] = set()
        for line, row in table.rows:
            where = f"{META}:{line}"
            try:
                clip = self._clip_from_row(row, where)
            except AVSError as exc:
                self._problem(where, str(exc), skipped=True)
                continue
            if clip.clip_id in seen:
                self._problem(where, f"duplicate uid {clip.clip_id!r} (first kept)", skipped=True)
                continue
            seen.add(clip.clip_id)
            self._clips.append(clip)

    def _clip_from_row(self, row: dict[str, str], where: str) -> DatasetClip:
        uid = safe_name(row["uid"], "uid")
        subset = row["label"]
        if subset not in SUBSETS:
            raise DatasetError(f"unknown label {subset!r} (expected v1s, v1m or v2)")
        split = check_split(row["split"], where)
        try:
            start = int(row["s_min"]) * 60 + int(row["s_sec"])
        except ValueError:
            raise DatasetError(f"s_min/s_sec {row['s_min']!r}/{row['s_sec']!r} are not integers") from None
        expected = SUBSETS[subset]
        frames, stray = _numbered(self.layout.clip_dir(subset, uid) / "frames", _FRAME_RE)
        if stray:
            self._problem(uid, f"stray files in frames/ ({', '.join(stray[:3])}) break the official frame count")
        n = len(frames)
        if frames != list(range(n)):
            self._problem(uid, f"frames are not numbered 0..{n - 1}: {frames[:12]}")
            n = next((i for i, f in enumerate(frames) if f != i), n)
        masks, stray = _numbered(self.layout.clip_dir(subset, uid) / "labels_rgb", _MASK_RE)
        if stray:
            self._problem(uid, f"stray files in labels_rgb/ ({', '.join(stray[:3])})")
        if n == 0:
            if not masks:
                raise DatasetError(f"{uid}: no frames in {subset}/{uid}/frames")
            # Masks without media (an export of proposals, "enough to evaluate against"):
            # the clip has the subset's frames, as an S4/MS3 clip without its PNG frames;
            # `avs-studio check` names the missing frames, and reading one says so.
            n = expected
        elif n != expected:
            self._problem(uid, f"{n} frames, a {subset} clip has {expected}")
        annotated = tuple(k for k in masks if k < n)
        if split != "train" and len(annotated) != expected:
            self._problem(uid, f"{len(annotated)} masks, the official {split} loader asserts {expected}")
        return DatasetClip(
            self,
            clip_id=uid,
            setting=Setting.AVSS,
            split=split,
            category=row["a_obj"],
            subset=subset,
            num_frames=n,
            annotated=annotated,
            start=float(start),
            video_path=self.layout.video_path(uid),
            meta={"vid": row["vid"], "s_min": row["s_min"], "s_sec": row["s_sec"], "a_obj": row["a_obj"]},
        )

    def frame_path(self, clip: Clip, k: int) -> Path:
        """Path of frame ``k``."""
        return self.layout.frame_path(clip.subset, clip.clip_id, k)

    def mask_path(self, clip: Clip, k: int) -> Path:
        """Path of the colour mask of frame ``k``."""
        return self.layout.mask_path(clip.subset, clip.clip_id, k)

    def wav_path(self, clip: Clip) -> Path:
        """Path of ``audio.wav``."""
        return self.layout.wav_path(clip.subset, clip.clip_id)

    def read_mask(self, path: Path, *, size: tuple[int, int] | None = MODEL_SIZE) -> np.ndarray:
        """Colour mask -> class indices (NEAREST resize to ``size`` first, as the loader).

        Pixels of colours outside the palette become background, as the official loader
        makes them, and are counted (:meth:`notes` names the masks that hold them).
        """
        labels, unknown = read_label_mask(path, size=size, return_unknown=True)
        stray = int(np.count_nonzero(unknown))
        if stray:
            self.note_stray_colours(path, stray)
        return labels


class AVSSWriter:
    """Writes clips into an AVSS folder; :meth:`finish` writes ``metadata.csv`` and ``label2idx.json``."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self.layout = AVSSLayout(self.root)
        self.rows: list[tuple[str, str, int, int, str, str, str]] = []

    def add_clip(
        self,
        uid: str,
        *,
        vid: str,
        subset: str,
        split: str,
        start: int = 0,
        a_obj: str = "",
        frames: list[np.ndarray] | None = None,
        masks: dict[int, np.ndarray] | None = None,
        wav: tuple[np.ndarray, int] | Path | None = None,
        video: Path | None = None,
        semantic: bool = True,
    ) -> None:
        """Write one clip: JPEG frames, colour masks (+ index masks), ``audio.wav``.

        Masks are class-index maps by 0-based frame; v1s train keeps only frame 0, as the
        official release. Frames may have any size (the loader resizes them).
        """
        safe_name(uid, "uid")
        if subset not in SUBSETS:
            raise DatasetError(f"{uid}: unknown subset {subset!r}")
        check_split(split, uid)
        lay = self.layout
        n = SUBSETS[subset]
        if frames is not None:
            check_frames(frames, n, uid, size224=False)
            for k, rgb in enumerate(frames):
                write_frame(lay.frame_path(subset, uid, k), rgb, write_jpeg_rgb)
        for k, label in sorted((masks or {}).items()):
            if not 0 <= k < n:
                raise DatasetError(f"{uid}: mask index {k} out of range 0..{n - 1}")
            if subset == "v1s" and split == "train" and k != 0:
                continue
            write_colour_mask(lay.mask_path(subset, uid, k), label)
            if semantic:
                write_index_mask(lay.semantic_path(subset, uid, k), label)
        if wav is not None:
            write_clip_audio(lay.wav_path(subset, uid), wav, None, None)
        if video is not None:
            copy_atomic(video, lay.video_path(uid))
        self.rows.append((vid, uid, int(start) // 60, int(start) % 60, a_obj, split, subset))

    def finish(self) -> Path:
        """Write ``metadata.csv`` (no final newline, like the inspected copy) and ``label2idx.json``."""
        write_csv(self.root / META, COLUMNS, self.rows, final_newline=False)
        atomic_write_text(self.root / LABELS, json.dumps(label2idx(), indent=1) + "\n")
        return self.root
