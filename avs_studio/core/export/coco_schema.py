"""A COCO instances file, checked before anything uses it (a layer of its own, in front of the
reader in :mod:`avs_studio.core.export.coco`).

1. **Reading**: a regular file of at most :data:`MAX_COCO_BYTES`, UTF-8 JSON; nesting too deep
   for the parser is a clear error (it used to be a RecursionError).
2. **Structure and types**: a JSON Schema (:data:`COCO_SCHEMA`, checked with ``jsonschema``):
   ids are integers, images have a size within :data:`MAX_SIDE` x :data:`MAX_SIDE`,
   ``frame_index`` is a whole number in 0..:data:`MAX_FRAME_INDEX`, ``video`` is a plain name,
   a segmentation is a list of polygons (lists of at least six numbers) or an RLE object
   (``size`` and ``counts``: a compressed string or a list of non-negative integers).
3. **Geometry**: every polygon coordinate is finite and inside its image (within
   :data:`POLYGON_MARGIN` pixels); a polygon has an even number of coordinates; an RLE's
   size is its image's and uncompressed counts add up to height x width; image ids are
   unique. pycocotools never sees what fails these (a coordinate of 1e30 crashed it).

Every failure is a :class:`~avs_studio.core.errors.FormatError` naming the file and the
place in it (``annotations[12].segmentation``).
"""

from __future__ import annotations

import itertools
import math
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from avs_studio.core.errors import FormatError
from avs_studio.core.fsutil import read_user_json

#: Largest side of an image (and so of a mask we allocate): 16k, as for mask files.
MAX_SIDE = 16384
#: Frames of a clip are numbered 0..999 (AVSBench clips have 5 or 10 sampled frames).
MAX_FRAME_INDEX = 999
#: Largest COCO file read (a file of 100,000 RLE annotations is about 100 MB).
MAX_COCO_BYTES = 1 << 30
#: How far outside its image (in pixels) a polygon point may lie (edge points of other tools).
POLYGON_MARGIN = 1.0
#: Points one polygon may have.
MAX_POLYGON_POINTS = 1 << 20

_INT64 = {"type": "integer", "minimum": -(2**63), "maximum": 2**63 - 1}
_SIDE = {"type": "integer", "minimum": 1, "maximum": MAX_SIDE}
_TEXT = {"type": "string", "maxLength": 4096}

COCO_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "COCO instances file (as AVS Studio reads it)",
    "type": "object",
    "required": ["images", "annotations", "categories"],
    "properties": {
        "info": {"type": "object"},
        "images": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["id", "width", "height", "file_name"],
                "properties": {
                    "id": _INT64,
                    "width": _SIDE,
                    "height": _SIDE,
                    "file_name": _TEXT,
                    # a clip id becomes a folder name: one plain path component
                    "video": {"type": "string", "minLength": 1, "maxLength": 255,
                              "pattern": r"^(?!\.\.?$)[^/\\\x00]+$"},  # fmt: skip
                    "frame_index": {"type": "integer", "minimum": 0, "maximum": MAX_FRAME_INDEX},
                    "split": _TEXT,
                    "avs_category": _TEXT,
                    "subset": _TEXT,
                },
            },
        },
        "annotations": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["image_id", "category_id", "segmentation"],
                "properties": {
                    "id": _INT64,
                    "image_id": _INT64,
                    "category_id": _INT64,
                    "iscrowd": {"enum": [0, 1]},
                    "area": {"type": "number"},
                    "score": {"type": "number"},
                    "segmentation": {
                        "anyOf": [
                            {
                                "title": "polygons",
                                "type": "array",
                                "items": {"type": "array", "minItems": 6, "maxItems": 2 * MAX_POLYGON_POINTS,
                                          "items": {"type": "number"}},  # fmt: skip
                            },
                            {
                                "title": "RLE",
                                "type": "object",
                                "required": ["size", "counts"],
                                "properties": {
                                    "size": {"type": "array", "minItems": 2, "maxItems": 2, "items": _SIDE},
                                    "counts": {
                                        "anyOf": [
                                            # compressed: pycocotools' alphabet, '0'..'o'
                                            {"type": "string", "pattern": "^[0-o]*$"},
                                            {"type": "array", "items": {"type": "integer", "minimum": 0}},
                                        ]
                                    },
                                },
                            },
                        ]
                    },
                },
            },
        },
        "categories": {
            "type": "array",
            "items": {"type": "object", "required": ["id"], "properties": {"id": _INT64, "name": _TEXT}},
        },
    },
}

_VALIDATOR = None


def _validator():
    global _VALIDATOR
    if _VALIDATOR is None:
        import jsonschema

        cls = jsonschema.validators.validator_for(COCO_SCHEMA)
        cls.check_schema(COCO_SCHEMA)
        _VALIDATOR = cls(COCO_SCHEMA)
    return _VALIDATOR


def place(path: Iterable[Any]) -> str:
    """``deque(['annotations', 3, 'segmentation'])`` -> ``annotations[3].segmentation``."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "the top level"


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def read_coco_document(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a COCO instances file and check it (module docstring): the parsed JSON, or FormatError."""
    path = Path(path)
    data = read_user_json(path, FormatError, "COCO file", MAX_COCO_BYTES)
    check_coco_document(data, path)
    return data  # type: ignore[return-value]


def check_coco_document(data: Any, where: object = "COCO file") -> None:
    """Check parsed COCO JSON against :data:`COCO_SCHEMA` and the geometry rules."""
    if isinstance(data, list):
        raise FormatError(f"{where}: this is a COCO results list; it needs the instances file for its images")
    if not isinstance(data, dict) or not all(k in data for k in ("images", "annotations", "categories")):
        raise FormatError(f"{where}: not a COCO instances file (needs 'images', 'annotations' and 'categories')")
    try:
        errors = list(itertools.islice(_validator().iter_errors(data), 50))
    except RecursionError:
        raise FormatError(f"{where}: nested too deeply to be a COCO file") from None
    if errors:
        # The shallowest error first: it is the cause the others follow from.
        err = min(errors, key=lambda e: (len(e.absolute_path), list(map(str, e.absolute_path))))
        what = _explain(err)
        more = f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})" if len(errors) > 1 else ""
        raise FormatError(f"{where}: {place(err.absolute_path)}: {what}{more}")
    _check_geometry(data, where)


def _explain(err) -> str:
    """A jsonschema error in the words of this format."""
    value = err.instance
    key = err.absolute_path[-1] if err.absolute_path else None
    if err.validator == "required":
        return str(err.message).replace("is a required property", "is missing")
    if err.validator == "anyOf" and key == "segmentation":
        return (f"{_short(value)} is neither polygons (lists of at least 6 numbers) nor an RLE object "
                "({'size': [height, width], 'counts': ...})")  # fmt: skip
    if err.validator == "anyOf" and key == "counts":
        return f"RLE counts {_short(value)} are neither a compressed string nor a list of whole numbers >= 0"
    if err.validator in ("maximum", "minimum") and key in ("width", "height"):
        return f"an image {key} of {_short(value)} pixels (each side must be 1..{MAX_SIDE})"
    if err.validator in ("maximum", "minimum") and key == "frame_index":
        return f"frame_index {_short(value)} is not a frame number (0..{MAX_FRAME_INDEX})"
    if err.validator == "type":
        return f"{_short(value)} is not {_article(err.validator_value)}"
    if err.validator == "pattern" and key == "video":
        return f"clip id {_short(value)} is not a plain name (no '/', '\\\\', '.' or '..')"
    return str(err.message)[:200]


def _article(kind: Any) -> str:
    names = {"integer": "a whole number", "number": "a number", "string": "a string", "array": "a list",
             "object": "an object", "boolean": "true or false"}  # fmt: skip
    return names.get(kind, str(kind))


def _check_geometry(data: dict[str, Any], where: object) -> None:
    sizes: dict[int, tuple[int, int]] = {}
    for i, img in enumerate(data["images"]):
        if img["id"] in sizes:
            raise FormatError(f"{where}: images[{i}].id: image id {img['id']} appears twice")
        sizes[img["id"]] = (int(img["height"]), int(img["width"]))
    for i, ann in enumerate(data["annotations"]):
        size = sizes.get(ann["image_id"])
        if size is None:
            continue  # the reader names annotations of missing images
        seg = ann["segmentation"]
        at = f"annotations[{i}].segmentation"
        if isinstance(seg, dict):
            _check_rle(seg, size, where, at)
        else:
            for j, poly in enumerate(seg):
                _check_polygon(poly, size, where, f"{at}[{j}]")


def _check_rle(seg: dict[str, Any], size: tuple[int, int], where: object, at: str) -> None:
    h, w = size
    if [int(v) for v in seg["size"]] != [h, w]:
        raise FormatError(f"{where}: {at}: RLE size {seg['size']} differs from its image's [{h}, {w}]")
    counts = seg["counts"]
    if isinstance(counts, list) and sum(int(c) for c in counts) != h * w:
        raise FormatError(f"{where}: {at}: RLE counts add up to {sum(int(c) for c in counts)} pixels, "
                          f"not height x width = {h * w}")  # fmt: skip


def _check_polygon(poly: list[float], size: tuple[int, int], where: object, at: str) -> None:
    h, w = size
    if len(poly) % 2:
        raise FormatError(f"{where}: {at}: a polygon has an odd number of coordinates ({len(poly)})")
    for k, v in enumerate(poly):
        limit = (w if k % 2 == 0 else h) + POLYGON_MARGIN
        if not math.isfinite(v) or not -POLYGON_MARGIN <= v <= limit:
            axis = "x" if k % 2 == 0 else "y"
            raise FormatError(
                f"{where}: {at}: polygon point {k // 2} has {axis} = {_short(v)}, outside its "
                f"{w} x {h} image"
            )
