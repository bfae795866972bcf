"""Masks: binary and label masks on disk and in memory, resizing, RLE and polygons.

Reading follows the official loaders bit for bit (formats.md §1.4, §2.5, §2.7): S4 decodes
with Pillow's ``convert('1')``, MS3 with ``convert('P')`` and a division by 255, AVSS colour
masks by exact palette match after a Pillow-exact nearest-neighbour resize. Writing uses
the safe encodings of formats.md §4, atomically.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from avs_studio.core.errors import MaskError
from avs_studio.core.fsutil import atomic_path
from avs_studio.core.masks.palette import NUM_CLASSES, colour_to_index, index_to_colour
from avs_studio.core.setting import Setting

# Masks larger than this are refused as a decompression bomb by Pillow; 16k x 16k is plenty.
Image.MAX_IMAGE_PIXELS = 16384 * 16384

# --------------------------------------------------------------------------- resizing


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


# --------------------------------------------------------------------------- reading


def open_image(path: str | os.PathLike[str]) -> Image.Image:
    """Open an image with Pillow, turning every failure into a clear :class:`MaskError`."""
    path = Path(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(path)
            img.load()
        return img
    except FileNotFoundError:
        raise MaskError(f"{path}: file not found") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise MaskError(f"{path}: not a readable image ({exc})") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise MaskError(f"{path}: image too large ({exc})") from None


def decode_s4_mask(img: Image.Image) -> np.ndarray:
    """Decode a mask as the S4 loader does: ``convert('1')`` -> uint8 {0, 1}.

    Pillow dithers greyscale files with intermediate values and reads palette files by
    colour luminance; both are reproduced because Pillow itself does the conversion.
    """
    return np.asarray(img.convert("1"), dtype=np.uint8)


def decode_ms3_mask(img: Image.Image) -> np.ndarray:
    """Decode a mask as the MS3 loader does: ``convert('P')`` then value / 255 (float32)."""
    return np.asarray(img.convert("P"), dtype=np.float32) / np.float32(255.0)


def _check_size(path: Path, shape: tuple[int, ...], size: tuple[int, int] | None) -> None:
    if size is not None and (shape[1], shape[0]) != (int(size[0]), int(size[1])):
        raise MaskError(
            f"{path}: mask is {shape[1]}x{shape[0]}, expected {size[0]}x{size[1]} "
            "(width x height)"
        )


def read_binary_mask(
    path: str | os.PathLike[str],
    setting: Setting | str = Setting.S4,
    *,
    size: tuple[int, int] | None = None,
) -> np.ndarray:
    """Read an S4/MS3 ground-truth mask as the official loader of ``setting`` decodes it.

    Returns uint8 {0, 1} ``[H, W]``. ``size=(width, height)`` enforces the expected size.
    MS3 masks whose palette indices are not 0/255 (which the official loader would turn
    into fractional targets) and truecolour MS3 masks are refused with a clear message.
    """
    path = Path(path)
    setting = Setting.parse(setting)
    img = open_image(path)
    if setting is Setting.MS3:
        if img.mode in ("RGB", "RGBA", "CMYK", "YCbCr", "LAB", "HSV"):
            raise MaskError(
                f"{path}: truecolour ({img.mode}) mask; the official MS3 loader would re-quantise "
                "it to the web palette and break the metric. Save it as an 8-bit greyscale PNG "
                "with values 0 and 255."
            )
        values = decode_ms3_mask(img)
        _check_size(path, values.shape, size)
        bad = (values != 0) & (values != 1)
        if bad.any():
            found = np.unique(np.round(values[bad] * 255).astype(int))[:5]
            raise MaskError(
                f"{path}: stored values {found.tolist()} are not 0/255; the official MS3 loader "
                "would read them as fractional targets (value/255)"
            )
        return values.astype(np.uint8)
    if setting is Setting.AVSS:
        raise MaskError("AVSS masks are colour masks: use read_label_mask()")
    mask = decode_s4_mask(img)
    _check_size(path, mask.shape, size)
    return mask


def read_label_mask(
    path: str | os.PathLike[str],
    *,
    size: tuple[int, int] | None = (224, 224),
    return_unknown: bool = False,
):
    """Read an AVSS colour mask (``labels_rgb``) to class indices, as the official loader.

    The image is converted to RGB (alpha dropped, palette expanded), resized with
    Pillow-exact NEAREST to ``size`` (None keeps the native size), then matched exactly
    against the palette; unknown colours become background. Returns int64 ``[H, W]``
    (and the unknown-colour map when ``return_unknown``).
    """
    img = open_image(path)
    rgb = np.asarray(img.convert("RGB"))
    if size is not None:
        rgb = resize_nearest(rgb, size)
    return colour_to_index(rgb, return_unknown=return_unknown)


# --------------------------------------------------------------------------- writing


def as_binary(mask: np.ndarray, what: str = "mask") -> np.ndarray:
    """Validate a binary mask (bool or integers in {0, 1}) and return it as uint8 {0, 1}."""
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise MaskError(f"{what} must be 2-D [H, W], got shape {mask.shape}")
    if mask.dtype == bool:
        return mask.astype(np.uint8)
    if not np.issubdtype(mask.dtype, np.number):
        raise MaskError(f"{what} has non-numeric dtype {mask.dtype}")
    if np.issubdtype(mask.dtype, np.floating) and not np.isfinite(mask).all():
        raise MaskError(f"{what} contains NaN or infinite values")
    if mask.size == 0:
        return mask.astype(np.uint8)
    lo, hi = mask.min(), mask.max()
    if lo >= 0 and hi <= 1 and (np.issubdtype(mask.dtype, np.integer) or np.all((mask == 0) | (mask == 1))):
        return mask.astype(np.uint8, copy=False)  # the common case, without sorting the pixels
    uniq = np.unique(mask)
    if np.isin(uniq, (0, 255)).all():
        return (mask == 255).astype(np.uint8)
    raise MaskError(f"{what} must hold only 0 and 1 (or 0 and 255), found {uniq[:6].tolist()}")


def as_label(label: np.ndarray, what: str = "label mask") -> np.ndarray:
    """Validate a class-index map (integers 0..70) and return it as uint8."""
    label = np.asarray(label)
    if label.ndim != 2:
        raise MaskError(f"{what} must be 2-D [H, W], got shape {label.shape}")
    if not np.issubdtype(label.dtype, np.integer):
        raise MaskError(f"{what} must hold integer class indices, got dtype {label.dtype}")
    if label.size and (label.min() < 0 or label.max() >= NUM_CLASSES):
        raise MaskError(f"{what} holds class indices outside 0..{NUM_CLASSES - 1}")
    return label.astype(np.uint8)


def _save_png(img: Image.Image, path: str | os.PathLike[str]) -> None:
    with atomic_path(path, suffix=".png") as tmp:
        img.save(tmp, format="PNG")


def write_binary_mask(path: str | os.PathLike[str], mask: np.ndarray) -> None:
    """Write an S4/MS3 ground-truth mask: 8-bit greyscale PNG with values 0/255 (formats.md §4)."""
    _save_png(Image.fromarray(as_binary(mask) * np.uint8(255), mode="L"), path)


def write_prediction_mask(path: str | os.PathLike[str], mask: np.ndarray) -> None:
    """Write a binary prediction as the official S4/MS3 test script does.

    An ``L`` image of 0/255 converted to ``P`` (grey palette, indices 0/255), formats.md §3.1.
    """
    img = Image.fromarray(as_binary(mask) * np.uint8(255), mode="L").convert("P")
    _save_png(img, path)


def write_colour_mask(path: str | os.PathLike[str], label: np.ndarray) -> None:
    """Write an AVSS colour mask: RGB PNG using palette colours only (formats.md §4)."""
    _save_png(Image.fromarray(index_to_colour(as_label(label)), mode="RGB"), path)


def write_index_mask(path: str | os.PathLike[str], label: np.ndarray) -> None:
    """Write a single-channel class-index PNG (the ``labels_semantic`` style)."""
    _save_png(Image.fromarray(as_label(label), mode="L"), path)


# --------------------------------------------------------------------------- RLE


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


# --------------------------------------------------------------------------- polygons

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
