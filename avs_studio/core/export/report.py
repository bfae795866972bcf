"""The report file an export leaves with what it wrote.

The one-line summary counts what an export skipped, left out, merged or changed; this file
names every item, so that nothing is dropped without a trace a script can read:

- a folder target (PNG masks, an AVSBench layout) gets ``avs_studio_export_report.json``
  inside the folder it wrote (the official loaders read their files by name and never
  see it; our own readers skip it);
- a COCO file gets ``<name>.report.json`` beside it.

``complete`` is False when anything the source held did not reach the output (skipped,
left out, dropped by the layout, or open proposals not exported); the command's exit status says the same (3).
"""

from __future__ import annotations

import datetime as _dt
import json
from collections.abc import Mapping, Sequence
from pathlib import Path

from avs_studio.core.export.compose import OverlapTally
from avs_studio.core.export.layout import LeftOut
from avs_studio.core.fsutil import atomic_write_text

REPORT = "avs_studio_export_report.json"
FORMAT = "avs-studio-export-report"


def report_path(written: Path) -> Path:
    """Where the report of an export that wrote ``written`` (a folder, or a COCO file) goes."""
    written = Path(written)
    if written.suffix.lower() == ".json" and not written.is_dir():
        return written.with_name(f"{written.stem}.report.json")
    return written / REPORT


def write_export_report(
    written: Path,
    *,
    source: str,
    target: str,
    counts: Mapping[str, int],
    notes: Sequence[str] = (),
    skipped: Sequence[str] = (),
    left_out: Sequence[LeftOut] = (),
    open_proposals: Mapping[str, Sequence[tuple[int, int]]] | None = None,
    overlaps: OverlapTally | None = None,
    dropped: Sequence[str] = (),
) -> Path:
    """Write the report of an export (atomically) and return its path.

    ``skipped`` are items of the source that could not be read or were refused,
    ``left_out`` clips the target cannot hold, ``open_proposals`` (clip -> (frame,
    object)) proposals nobody accepted, ``overlaps`` the frames where objects share pixels,
    ``dropped`` masks the target layout has no place for (named by clip and frame).
    Frames are 1-based here, as the annotator shows them.
    """
    proposals = [
        {"clip": clip, "frame": int(frame) + 1, "object": int(obj)}
        for clip, where in (open_proposals or {}).items()
        for frame, obj in where
    ]
    shared = [
        {"clip": clip, "frame": int(frame) + 1, "shared_pixels": int(s), "hidden_pixels": int(h)}
        for (clip, frame), (s, h) in sorted((overlaps.frames if overlaps is not None else {}).items())
    ]
    doc = {
        "format": FORMAT,
        "version": 1,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "source": str(source),
        "target": target,
        "output": str(written),
        "complete": not (skipped or left_out or proposals or dropped),
        "counts": {k: int(v) for k, v in counts.items()}
        | {"skipped": len(skipped), "left_out": len(left_out), "open_proposals": len(proposals),
           "dropped": len(dropped), "overlap_frames": len(shared)},  # fmt: skip
        "skipped": [str(s) for s in skipped],
        "left_out": [{"clip": x.clip_id, "reason": x.reason} for x in left_out],
        "dropped": [str(d) for d in dropped],
        "open_proposals": proposals,
        "overlaps": shared,
        "notes": [str(n) for n in notes],
    }
    path = report_path(written)
    atomic_write_text(path, json.dumps(doc, indent=1, ensure_ascii=False) + "\n")
    return path
