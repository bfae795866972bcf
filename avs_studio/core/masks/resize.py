"""Resizing masks and frames exactly as the official loaders' Pillow calls do: NEAREST for masks
(index arithmetic identical to Pillow's), BILINEAR through Pillow itself for frames.
"""

from __future__ import annotations

import numpy as np
from PIL import Image


def _pillow_nearest_index(src: int, dst: int) -> np.ndarray:
    """Source indices Pillow's NEAREST resize picks along one axis of length src -> dst.

    Pillow's rule (running sum from s/2 in steps of s, truncated) is not always
    floor((x + 0.5) * s); asking Pillow itself about an index ramp is exact by construction.
    """
    if src == dst:
        return np.arange(dst, dtype=np.intp)
    ramp = Image.fromarray(np.arange(src, dtype=np.int32)[None, :], mode="I")
    picked = np.asarray(ramp.resize((dst, 1), Image.Resampling.NEAREST), dtype=np.int64)[0]
    return picked.astype(np.intp)


def resize_nearest(array: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Nearest-neighbour resize of ``[H, W]`` or ``[H, W, C]`` to ``size = (width, height)``.

    Picks exactly the pixels Pillow's ``Image.NEAREST`` picks (the official AVSS loader's
    rule), for any dtype. Creates no new values, so palette colours stay valid.
    """
    array = np.asarray(array)
    width, height = int(size[0]), int(size[1])
    if width <= 0 or height <= 0:
        raise ValueError(f"invalid target size {size}")
    if array.ndim not in (2, 3):
        raise ValueError(f"expected [H, W] or [H, W, C], got shape {array.shape}")
    h, w = array.shape[:2]
    if (w, h) == (width, height):
        return array.copy()
    rows = _pillow_nearest_index(h, height)
    cols = _pillow_nearest_index(w, width)
    return array[rows[:, None], cols[None, :]]


def resize_bilinear_pil(rgb: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Pillow ``BILINEAR`` resize of an RGB uint8 image (antialiased when shrinking).

    The AVSS loader resizes frames this way; OpenCV or torch interpolation would differ.
    """
    img = Image.fromarray(np.ascontiguousarray(rgb, dtype=np.uint8))
    return np.asarray(img.resize((int(size[0]), int(size[1])), Image.Resampling.BILINEAR))
