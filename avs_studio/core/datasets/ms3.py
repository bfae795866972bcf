"""AVSBench-object MS3 (multi-source) layout: read and write (formats.md §1).

```
Multi-sources/
  ms3_meta_data.csv                                  video_id,split
  ms3_data/raw_videos/<video_id>.mp4
  ms3_data/visual_frames/<video_id>/<video_id>.mp4_<k>.png     k = 1..5 (no split level)
  ms3_data/audio_wav/<split>/<video_id>.wav
  ms3_data/audio_log_mel/<split>/<video_id>.pkl
  ms3_data/gt_masks/<split>/<video_id>/<video_id>_<k>.png      k = 1..5
```
Frame names keep the literal ``.mp4`` (the preprocessing built them from the file name).
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

META = "ms3_meta_data.csv"
DATA = "ms3_data"
COLUMNS = ("video_id", "split")
FRAMES = 5


def find_root(path: str | os.PathLike[str]) -> Path | None:
    """The folder holding ``ms3_meta_data.csv`` at or just below ``path``, or None."""
    p = Path(path)
    for cand in (p, p / "Multi-sources"):
        if (cand / META).is_file():
            return cand
    return None


class MS3Layout:
    """Path arithmetic of the MS3 layout (0-based frame ``k`` -> file number ``k + 1``)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def _join(self, *parts: str) -> Path:
        return safe_join(self.root, *parts)

    def frame_path(self, split: str, vid: str, k: int) -> Path:
        """``visual_frames/<vid>/<vid>.mp4_<k+1>.png`` (no split level)."""
        return self._join(DATA, "visual_frames", vid, f"{vid}.mp4_{k + 1}.png")

    def mask_path(self, split: str, vid: str, k: int) -> Path:
        """``gt_masks/<split>/<vid>/<vid>_<k+1>.png``."""
        return self._join(DATA, "gt_masks", split, vid, f"{vid}_{k + 1}.png")

    def wav_path(self, split: str, vid: str) -> Path:
        """``audio_wav/<split>/<vid>.wav``."""
        return self._join(DATA, "audio_wav", split, f"{vid}.wav")

    def logmel_path(self, split: str, vid: str) -> Path:
        """``audio_log_mel/<split>/<vid>.pkl``."""
        return self._join(DATA, "audio_log_mel", split, f"{vid}.pkl")

    def video_path(self, vid: str) -> Path:
        """``raw_videos/<vid>.mp4``."""
        return self._join(DATA, "raw_videos", f"{vid}.mp4")


class MS3Dataset(Dataset):
    """An MS3 dataset folder (``Multi-sources/`` or a folder laid out like it)."""

    setting = Setting.MS3

    def __init__(self, root: str | os.PathLike[str]) -> None:
        found = find_root(root)
        if found is None:
            raise DatasetError(f"{root}: no {META} here or in Multi-sources/")
        super().__init__(found)
        self.layout = MS3Layout(self.root)
        table = read_csv(self.root / META, COLUMNS)
        self.problems.extend(table.problems)
        seen: set[str] = set()
        for line, row in table.rows:
            where = f"{META}:{line}"
            try:
                vid = safe_name(row["video_id"], "video id")
                split = check_split(row["split"], where)
                video = self.layout.video_path(vid)
            except AVSError as exc:
                self._problem(where, str(exc), skipped=True)
                continue
            if vid in seen:
                self._problem(where, f"duplicate video id {vid!r} (first kept)", skipped=True)
                continue
            seen.add(vid)
            annotated = tuple(
                k for k in range(FRAMES) if self.layout.mask_path(split, vid, k).exists()
            )
            if len(annotated) != FRAMES:
                missing = sorted(set(range(FRAMES)) - set(annotated))
                self._problem(vid, f"missing ground-truth mask(s) for frame(s) {missing}")
            self._clips.append(
                DatasetClip(
                    self,
                    clip_id=vid,
                    setting=Setting.MS3,
                    split=split,
                    num_frames=FRAMES,
                    annotated=annotated,
                    video_path=video,
                )
            )

    def frame_path(self, clip: Clip, k: int) -> Path:
        """Path of frame ``k`` (0-based)."""
        return self.layout.frame_path(clip.split, clip.clip_id, k)

    def mask_path(self, clip: Clip, k: int) -> Path:
        """Path of the mask of frame ``k`` (0-based)."""
        return self.layout.mask_path(clip.split, clip.clip_id, k)

    def wav_path(self, clip: Clip) -> Path:
        """Path of the clip's 16 kHz WAV."""
        return self.layout.wav_path(clip.split, clip.clip_id)

    def logmel_path(self, clip: Clip) -> Path:
        """Path of the cached log-mel pickle."""
        return self.layout.logmel_path(clip.split, clip.clip_id)

    def read_mask(self, path: Path, *, size: tuple[int, int] | None = MODEL_SIZE) -> np.ndarray:
        """Decode as the MS3 loader (``convert('P')`` / 255), refusing fractional targets."""
        return read_binary_mask(path, Setting.MS3, size=MODEL_SIZE)


class MS3Writer:
    """Writes clips into an MS3 folder; call :meth:`finish` to write the metadata CSV last."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self.layout = MS3Layout(self.root)
        self.rows: list[tuple[str, str]] = []

    def add_clip(
        self,
        vid: str,
        *,
        split: str,
        frames: list[np.ndarray] | None = None,
        masks: dict[int, np.ndarray] | None = None,
        wav: tuple[np.ndarray, int] | Path | None = None,
        video: Path | None = None,
        log_mel_writer: LogMelWriter | None = None,
        log_mel: Path | None = None,
    ) -> None:
        """Write one clip's files (masks by 0-based frame); see :class:`S4Writer`."""
        safe_name(vid, "video id")
        check_split(split, vid)
        lay = self.layout
        if frames is not None:
            check_frames(frames, FRAMES, vid)
            for k, rgb in enumerate(frames):
                write_frame(lay.frame_path(split, vid, k), rgb, write_png_rgb)
        for k, m in sorted((masks or {}).items()):
            if not 0 <= k < FRAMES:
                raise DatasetError(f"{vid}: mask index {k} out of range 0..{FRAMES - 1}")
            check_224(m, f"{vid} mask {k}")
            write_binary_mask(lay.mask_path(split, vid, k), m)
        if wav is not None:
            write_clip_audio(lay.wav_path(split, vid), wav, lay.logmel_path(split, vid),
                             None if log_mel is not None else log_mel_writer)  # fmt: skip
        if log_mel is not None:
            copy_atomic(log_mel, lay.logmel_path(split, vid))
        if video is not None:
            copy_atomic(video, lay.video_path(vid))
        self.rows.append((vid, split))

    def finish(self) -> Path:
        """Write ``ms3_meta_data.csv`` (rows in the order added) and return the root."""
        write_csv(self.root / META, COLUMNS, self.rows)
        return self.root
