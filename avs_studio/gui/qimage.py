"""numpy <-> Qt image conversion and mask overlays."""

from __future__ import annotations

import numpy as np
from PySide6.QtGui import QImage, QPixmap

from ..core.palette import PALETTE

# Magenta reads on every demo object colour and on natural images; the white outline keeps
# the mask visible even where the fill colour matches the object underneath.
BINARY_COLOUR = (255, 0, 200)
OUTLINE_COLOUR = (255, 255, 255)


def rgb_to_qimage(rgb: np.ndarray) -> QImage:
    """RGB uint8 ``[H, W, 3]`` -> QImage (a deep copy, safe after ``rgb`` is gone)."""
    rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
    h, w = rgb.shape[:2]
    return QImage(rgb.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()


def rgba_to_qimage(rgba: np.ndarray) -> QImage:
    """RGBA uint8 ``[H, W, 4]`` (straight alpha) -> QImage."""
    rgba = np.ascontiguousarray(rgba, dtype=np.uint8)
    h, w = rgba.shape[:2]
    return QImage(rgba.data, w, h, 4 * w, QImage.Format.Format_RGBA8888).copy()


def mask_edges(mask: np.ndarray) -> np.ndarray:
    """Pixels of a label/binary mask that touch a different label (4-neighbourhood)."""
    m = np.asarray(mask)
    edge = np.zeros(m.shape, dtype=bool)
    edge[1:, :] |= m[1:, :] != m[:-1, :]
    edge[:-1, :] |= m[1:, :] != m[:-1, :]
    edge[:, 1:] |= m[:, 1:] != m[:, :-1]
    edge[:, :-1] |= m[:, 1:] != m[:, :-1]
    return edge & (m != 0)


def mask_rgba(mask: np.ndarray, *, binary: bool, alpha: int = 140, outline: bool = True) -> np.ndarray:
    """Colour a mask for overlay: binary foreground in one colour, AVSS classes in the palette,
    with an opaque outline so the mask shows on any background."""
    mask = np.asarray(mask)
    out = np.zeros((*mask.shape, 4), dtype=np.uint8)
    fg = mask != 0
    if binary:
        out[fg, :3] = BINARY_COLOUR
    else:
        out[..., :3] = PALETTE[np.clip(mask, 0, len(PALETTE) - 1).astype(np.intp)]
    out[fg, 3] = alpha
    if outline:
        edge = mask_edges(mask)
        out[edge, :3] = OUTLINE_COLOUR
        out[edge, 3] = 255
    return out


def overlay(rgb: np.ndarray, mask: np.ndarray | None, *, binary: bool, opacity: float = 0.55) -> np.ndarray:
    """The frame with its mask blended in (for thumbnails); mask resized to the frame if needed."""
    if mask is None:
        return rgb
    from ..core.masks import resize_nearest

    if mask.shape[:2] != rgb.shape[:2]:
        mask = resize_nearest(mask, (rgb.shape[1], rgb.shape[0]))
    colour = mask_rgba(mask, binary=binary, alpha=255)
    a = (colour[..., 3:4].astype(np.float32) / 255.0) * opacity
    return (rgb * (1 - a) + colour[..., :3] * a).astype(np.uint8)


def to_pixmap(rgb: np.ndarray) -> QPixmap:
    """RGB array -> QPixmap."""
    return QPixmap.fromImage(rgb_to_qimage(rgb))
