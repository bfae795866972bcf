"""Official frame file names (formats.md §1.1, §2.1) parsed back to (clip id, 0-based frame)."""

from __future__ import annotations

import re

from avs_studio.core.setting import Setting

_S4 = re.compile(r"(?:^|/)visual_frames/[^/]+/[^/]+/(?P<clip>[^/]+)/(?P=clip)_(?P<k>\d+)\.png$")
_MS3 = re.compile(r"(?:^|/)visual_frames/(?P<clip>[^/]+)/(?P=clip)\.mp4_(?P<k>\d+)\.png$")
_AVSS = re.compile(r"(?:^|/)(?:v1s|v1m|v2)/(?P<clip>[^/]+)/frames/(?P<k>\d+)\.jpg$")


def parse_frame_name(file_name: str, setting: Setting) -> tuple[str, int] | None:
    """``(clip_id, frame)`` of an official frame path, or None if it does not fit the layout.

    S4/MS3 file numbers are 1-based and become 0-based frames; AVSS numbers are 0-based.
    """
    name = file_name.replace("\\", "/")
    if setting is Setting.AVSS:
        m = _AVSS.search(name)
        return (m.group("clip"), int(m.group("k"))) if m else None
    m = (_S4 if setting is Setting.S4 else _MS3).search(name)
    if not m or int(m.group("k")) < 1:
        return None
    return m.group("clip"), int(m.group("k")) - 1
