"""COCO instances JSON: export and import, following metrics.md §8 to the letter.

One image per frame with ground truth (empty frames included), one annotation per
object per frame (binary: all foreground; AVSS: one per class present, never split into
components), compressed RLE with ``counts`` as str by default, polygons on request with
``area``/``bbox`` always from the RLE, ``iscrowd`` 0, background never a category.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from avs_studio.core.errors import FormatError, MaskError
from avs_studio.core.export.coco_schema import read_coco_document
from avs_studio.core.export.maskset import FrameMask, MaskSet
from avs_studio.core.fsutil import atomic_write_text
from avs_studio.core.jobs import CancelToken, Progress, no_progress
from avs_studio.core.masks.palette import CLASS_NAMES, NUM_CLASSES
from avs_studio.core.masks.rle import (
    HOLES_LOSE,
    HOLES_RLE,
    contour_polygons,
    decode_rle,
    polygons_to_mask,
)
from avs_studio.core.setting import Setting

BINARY_CATEGORY = {"id": 1, "name": "sounding_object"}


def categories(setting: Setting) -> list[dict[str, Any]]:
    """The COCO categories of a setting (background is never one)."""
    if setting.is_binary:
        return [dict(BINARY_CATEGORY)]
    return [{"id": i, "name": CLASS_NAMES[i]} for i in range(1, NUM_CLASSES)]


def frame_objects(setting: Setting, mask: np.ndarray) -> tuple[list[int], np.ndarray]:
    """Category ids and binary masks ``[N, H, W]`` of the objects in one frame's mask."""
    mask = np.asarray(mask)
    if setting.is_binary:
        if not mask.any():
            return [], np.zeros((0, *mask.shape), dtype=np.uint8)
        return [1], (mask != 0).view(np.uint8)[None]
    present = np.flatnonzero(np.bincount(mask.ravel(), minlength=1)[1:]) + 1
    if not len(present):
        return [], np.zeros((0, *mask.shape), dtype=np.uint8)
    stack = mask[None, :, :] == present.astype(mask.dtype)[:, None, None]
    return [int(c) for c in present], stack.view(np.uint8)


@dataclass
class CocoSummary:
    """Counts of what an export wrote."""

    images: int = 0
    annotations: int = 0
    polygons: int = 0
    rle_fallbacks: int = 0
    notes: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)


_CHUNK = 256  # frames read, then RLE-encoded together
# pycocotools' area() overflows an internal uint8 for 256 or more RLEs in one call
_ENCODE_GROUP = 200


def to_coco(
    masks: MaskSet,
    *,
    polygons: bool = False,
    holes: str = HOLES_LOSE,
    results: bool = False,
    progress: Progress = no_progress,
    cancel: CancelToken | None = None,
    summary: CocoSummary | None = None,
) -> dict[str, Any] | list[dict[str, Any]]:
    """Build the COCO instances dict (or, with ``results``, the results list) of a MaskSet."""
    summary = summary if summary is not None else CocoSummary()
    if holes not in (HOLES_LOSE, HOLES_RLE):
        raise ValueError(f"holes must be {HOLES_LOSE!r} or {HOLES_RLE!r}")
    images: list[dict[str, Any]] = []
    anns: list[dict[str, Any]] = []
    total = len(masks)
    progress(0, total, "")
    for first in range(0, total, _CHUNK):
        if cancel is not None:
            cancel.raise_if_cancelled()
        objects: list[tuple[int, int, np.ndarray]] = []  # (image id, category, binary mask)
        for fm in masks.frames[first : first + _CHUNK]:
            m = fm.try_mask(summary.failures)
            if m is None:
                continue
            image_id = len(images) + 1
            images.append(_image_entry(masks.setting, fm, image_id, m.shape))
            cats, stack = frame_objects(masks.setting, m)
            objects.extend((image_id, cat, obj) for cat, obj in zip(cats, stack))
            fm.release()
        for (image_id, cat, obj), rle, area, bbox in _encode_objects(objects):
            seg: Any = {"size": [int(obj.shape[0]), int(obj.shape[1])], "counts": rle}
            if polygons:
                poly = contour_polygons(obj, holes)
                if poly is None:
                    summary.rle_fallbacks += 1
                else:
                    seg = poly
                    summary.polygons += 1
            ann = {"image_id": image_id, "category_id": cat, "segmentation": seg}
            if results:
                ann["score"] = 1.0
            else:
                ann.update({"id": len(anns) + 1, "area": area, "bbox": bbox, "iscrowd": 0})
            anns.append(ann)
        done = min(first + _CHUNK, total)
        progress(done, total, masks.frames[done - 1].clip_id)
    summary.images, summary.annotations = len(images), len(anns)
    if results:
        return anns
    info = {
        "description": f"AVSBench {masks.setting.value.upper()} masks exported by AVS Studio",
        "setting": masks.setting.value,
        "segmentation": "polygon" if polygons else "rle",
        "mask_resolution": masks.info.get("mask_resolution", "as stored"),
    }
    if polygons:
        info["polygon_holes"] = holes
    return {"info": info, "images": images, "annotations": anns, "categories": categories(masks.setting)}


def _image_entry(setting: Setting, fm: FrameMask, image_id: int, shape: tuple[int, ...]) -> dict[str, Any]:
    h, w = shape[:2]
    image = {"id": image_id, "file_name": fm.file_name, "width": int(w), "height": int(h),
             "video": fm.clip_id, "frame_index": fm.frame}  # fmt: skip
    if fm.split:
        image["split"] = fm.split
    if fm.category and setting is Setting.S4:
        image["avs_category"] = fm.category
    if fm.subset:
        image["subset"] = fm.subset
    for key, value in fm.meta.items():  # the clip's metadata columns (S4 start, AVSS vid, ...)
        image[f"avs_{key}"] = value
    return image


def _encode_objects(objects: list[tuple[int, int, np.ndarray]]):
    """Yield ``(object, counts str, area int, bbox floats)``, encoding same-size masks together."""
    from pycocotools import mask as coco_mask

    by_shape: dict[tuple[int, int], list[int]] = {}
    for i, (_, _, obj) in enumerate(objects):
        by_shape.setdefault(obj.shape, []).append(i)
    encoded: list[tuple[str, int, list[float]] | None] = [None] * len(objects)
    groups = [
        (shape, idx[k : k + _ENCODE_GROUP])
        for shape, idx in by_shape.items()
        for k in range(0, len(idx), _ENCODE_GROUP)
    ]
    for (h, w), idx in groups:
        # [n, W, H] in C order is [H, W, n] in Fortran order: one transposing copy per mask
        buf = np.empty((len(idx), w, h), dtype=np.uint8)
        for j, i in enumerate(idx):
            buf[j] = objects[i][2].T
        rles = coco_mask.encode(buf.transpose(2, 1, 0))
        areas = coco_mask.area(rles)
        boxes = coco_mask.toBbox(rles)
        for j, i in enumerate(idx):
            encoded[i] = (rles[j]["counts"].decode("ascii"), int(areas[j]), boxes[j].tolist())
    for obj, enc in zip(objects, encoded):
        yield (obj, *enc)


def write_coco(path: str | os.PathLike[str], masks: MaskSet, **kw) -> CocoSummary:
    """Write a MaskSet as a COCO instances JSON file (atomically); return what was written."""
    summary = CocoSummary()
    data = to_coco(masks, summary=summary, **kw)
    atomic_write_text(path, json.dumps(data, separators=(",", ":")))
    return summary


# --------------------------------------------------------------------------- import


def _fail(path: Path, msg: str) -> FormatError:
    return FormatError(f"{path}: {msg}")


def read_coco(path: str | os.PathLike[str], setting: Setting | str | None = None) -> MaskSet:
    """Read a COCO instances JSON back into a MaskSet (masks rebuilt per image).

    The setting comes from the ``setting`` argument, ``info.setting`` (written by AVS
    Studio), the categories (70 -> AVSS) or the frame paths (``s4_data`` / ``ms3_data``,
    as other tools keep the official ``file_name``). Images are mapped to clips by the
    extra ``video``/``frame_index`` keys, else by parsing the official ``file_name``,
    which also gives the S4 split and category and the AVSS subset. A ``background``
    category is ignored; AVSS categories are matched by name, so ids that follow
    another numbering (Datumaro's label order) still give the palette classes.
    """
    path = Path(path)
    # Structure, types, sizes and geometry are checked before anything uses them (coco_schema).
    data = read_coco_document(path)
    if isinstance(data, list):
        raise _fail(path, "this is a COCO results list; it needs the instances file for its images")
    if not isinstance(data, dict) or not all(k in data for k in ("images", "annotations", "categories")):
        raise _fail(path, "not a COCO instances file (needs 'images', 'annotations' and 'categories')")
    for key in ("images", "annotations", "categories"):
        if not isinstance(data[key], list):
            raise _fail(path, f"'{key}' must be a list")
    info = data.get("info") if isinstance(data.get("info"), dict) else {}
    resolved = _resolve_setting(path, setting, info, data["categories"], data["images"])
    class_of = category_map(path, resolved, data["categories"])
    by_image: dict[int, list[dict]] = {}
    for ann in data["annotations"]:
        if not isinstance(ann, dict) or "image_id" not in ann or "segmentation" not in ann:
            raise _fail(path, f"malformed annotation {str(ann)[:80]}")
        if ann.get("category_id") not in class_of:
            raise _fail(path, f"annotation {ann.get('id')} has unknown category {ann.get('category_id')}")
        by_image.setdefault(ann["image_id"], []).append(ann)
    known_ids = set()
    out = MaskSet(resolved, info={"source": str(path), **info})
    for img in data["images"]:
        fm = _frame_from_image(path, img, resolved)
        known_ids.add(img["id"])
        mask = _rasterise(path, img, by_image.get(img["id"], []), resolved, class_of)
        fm._mask = mask
        out.frames.append(fm)
    orphans = set(by_image) - known_ids
    if orphans:
        raise _fail(path, f"annotations refer to missing image id(s) {sorted(orphans)[:5]}")
    return out


_BACKGROUND_NAMES = {"background", "_background_", "__background__", "bg"}


def category_map(path: Path, setting: Setting, cats: list) -> dict[Any, int]:
    """COCO category id -> class written into the mask (0 = background, not drawn).

    Binary settings: every category but a background one is the sounding object (1).
    AVSS: by name when every name is a palette class (whatever the ids), else by id, which
    must then be the palette position 1..70.
    """
    entries = [c for c in cats if isinstance(c, dict) and "id" in c]
    names = {c["id"]: str(c.get("name", "")).strip() for c in entries}
    background = {i for i, n in names.items() if n.lower() in _BACKGROUND_NAMES}
    if setting.is_binary:
        fg = [i for i in names if i not in background]
        if not fg:
            raise _fail(path, "no category besides background: nothing marks the sounding object")
        return {i: (0 if i in background else 1) for i in names}
    index = {n: k for k, n in enumerate(CLASS_NAMES)}
    if all(n in index for i, n in names.items() if i not in background):
        return {i: (0 if i in background else index[n]) for i, n in names.items()}
    ids = {i for i in names if i not in background}
    if not all(isinstance(i, int) and 1 <= i < NUM_CLASSES for i in ids):
        unknown = sorted(n for i, n in names.items() if n not in index and i not in background)[:3]
        raise _fail(path, f"AVSS categories must be the palette classes (unknown names {unknown}) "
                          "or carry their palette positions 1..70 as ids")  # fmt: skip
    return {i: (0 if i in background else int(i)) for i in names}


def _resolve_setting(path: Path, setting, info: dict, cats: list, images: list) -> Setting:
    if setting is not None:
        return Setting.parse(setting)
    if "setting" in info:
        try:
            return Setting.parse(info["setting"])
        except ValueError as exc:
            raise _fail(path, str(exc)) from None
    named = [c for c in cats if isinstance(c, dict)
             and str(c.get("name", "")).strip().lower() not in _BACKGROUND_NAMES]  # fmt: skip
    if len(named) > 1:
        return Setting.AVSS
    from avs_studio.core.export.names import setting_of_frame_path

    found = {setting_of_frame_path(str(img.get("file_name", ""))) for img in images if isinstance(img, dict)}
    found.discard(None)
    if len(found) == 1:
        return found.pop()
    if found:
        raise _fail(path, f"the frame paths mix settings ({', '.join(sorted(s.value for s in found))})")
    raise _fail(path, "cannot tell S4 from MS3 from a one-category file whose frame paths name "
                      "neither s4_data nor ms3_data: pass --setting")  # fmt: skip


def _frame_from_image(path: Path, img: Any, setting: Setting) -> FrameMask:
    if not isinstance(img, dict):
        raise _fail(path, f"malformed image entry {str(img)[:80]}")
    for key in ("id", "width", "height", "file_name"):
        if key not in img:
            raise _fail(path, f"image {img.get('id')} lacks '{key}'")
    if not (isinstance(img["width"], int) and isinstance(img["height"], int)) or min(
        img["width"], img["height"]
    ) <= 0:
        raise _fail(path, f"image {img['id']} has an invalid size")
    from avs_studio.core.export.maskset import clip_meta
    from avs_studio.core.export.names import FrameName, parse_frame_path

    parsed = parse_frame_path(str(img["file_name"]), setting) or FrameName("", -1)
    if "video" in img and "frame_index" in img:
        clip_id, frame = str(img["video"]), int(img["frame_index"])
    elif parsed.frame >= 0:
        clip_id, frame = parsed.clip_id, parsed.frame
    else:
        raise _fail(path, f"image {img['id']}: cannot tell the clip and frame of {img['file_name']!r}")
    meta = clip_meta(setting, {k[4:]: v for k, v in img.items() if k.startswith("avs_")})
    return FrameMask(
        clip_id=clip_id, frame=frame, file_name=str(img["file_name"]),
        split=str(img.get("split") or parsed.split), category=str(img.get("avs_category") or parsed.category),
        subset=str(img.get("subset") or parsed.subset), meta=meta,
    )  # fmt: skip


def _rasterise(path: Path, img: dict, anns: list[dict], setting: Setting, class_of: dict) -> np.ndarray:
    h, w = int(img["height"]), int(img["width"])
    out = np.zeros((h, w), dtype=np.uint8)
    for ann in anns:
        seg = ann["segmentation"]
        try:
            if isinstance(seg, dict):
                if list(seg.get("size", [])) != [h, w]:
                    raise MaskError(f"RLE size {seg.get('size')} differs from the image's {[h, w]}")
                m = decode_rle(seg)
            elif isinstance(seg, list):
                m = polygons_to_mask(seg, h, w)
            else:
                raise MaskError(f"unknown segmentation type {type(seg).__name__}")
        except MaskError as exc:
            raise _fail(path, f"annotation {ann.get('id')}: {exc}") from None
        value = class_of[ann["category_id"]]
        if not value:
            continue  # a background region draws nothing
        if setting.is_binary:
            out |= m
        else:
            out[m.astype(bool)] = value
    return out
