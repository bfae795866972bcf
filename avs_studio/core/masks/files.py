"""Mask files: binary and label masks on disk (read as the official loaders read them, written
safely) and their in-memory checks (``as_binary``, ``as_label``).

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
from avs_studio.core.fsutil import atomic_path, require_regular_file
from avs_studio.core.masks.palette import NUM_CLASSES, colour_to_index, index_to_colour
from avs_studio.core.masks.resize import resize_nearest
from avs_studio.core.setting import Setting

# Masks larger than this are refused as a decompression bomb by Pillow; 16k x 16k is plenty.
Image.MAX_IMAGE_PIXELS = 16384 * 16384

# --------------------------------------------------------------------------- reading

#: Image formats whose compression changes colours: never a colour mask.
_LOSSY_FORMATS = frozenset({"JPEG", "MPO", "JPEG2000"})


def open_image(path: str | os.PathLike[str]) -> Image.Image:
    """Open an image with Pillow, turning every failure into a clear :class:`MaskError`."""
    path = require_regular_file(path, MaskError, "image file")  # a FIFO would block Pillow
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
    if img.format in _LOSSY_FORMATS:
        # JPEG noise turns the palette colours into thousands of others: it is not a mask.
        raise MaskError(f"{path}: a {img.format} image (lossy), not a PNG colour mask: its colours "
                        "are not the palette's")  # fmt: skip
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
