"""Official frame file names (formats.md §1.1, §2.1) parsed back to what they tell.

A frame's path in the official layouts says more than its clip and frame: an S4 path holds
the split and the category (``s4_data/visual_frames/<split>/<category>/<name>/<name>_<k>.png``),
an AVSS path the subset (``v1s/<uid>/frames/<k>.jpg``), and ``s4_data`` / ``ms3_data`` the
setting itself. COCO files written by other tools (pycocotools scripts, Datumaro) carry
only ``file_name``, so the importer reads all of it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from avs_studio.core.setting import Setting

# Any image extension: tools that re-save the frames (Datumaro writes .jpg) keep the path.
_EXT = r"\.(?:png|jpe?g|bmp|webp)$"
_S4 = re.compile(
    r"(?:^|/)visual_frames/(?P<split>[^/]+)/(?P<category>[^/]+)/(?P<clip>[^/]+)/(?P=clip)_(?P<k>\d+)" + _EXT,
    re.I,
)
_MS3 = re.compile(r"(?:^|/)visual_frames/(?P<clip>[^/]+)/(?P=clip)\.mp4_(?P<k>\d+)" + _EXT, re.I)
_AVSS = re.compile(r"(?:^|/)(?P<subset>v1s|v1m|v2)/(?P<clip>[^/]+)/frames/(?P<k>\d+)" + _EXT, re.I)
_SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class FrameName:
    """What an official frame path tells: clip, 0-based frame and, where the path has them,
    the split, the S4 category and the AVSS subset."""

    clip_id: str
    frame: int
    split: str = ""
    category: str = ""
    subset: str = ""


def parse_frame_path(file_name: str, setting: Setting) -> FrameName | None:
    """Parse an official frame path of ``setting``; None if it does not fit the layout.

    S4/MS3 file numbers are 1-based and become 0-based frames; AVSS numbers are 0-based.
    An S4 path's split level is kept only when it is train/val/test.
    """
    name = file_name.replace("\\", "/")
    if setting is Setting.AVSS:
        m = _AVSS.search(name)
        if not m:
            return None
        return FrameName(m.group("clip"), int(m.group("k")), subset=m.group("subset"))
    m = (_S4 if setting is Setting.S4 else _MS3).search(name)
    if not m or int(m.group("k")) < 1:
        return None
    if setting is Setting.MS3:
        return FrameName(m.group("clip"), int(m.group("k")) - 1)
    split = m.group("split") if m.group("split") in _SPLITS else ""
    return FrameName(m.group("clip"), int(m.group("k")) - 1, split=split, category=m.group("category"))


def parse_frame_name(file_name: str, setting: Setting) -> tuple[str, int] | None:
    """``(clip_id, frame)`` of an official frame path, or None if it does not fit the layout."""
    parsed = parse_frame_path(file_name, setting)
    return None if parsed is None else (parsed.clip_id, parsed.frame)


def setting_of_frame_path(file_name: str) -> Setting | None:
    """The setting a frame path names (``s4_data`` / ``ms3_data`` folders or the file
    patterns of each layout); None when it names none or is ambiguous."""
    name = file_name.replace("\\", "/")
    parts = name.split("/")
    if "s4_data" in parts:
        return Setting.S4
    if "ms3_data" in parts:
        return Setting.MS3
    found = [s for s in Setting if parse_frame_path(name, s) is not None]
    return found[0] if len(found) == 1 else None
