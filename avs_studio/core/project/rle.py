"""Mask encodings of the project store: COCO RLE for object masks, packed bits for patches.

Object masks are stored as COCO compressed RLE (pycocotools), so an export to COCO
copies them without re-encoding. pycocotools works on column-major (Fortran-order)
arrays; the store keeps decoded masks in that order, so re-encoding a mask after a brush
stroke needs no transposed copy (on a 1080p mask that copy costs more than the encoding).
Edit patches (the changed box of a stroke) are bit-packed and zlib-compressed.
"""

from __future__ import annotations

import zlib

import numpy as np

from avs_studio.core.errors import MaskError


def encode(mask: np.ndarray) -> tuple[bytes, int]:
    """COCO compressed RLE counts (bytes) and the area of a uint8 {0, 1} mask ``[H, W]``."""
    from pycocotools import mask as coco_mask

    m = mask if mask.flags.f_contiguous and mask.dtype == np.uint8 else np.asfortranarray(mask, np.uint8)
    rle = coco_mask.encode(m)
    return bytes(rle["counts"]), int(coco_mask.area(rle))


def decode(counts: bytes, height: int, width: int) -> np.ndarray:
    """Decode RLE counts to a writable uint8 {0, 1} mask ``[H, W]`` in Fortran order."""
    from pycocotools import mask as coco_mask

    try:
        out = coco_mask.decode({"size": [int(height), int(width)], "counts": bytes(counts)})
    except Exception as exc:  # pycocotools raises bare exceptions on malformed strings
        raise MaskError(f"damaged mask in the project ({exc})") from None
    if not out.flags.writeable:
        out = np.array(out, order="F")
    return out


def empty(height: int, width: int) -> np.ndarray:
    """An empty mask in the store's (Fortran) order."""
    return np.zeros((int(height), int(width)), dtype=np.uint8, order="F")


def pack_region(region: np.ndarray) -> bytes:
    """Bit-pack and compress a uint8/bool region ``[h, w]`` (row-major bits)."""
    return zlib.compress(np.packbits(np.asarray(region, dtype=bool), axis=None).tobytes(), 1)


def unpack_region(data: bytes, shape: tuple[int, int]) -> np.ndarray:
    """Inverse of :func:`pack_region`: uint8 {0, 1} ``shape``."""
    h, w = int(shape[0]), int(shape[1])
    bits = np.frombuffer(zlib.decompress(data), dtype=np.uint8)
    return np.unpackbits(bits, count=h * w).reshape(h, w)
