"""COCO's mask encodings: compressed RLE (through pycocotools) and polygons (OpenCV external
contours through pixel centres, as metrics.md §8 fixes), and the IoU of two masks.
"""

from __future__ import annotations

import numpy as np

from avs_studio.core.errors import MaskError
from avs_studio.core.masks.files import as_binary


def encode_rle(mask: np.ndarray) -> dict:
    """COCO compressed RLE of a binary mask: ``{"size": [H, W], "counts": str}`` (pycocotools)."""
    from pycocotools import mask as coco_mask

    m = np.asfortranarray(as_binary(mask))
    rle = coco_mask.encode(m)
    return {"size": [int(rle["size"][0]), int(rle["size"][1])], "counts": rle["counts"].decode("ascii")}


def decode_rle(rle: dict) -> np.ndarray:
    """Decode a COCO RLE (compressed str/bytes or uncompressed list counts) to uint8 {0, 1}."""
    from pycocotools import mask as coco_mask

    try:
        size = [int(rle["size"][0]), int(rle["size"][1])]
        counts = rle["counts"]
    except (KeyError, TypeError, IndexError, ValueError) as exc:
        raise MaskError(f"not an RLE object: {exc}") from None
    if isinstance(counts, list):
        if sum(int(c) for c in counts) != size[0] * size[1]:
            raise MaskError("uncompressed RLE counts do not add up to height x width")
        obj = coco_mask.frPyObjects({"size": size, "counts": counts}, size[0], size[1])
    elif isinstance(counts, (str, bytes)):
        obj = {"size": size, "counts": counts.encode("ascii") if isinstance(counts, str) else counts}
    else:
        raise MaskError(f"RLE counts must be a string or a list, got {type(counts).__name__}")
    try:
        out = coco_mask.decode(obj)
    except Exception as exc:  # pycocotools raises bare exceptions on malformed strings
        raise MaskError(f"malformed RLE: {exc}") from None
    return np.ascontiguousarray(out, dtype=np.uint8)


def rle_area(rle: dict) -> int:
    """Number of foreground pixels of a compressed RLE (a plain int)."""
    from pycocotools import mask as coco_mask

    return int(coco_mask.area(_as_bytes_rle(rle)))


def rle_bbox(rle: dict) -> list[float]:
    """COCO bbox ``[x, y, w, h]`` of a compressed RLE (plain floats)."""
    from pycocotools import mask as coco_mask

    return [float(v) for v in coco_mask.toBbox(_as_bytes_rle(rle))]


def _as_bytes_rle(rle: dict) -> dict:
    counts = rle["counts"]
    return {"size": list(rle["size"]), "counts": counts.encode("ascii") if isinstance(counts, str) else counts}


#: Default hole policy of polygon export: the spec's rule (external contours; holes lost).
HOLES_LOSE = "lose"


#: Alternative: a mask whose polygons would lose pixels to holes is kept as RLE instead.
HOLES_RLE = "rle"


def mask_to_polygons(mask: np.ndarray, *, holes: str = HOLES_LOSE) -> list[list[float]] | None:
    """Polygons of a binary mask by the spec's rule (metrics.md §8.2), or None to keep RLE.

    OpenCV ``findContours`` with external contours and simple chain approximation; each
    contour as a flat ``[x0, y0, x1, y1, ...]`` of integer pixel-centre coordinates;
    contours with fewer than 3 points dropped. Returns None when no contour survives (the
    caller falls back to RLE), or, with ``holes="rle"``, when the mask has holes.
    """
    if holes not in (HOLES_LOSE, HOLES_RLE):
        raise ValueError(f"holes must be {HOLES_LOSE!r} or {HOLES_RLE!r}")
    return contour_polygons(as_binary(mask), holes)


def contour_polygons(m: np.ndarray, holes: str = HOLES_LOSE) -> list[list[float]] | None:
    """:func:`mask_to_polygons` for a mask already known to be uint8 {0, 1} (no checks)."""
    import cv2

    mode = cv2.RETR_CCOMP if holes == HOLES_RLE else cv2.RETR_EXTERNAL
    contours, hierarchy = cv2.findContours(m, mode, cv2.CHAIN_APPROX_SIMPLE)
    if holes == HOLES_RLE and hierarchy is not None and (hierarchy[0][:, 3] >= 0).any():
        return None
    polys = [c.reshape(-1).astype(float).tolist() for c in contours if len(c) >= 3]
    return polys or None


def polygons_to_mask(polygons: list[list[float]], height: int, width: int) -> np.ndarray:
    """Rasterise COCO polygons (pycocotools' rule, their union) to uint8 {0, 1} ``[H, W]``."""
    from pycocotools import mask as coco_mask

    polys = [list(map(float, p)) for p in polygons if len(p) >= 6]
    if len(polys) != len(polygons):
        raise MaskError("a polygon needs at least 3 points (6 numbers)")
    if not polys:
        return np.zeros((height, width), dtype=np.uint8)
    rles = coco_mask.frPyObjects(polys, int(height), int(width))
    merged = coco_mask.merge(rles)
    return np.ascontiguousarray(coco_mask.decode(merged), dtype=np.uint8)


def mask_iou(a: np.ndarray, b: np.ndarray) -> float:
    """Plain IoU of two binary masks (1.0 when both are empty); not the official metric."""
    a = np.asarray(a, dtype=bool)
    b = np.asarray(b, dtype=bool)
    union = np.count_nonzero(a | b)
    return 1.0 if union == 0 else np.count_nonzero(a & b) / union
