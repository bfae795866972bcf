"""What the official loaders need of a clip, shared by the dataset and the project exporters.

* :func:`refusal` says why a clip cannot go into a layout the official loaders accept: the
  S4 val/test and MS3 loaders read five masks, the S4 train loader the first one, the AVSS
  loader as many as the subset has frames (v1s train: the first). Such clips are left out
  of an export, counted and named, never written half.
* :func:`output_folder` removes the folders an export created when it fails, so that a
  refused or interrupted export leaves nothing behind.
* :func:`frame_file_fits` tells when a source frame file can be copied byte for byte.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from pathlib import Path

from avs_studio.core.clip import MODEL_SIZE
from avs_studio.core.datasets.avss import SUBSETS
from avs_studio.core.errors import FormatError
from avs_studio.core.fsutil import read_user_json
from avs_studio.core.setting import Setting

#: Beside an AVSBench export (in its official folder): where clips cut from longer videos come from.
SEGMENT_MANIFEST = "avs_studio_manifest.json"

#: Frames per clip of each AVSS subset (formats.md §2.8): the reader's own table.
AVSS_FRAMES = SUBSETS
OBJECT_FRAMES = 5


@dataclass(frozen=True)
class LeftOut:
    """A clip an export did not write, and why."""

    clip_id: str
    reason: str

    def __str__(self) -> str:
        return f"{self.clip_id}: {self.reason}"


def dropped_masks(clip_id: str, frames: list[int], target: Setting) -> str:
    """Name the masks of a clip that a layout has no place for (0-based ``frames``)."""
    shown = ", ".join(str(k + 1) for k in frames)
    return (f"{clip_id}: the mask(s) of frame(s) {shown} (the official {target.value.upper()} train layout "
            "keeps the first frame's mask only)")


def frames_of(target: Setting, subset: str = "") -> int:
    """Frames a clip of ``target`` (and AVSS ``subset``) holds."""
    return OBJECT_FRAMES if target.is_binary else AVSS_FRAMES.get(subset, OBJECT_FRAMES)


def required_masks(target: Setting, split: str, subset: str = "") -> tuple[int, ...]:
    """The 0-based frames whose masks the official loader of ``target`` opens."""
    if target is Setting.S4 and split == "train":
        return (0,)
    if target is Setting.AVSS and subset == "v1s" and split == "train":
        return (0,)
    return tuple(range(frames_of(target, subset)))


def refusal(target: Setting, split: str, subset: str, masks: Collection[int],
            num_frames: int | None = None) -> str | None:  # fmt: skip
    """Why a clip with masks on frames ``masks`` cannot be written as ``target``, or None.

    ``num_frames`` is the clip's own frame count when known (a 10-frame clip does not fit
    a 5-frame layout even if only its first masks are drawn).
    """
    name = target.value.upper()
    cap = frames_of(target, subset)
    longest = max([num_frames or 0, *(k + 1 for k in masks)])
    if longest > cap:
        return f"has {longest} frames; a {name}{' ' + subset if subset else ''} clip has {cap}"
    need = required_masks(target, split, subset)
    missing = [k for k in need if k not in masks]
    if missing:
        have = len([k for k in need if k in masks])
        return (f"has masks for {have} of the {len(need)} frame(s) the official {name} {split} loader "
                f"reads (frame(s) {', '.join(str(k + 1) for k in missing)} missing)")  # fmt: skip
    return None


def left_out_note(left_out: list[LeftOut], target: Setting, shown: int = 5) -> str:
    """One line naming the clips left out of an export."""
    names = ", ".join(str(x) for x in left_out[:shown])
    more = f" (and {len(left_out) - shown} more)" if len(left_out) > shown else ""
    return f"{len(left_out)} clip(s) left out, the official {target.value.upper()} loader cannot read them: {names}{more}"


@contextlib.contextmanager
def output_folder(out: str | os.PathLike[str]) -> Iterator[None]:
    """Remove the folders made for ``out`` (itself and missing parents) if the block fails.

    Only folders that did not exist before and are empty again are removed: whatever the
    user had, or another export wrote meanwhile, stays.
    """
    made: list[Path] = []
    p = Path(out).absolute()
    while not p.exists() and p != p.parent:
        made.append(p)
        p = p.parent
    try:
        yield
    except BaseException:
        for d in made:  # deepest first
            with contextlib.suppress(OSError):
                d.rmdir()
        raise


def frame_file_fits(path: Path, target: Setting) -> bool:
    """True when a source frame file already is what ``target`` needs, so it can be copied.

    S4/MS3: a 224 x 224 RGB PNG. AVSS: a JPEG (any size: the loader resizes, and reads
    the file through Pillow, which converts to RGB).
    """
    from PIL import Image

    try:
        with Image.open(path) as img:
            fmt, mode, size = img.format, img.mode, img.size
    except (OSError, ValueError):
        return False
    if target.is_binary:
        return fmt == "PNG" and mode == "RGB" and size == MODEL_SIZE
    return fmt == "JPEG" and mode in ("RGB", "L")


def read_segment_manifest(root: str | os.PathLike[str]) -> tuple[dict[str, dict], str | None]:
    """The clips an AVS Studio export cut from longer videos, read from its manifest in the
    official folder ``root``: clip id -> ``{"source_video", "source_start", "seconds", "vid"}``.

    Returns ``({}, None)`` when there is no manifest, and ``({}, problem)`` when there is one
    that cannot be read (the caller names it: the clips are fine, only their origins are lost).
    """
    path = Path(root) / SEGMENT_MANIFEST
    if not path.exists():
        return {}, None
    try:
        doc = read_user_json(path, FormatError, SEGMENT_MANIFEST)
    except FormatError as exc:
        return {}, f"{exc}; where its clips were cut from is not known"
    segments = doc.get("segments") if isinstance(doc, dict) and doc.get("format") == "avs-studio-export" else None
    if not isinstance(segments, dict):
        return {}, f"{path}: not an AVS Studio export manifest; where its clips were cut from is not known"
    out = {}
    for clip_id, seg in segments.items():
        try:
            out[str(clip_id)] = {"source_video": str(seg["source_video"]), "source_start": float(seg["source_start"]),
                                 "seconds": int(seg.get("seconds", 0)), "vid": str(seg.get("vid", ""))}  # fmt: skip
        except (KeyError, TypeError, ValueError, OverflowError):
            return {}, f"{path}: damaged entry for {str(clip_id)[:60]!r}; where its clips were cut from is not known"
    return out, None


def segment_note(origin: dict) -> str:
    """The note a clip re-added from an export gets about the longer video it was cut from."""
    return (f"cut from {origin['source_video']} at {origin['source_start']:g} s "
            f"(from {SEGMENT_MANIFEST} of the export)")
