"""AVSBench-object S4 (single source) layout: read and write (formats.md §1).

```
Single-source/
  s4_meta_data.csv                                   name,start,category,split
  s4_data/raw_videos/<split>/<category>/<name>.mp4
  s4_data/visual_frames/<split>/<category>/<name>/<name>_<k>.png     k = 1..5
  s4_data/audio_wav/<split>/<category>/<name>.wav
  s4_data/audio_log_mel/<split>/<category>/<name>.pkl
  s4_data/gt_masks/<split>/<category>/<name>/<name>_<k>.png          k = 1 (train) | 1..5
```
Files are numbered from 1; clips and this API number frames from 0.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from avs_studio.core.clip import MODEL_SIZE, Clip
from avs_studio.core.datasets.common import (
    Dataset,
    DatasetClip,
    LogMelWriter,
    check_224,
    check_frames,
    check_split,
    copy_atomic,
    read_csv,
    safe_name,
    write_clip_audio,
    write_csv,
    write_frame,
    write_png_rgb,
)
from avs_studio.core.errors import AVSError, DatasetError
from avs_studio.core.fsutil import safe_join
from avs_studio.core.masks.files import read_binary_mask, write_binary_mask
from avs_studio.core.setting import Setting

META = "s4_meta_data.csv"
DATA = "s4_data"
COLUMNS = ("name", "start", "category", "split")
FRAMES = 5


def find_root(path: str | os.PathLike[str]) -> Path | None:
    """The folder holding ``s4_meta_data.csv`` at or just below ``path``, or None."""
    p = Path(path)
    for cand in (p, p / "Single-source"):
        if (cand / META).is_file():
            return cand
    return None


class S4Layout:
    """Path arithmetic of the S4 layout (0-based frame ``k`` -> file number ``k + 1``)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def _join(self, *parts: str) -> Path:
        return safe_join(self.root, *parts)

    def frame_path(self, split: str, category: str, name: str, k: int) -> Path:
        """``visual_frames/<split>/<category>/<name>/<name>_<k+1>.png``."""
        return self._join(DATA, "visual_frames", split, category, name, f"{name}_{k + 1}.png")

    def mask_path(self, split: str, category: str, name: str, k: int) -> Path:
        """``gt_masks/<split>/<category>/<name>/<name>_<k+1>.png``."""
        return self._join(DATA, "gt_masks", split, category, name, f"{name}_{k + 1}.png")

    def wav_path(self, split: str, category: str, name: str) -> Path:
        """``audio_wav/<split>/<category>/<name>.wav``."""
        return self._join(DATA, "audio_wav", split, category, f"{name}.wav")

    def logmel_path(self, split: str, category: str, name: str) -> Path:
        """``audio_log_mel/<split>/<category>/<name>.pkl``."""
        return self._join(DATA, "audio_log_mel", split, category, f"{name}.pkl")

    def video_path(self, split: str, category: str, name: str) -> Path:
        """``raw_videos/<split>/<category>/<name>.mp4``."""
        return self._join(DATA, "raw_videos", split, category, f"{name}.mp4")


class S4Dataset(Dataset):
    """An S4 dataset folder (``Single-source/`` or a folder laid out like it)."""

    setting = Setting.S4

    def __init__(self, root: str | os.PathLike[str]) -> None:
        found = find_root(root)
        if found is None:
            raise DatasetError(f"{root}: no {META} here or in Single-source/")
        super().__init__(found)
        self.layout = S4Layout(self.root)
        table = read_csv(self.root / META, COLUMNS)
        self.problems.extend(table.problems)
        seen: set[str] = set()
        for line, row in table.rows:
            where = f"{META}:{line}"
            try:
                name = safe_name(row["name"], "clip name")
                category = safe_name(row["category"], "category")
                split = check_split(row["split"], where)
                try:
                    start = int(row["start"])
                except ValueError:
                    raise DatasetError(f"start {row['start']!r} is not an integer") from None
                video = self.layout.video_path(split, category, name)
            except AVSError as exc:
                self._problem(where, str(exc), skipped=True)
                continue
            if name in seen:
                self._problem(where, f"duplicate clip name {name!r} (first kept)", skipped=True)
                continue
            seen.add(name)
            expected = (0,) if split == "train" else tuple(range(FRAMES))
            annotated = tuple(
                k for k in expected if self.layout.mask_path(split, category, name, k).exists()
            )
            if len(annotated) != len(expected):
                missing = sorted(set(expected) - set(annotated))
                self._problem(name, f"missing ground-truth mask(s) for frame(s) {missing}")
            self._clips.append(
                DatasetClip(
                    self,
                    clip_id=name,
                    setting=Setting.S4,
                    split=split,
                    category=category,
                    num_frames=FRAMES,
                    annotated=annotated,
                    start=float(start),
                    video_path=video,
                    meta={"start": start},
                )
            )

    def frame_path(self, clip: Clip, k: int) -> Path:
        """Path of frame ``k`` (0-based)."""
        return self.layout.frame_path(clip.split, clip.category, clip.clip_id, k)

    def mask_path(self, clip: Clip, k: int) -> Path:
        """Path of the mask of frame ``k`` (0-based)."""
        return self.layout.mask_path(clip.split, clip.category, clip.clip_id, k)

    def wav_path(self, clip: Clip) -> Path:
        """Path of the clip's 16 kHz WAV."""
        return self.layout.wav_path(clip.split, clip.category, clip.clip_id)

    def logmel_path(self, clip: Clip) -> Path:
        """Path of the cached log-mel pickle."""
        return self.layout.logmel_path(clip.split, clip.category, clip.clip_id)

    def read_mask(self, path: Path, *, size: tuple[int, int] | None = MODEL_SIZE) -> np.ndarray:
        """Decode as the S4 loader (``convert('1')``); the official files are 224 x 224."""
        return read_binary_mask(path, Setting.S4, size=MODEL_SIZE)


class S4Writer:
    """Writes clips into an S4 folder; call :meth:`finish` to write the metadata CSV last."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self.layout = S4Layout(self.root)
        self.rows: list[tuple[str, int, str, str]] = []

    def add_clip(
        self,
        name: str,
        *,
        category: str,
        split: str,
        start: int = 0,
        frames: list[np.ndarray] | None = None,
        masks: dict[int, np.ndarray] | None = None,
        wav: tuple[np.ndarray, int] | Path | None = None,
        video: Path | None = None,
        log_mel_writer: LogMelWriter | None = None,
        log_mel: Path | None = None,
    ) -> None:
        """Write one clip's files; masks by 0-based frame (S4 train keeps only frame 0).

        ``frames`` must be 224 x 224 RGB (arrays, or PNG files copied as they are). ``wav``
        is (samples, rate) or a WAV file. ``video`` is copied to ``raw_videos``.
        ``log_mel_writer(pkl_path, wav_path)`` writes the ``.pkl`` (a pickled torch tensor,
        so the caller, which may import torch, supplies it); ``log_mel`` is an existing
        ``.pkl`` copied instead.
        """
        safe_name(name, "clip name")
        safe_name(category, "category")
        check_split(split, name)
        lay = self.layout
        if frames is not None:
            check_frames(frames, FRAMES, name)
            for k, rgb in enumerate(frames):
                write_frame(lay.frame_path(split, category, name, k), rgb, write_png_rgb)
        for k, m in sorted((masks or {}).items()):
            if split == "train" and k != 0:
                continue
            check_224(m, f"{name} mask {k}")
            write_binary_mask(lay.mask_path(split, category, name, k), m)
        if wav is not None:
            write_clip_audio(lay.wav_path(split, category, name), wav, lay.logmel_path(split, category, name),
                             None if log_mel is not None else log_mel_writer)  # fmt: skip
        if log_mel is not None:
            copy_atomic(log_mel, lay.logmel_path(split, category, name))
        if video is not None:
            copy_atomic(video, lay.video_path(split, category, name))
        self.rows.append((name, int(start), category, split))

    def finish(self) -> Path:
        """Write ``s4_meta_data.csv`` (rows in the order added) and return the root."""
        write_csv(self.root / META, COLUMNS, self.rows)
        return self.root
