"""numpy <-> Qt images, object colours, and the overlay layers the canvas draws.

Overlays are premultiplied BGRA (``QImage.Format_ARGB32_Premultiplied`` on little-endian
machines), the format Qt's raster engine composes fastest. Each object is filled only
inside its bounding box, so a small object on a 1080p frame costs little.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PySide6.QtGui import QColor, QIcon, QImage, QPixmap

from avs_studio.core.masks.palette import PALETTE

# Magenta reads on every demo object colour and on natural images; the white outline keeps
# the mask visible even where the fill colour matches the object underneath.
BINARY_COLOUR = (255, 0, 200)
OUTLINE_COLOUR = (255, 255, 255)
#: Colours of binary (S4/MS3) instances, the first one the classic magenta.
INSTANCE_COLOURS = (
    (255, 0, 200), (0, 200, 255), (255, 170, 0), (120, 230, 60),
    (170, 120, 255), (255, 80, 80), (255, 230, 0), (0, 230, 170),
)  # fmt: skip
HATCH_PERIOD = 8  # pixels between the diagonal stripes of a proposal


def rgb_to_qimage(rgb: np.ndarray) -> QImage:
    """RGB uint8 ``[H, W, 3]`` -> QImage (a deep copy, safe after ``rgb`` is gone)."""
    rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
    if rgb.ndim == 2:
        rgb = np.repeat(rgb[..., None], 3, axis=2)
    h, w = rgb.shape[:2]
    return QImage(rgb.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()


def rgba_to_qimage(rgba: np.ndarray) -> QImage:
    """RGBA uint8 ``[H, W, 4]`` (straight alpha) -> QImage."""
    rgba = np.ascontiguousarray(rgba, dtype=np.uint8)
    h, w = rgba.shape[:2]
    return QImage(rgba.data, w, h, 4 * w, QImage.Format.Format_RGBA8888).copy()


def bgra_to_qimage(bgra: np.ndarray) -> QImage:
    """Premultiplied BGRA uint8 ``[H, W, 4]`` -> an ARGB32_Premultiplied QImage (a copy)."""
    bgra = np.ascontiguousarray(bgra, dtype=np.uint8)
    h, w = bgra.shape[:2]
    return QImage(bgra.data, w, h, 4 * w, QImage.Format.Format_ARGB32_Premultiplied).copy()


def to_pixmap(rgb: np.ndarray) -> QPixmap:
    """RGB array -> QPixmap."""
    return QPixmap.fromImage(rgb_to_qimage(rgb))


def object_colour(label: int, instance_id: int, *, binary: bool) -> tuple[int, int, int]:
    """The colour an object is drawn in: per instance for S4/MS3, the class palette for AVSS."""
    if binary:
        return INSTANCE_COLOURS[(max(int(instance_id), 1) - 1) % len(INSTANCE_COLOURS)]
    r, g, b = (int(v) for v in PALETTE[int(label) % len(PALETTE)])
    if r + g + b < 60:  # near-black classes would vanish on dark frames
        r, g, b = min(255, r + 70), min(255, g + 70), min(255, b + 70)
    return r, g, b


def qcolor(rgb: tuple[int, int, int], alpha: int = 255) -> QColor:
    """``(r, g, b)`` -> QColor."""
    return QColor(int(rgb[0]), int(rgb[1]), int(rgb[2]), int(alpha))


def premultiplied(rgb: tuple[int, int, int], alpha: int) -> np.ndarray:
    """One premultiplied BGRA pixel of ``rgb`` at ``alpha``."""
    a = int(alpha)
    return np.array([rgb[2] * a // 255, rgb[1] * a // 255, rgb[0] * a // 255, a], dtype=np.uint8)


def mask_box(mask: np.ndarray) -> tuple[int, int, int, int] | None:
    """``(top, left, bottom, right)`` of a mask's pixels, or None when it is empty."""
    import cv2

    m = np.asarray(mask)
    if m.dtype == bool:
        m = m.view(np.uint8)
    # The store keeps masks in Fortran order: its transpose is C-contiguous, no copy.
    if m.flags.f_contiguous and not m.flags.c_contiguous:
        y, x, h, w = cv2.boundingRect(m.T)
    else:
        x, y, w, h = cv2.boundingRect(np.ascontiguousarray(m))
    if w == 0 or h == 0:
        return None
    return y, x, y + h, x + w


@dataclass
class FillLayer:
    """One object to fill: its mask, colour, whether it is a (hatched) proposal, and whether
    it is dimmed (an object silent in this frame: geometry, not part of the AVS mask)."""

    mask: np.ndarray
    colour: tuple[int, int, int]
    hatched: bool = False
    box: tuple[int, int, int, int] | None = None
    dimmed: bool = False


def _pixel32(rgb: tuple[int, int, int], alpha: int) -> np.uint32:
    """One premultiplied BGRA pixel as the uint32 the buffer's 32-bit view holds."""
    return premultiplied(rgb, alpha).view(np.uint32)[0]


_STRIPES: dict[tuple[int, int], np.ndarray] = {}


def _stripes(shape: tuple[int, int]) -> np.ndarray:
    """Diagonal hatching of a whole frame (bool), computed once per frame size."""
    found = _STRIPES.get(shape)
    if found is None:
        h, w = shape
        found = (np.add.outer(np.arange(h), np.arange(w)) % HATCH_PERIOD) < (HATCH_PERIOD // 2)
        if len(_STRIPES) > 8:
            _STRIPES.clear()
        _STRIPES[shape] = found
    return found


def paint_fills(out: np.ndarray, layers: list[FillLayer], alpha: int) -> np.ndarray:
    """Fill ``layers`` (in order, later on top) into a premultiplied BGRA buffer ``out``."""
    out32 = out.view(np.uint32)[..., 0]  # one uint32 per pixel: masked copies are 20x faster
    for layer in layers:
        box = layer.box if layer.box is not None else mask_box(layer.mask)
        if box is None:
            continue
        top, left, bottom, right = box
        m = np.asarray(layer.mask[top:bottom, left:right])
        crop = m.view(bool) if m.dtype == np.uint8 and m.max(initial=0) <= 1 else m != 0
        region = out32[top:bottom, left:right]
        if layer.dimmed:  # silent: a faint fill, the dotted outline says the rest
            np.copyto(region, _pixel32(layer.colour, alpha // 4), where=crop)
        elif layer.hatched:
            stripe = _stripes(out32.shape)[top:bottom, left:right]
            np.copyto(region, _pixel32(layer.colour, alpha // 3), where=crop)
            np.copyto(region, _pixel32(layer.colour, min(255, alpha + 60)), where=crop & stripe)
        else:
            np.copyto(region, _pixel32(layer.colour, alpha), where=crop)
    return out


def render_fills(shape: tuple[int, int], layers: list[FillLayer], alpha: int) -> np.ndarray:
    """A new premultiplied BGRA ``[H, W, 4]`` buffer with ``layers`` filled in."""
    out = np.zeros((int(shape[0]), int(shape[1]), 4), dtype=np.uint8)
    return paint_fills(out, layers, alpha)


def mask_contours(mask: np.ndarray, box: tuple[int, int, int, int] | None = None) -> list[np.ndarray]:
    """Outer and hole boundaries of a mask as ``[N, 2]`` float arrays of pixel-centre (x, y)."""
    import cv2

    box = box if box is not None else mask_box(mask)
    if box is None:
        return []
    top, left, bottom, right = box
    crop = np.ascontiguousarray(np.asarray(mask[top:bottom, left:right]) != 0, dtype=np.uint8)
    contours, _ = cv2.findContours(crop, cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE)
    return [c.reshape(-1, 2).astype(np.float64) + (left, top) for c in contours]


# ------------------------------------------------------------------ the dataset browser's overlays


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
    from avs_studio.core.masks.resize import resize_nearest

    if mask.shape[:2] != rgb.shape[:2]:
        mask = resize_nearest(mask, (rgb.shape[1], rgb.shape[0]))
    colour = mask_rgba(mask, binary=binary, alpha=255)
    a = (colour[..., 3:4].astype(np.float32) / 255.0) * opacity
    return (rgb * (1 - a) + colour[..., :3] * a).astype(np.uint8)


def blend_objects(rgb: np.ndarray, layers: list[FillLayer], opacity: float = 0.55) -> np.ndarray:
    """``rgb`` with object layers (already at ``rgb``'s size) blended in: thumbnails."""
    out = rgb.astype(np.float32)
    for layer in layers:
        m = np.asarray(layer.mask) != 0
        if not m.any():
            continue
        a = opacity * (0.25 if layer.dimmed else 0.6 if layer.hatched else 1.0)
        out[m] = out[m] * (1 - a) + np.asarray(layer.colour, dtype=np.float32) * a
    return out.astype(np.uint8)


# ------------------------------------------------------------------ icons

RESOURCES = Path(__file__).resolve().parents[3] / "resources"
_ICONS: dict[str, QIcon] = {}


def resource_path(*parts: str) -> Path:
    """A file under the repository's ``resources/`` folder."""
    return RESOURCES.joinpath(*parts)


def icon(name: str) -> QIcon:
    """The SVG icon ``resources/icons/<name>.svg`` (an empty icon if it is missing)."""
    found = _ICONS.get(name)
    if found is None:
        path = resource_path("icons", f"{name}.svg")
        found = QIcon(str(path)) if path.is_file() else QIcon()
        _ICONS[name] = found
    return found
