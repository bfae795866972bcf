"""Plain PNG masks: one greyscale PNG per frame and a JSON manifest.

```
OUT/
  masks.json          format, setting, encoding and one entry per frame (clip, frame, file, ...)
  <clip_id>/<frame>.png   S4/MS3: 0/255;  AVSS: class index 0..70
```
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import numpy as np

from avs_studio.core.errors import FormatError, MaskError, UnsafePathError
from avs_studio.core.export.coco_schema import MAX_FRAME_INDEX
from avs_studio.core.export.maskset import FrameMask, MaskSet, clip_meta
from avs_studio.core.fsutil import (
    atomic_dir,
    atomic_write_text,
    check_component,
    is_temporary,
    read_user_json,
    safe_join,
)
from avs_studio.core.jobs import CancelToken, Progress, no_progress
from avs_studio.core.masks.files import open_image, write_binary_mask, write_index_mask
from avs_studio.core.masks.palette import NUM_CLASSES
from avs_studio.core.setting import Setting

MANIFEST = "masks.json"
FORMAT = "avs-studio-png-masks"
_NAME = re.compile(r"^(\d+)\.png$")


def write_png_masks(
    out: str | os.PathLike[str],
    masks: MaskSet,
    *,
    progress: Progress = no_progress,
    cancel: CancelToken | None = None,
    failures: list[str] | None = None,
) -> int:
    """Write every mask as ``out/<clip>/<frame>.png`` plus ``masks.json``; return the count.

    ``out`` must not exist: the folder appears complete or not at all. With a
    ``failures`` list, unreadable masks are noted there and skipped.
    """
    out = Path(out)
    if out.exists():
        raise FormatError(f"{out} already exists; choose a new folder")
    entries = []
    with atomic_dir(out) as root:
        progress(0, len(masks), "")
        for i, fm in enumerate(masks.frames, start=1):
            if cancel is not None:
                cancel.raise_if_cancelled()
            check_component(fm.clip_id, "clip id")
            rel = f"{fm.clip_id}/{fm.frame}.png"
            target = safe_join(root, fm.clip_id, f"{fm.frame}.png")
            pixels = fm.try_mask(failures)
            if pixels is None:
                continue
            if masks.setting.is_binary:
                write_binary_mask(target, pixels)
            else:
                write_index_mask(target, pixels)
            entry = {
                "clip_id": fm.clip_id, "frame": fm.frame, "file": rel, "source": fm.file_name,
                "split": fm.split, "category": fm.category, "subset": fm.subset,
            }  # fmt: skip
            if fm.meta:
                entry["meta"] = dict(fm.meta)
            entries.append(entry)
            fm.release()
            progress(i, len(masks), fm.clip_id)
        manifest = {
            "format": FORMAT,
            "version": 1,
            "setting": masks.setting.value,
            "encoding": "binary 0/255" if masks.setting.is_binary else "class index 0..70",
            "frames": entries,
        }
        atomic_write_text(root / MANIFEST, json.dumps(manifest, indent=1) + "\n")
    return len(entries)


def read_png_masks(folder: str | os.PathLike[str], setting: Setting | str | None = None) -> MaskSet:
    """Read a plain PNG mask folder (with or without its manifest) into a MaskSet."""
    folder = Path(folder)
    manifest_path = folder / MANIFEST
    if manifest_path.is_file():
        manifest = read_user_json(manifest_path, FormatError, "mask manifest")
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
            raise FormatError(f"{manifest_path}: not an AVS Studio PNG mask manifest")
        try:
            resolved = Setting.parse(setting or str(manifest.get("setting", "")))
        except ValueError as exc:
            raise FormatError(f"{manifest_path}: {exc}") from None
        out = MaskSet(resolved, info={"source": str(folder)})
        frames = manifest.get("frames", [])
        if not isinstance(frames, list):
            raise FormatError(f"{manifest_path}: 'frames' must be a list")
        for e in frames:
            try:
                clip_id, frame, rel = e["clip_id"], e["frame"], e["file"]
                if not (isinstance(clip_id, str) and isinstance(rel, str) and isinstance(frame, int)
                        and not isinstance(frame, bool) and 0 <= frame <= MAX_FRAME_INDEX):
                    raise TypeError
                check_component(clip_id, "clip id")
            except (KeyError, TypeError, ValueError, UnsafePathError):
                raise FormatError(f"{manifest_path}: malformed frame entry {str(e)[:80]}") from None
            path = safe_join(folder, *rel.split("/"))
            out.frames.append(FrameMask(
                clip_id=clip_id, frame=frame, file_name=str(e.get("source") or rel),
                split=str(e.get("split", "")), category=str(e.get("category", "")),
                subset=str(e.get("subset", "")), loader=_loader(path, resolved),
                meta=clip_meta(resolved, e["meta"]) if isinstance(e.get("meta"), dict) else {},
            ))  # fmt: skip
        return out
    if setting is None:
        raise FormatError(f"{folder}: no {MANIFEST}; pass --setting to read <clip>/<frame>.png files")
    resolved = Setting.parse(setting)
    out = MaskSet(resolved, info={"source": str(folder)})
    for clip_dir in sorted(p for p in folder.iterdir() if p.is_dir() and not is_temporary(p)):
        for f in sorted(clip_dir.iterdir(), key=lambda p: (len(p.name), p.name)):
            m = _NAME.match(f.name)
            if m:
                out.frames.append(FrameMask(
                    clip_id=clip_dir.name, frame=int(m.group(1)), file_name=f"{clip_dir.name}/{f.name}",
                    loader=_loader(safe_join(folder, clip_dir.name, f.name), resolved),
                ))  # fmt: skip
    if not out.frames:
        raise FormatError(f"{folder}: no <clip>/<frame>.png masks found")
    return out


def _loader(path: Path, setting: Setting):
    def load() -> np.ndarray:
        img = open_image(path)
        if img.mode not in ("L", "P", "1", "I", "I;16"):
            raise MaskError(f"{path}: expected a single-channel PNG, got mode {img.mode}")
        arr = np.asarray(img.convert("L") if img.mode in ("1",) else img)
        if setting.is_binary:
            values = np.unique(arr)
            if img.mode == "1":
                return arr.astype(bool).astype(np.uint8)
            if not np.isin(values, (0, 255)).all():
                raise MaskError(f"{path}: binary masks hold 0 and 255, found {values[:6].tolist()}")
            return (arr == 255).astype(np.uint8)
        if arr.size and arr.max() >= NUM_CLASSES:
            raise MaskError(f"{path}: class index {int(arr.max())} outside 0..{NUM_CLASSES - 1}")
        return arr.astype(np.uint8)

    return load
