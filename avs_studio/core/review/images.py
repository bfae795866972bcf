"""Pictures for reviewing predictions: hard masks, overlays and difference images.

Everything returns RGB uint8 numpy arrays, so the HTML report (as PNG data URIs) and the
GUI (as QImages) show the same pixels. Masks live at the metric's 224 x 224; overlays
resize them to the frame with nearest-neighbour, so frames keep their own size and shape.

The difference image classifies each pixel (:func:`diff_codes`) and paints it over a
dimmed grey copy of the frame, with one colour per kind of error (:data:`DIFF_STYLE`).
"""

from __future__ import annotations

import base64
import io
from functools import lru_cache

import numpy as np

from avs_studio.core.masks.palette import PALETTE
from avs_studio.core.metrics.f32 import half_logit

# Difference codes: what each pixel of a prediction is, compared with the ground truth.
AGREE_BACKGROUND = 0
TRUE_POSITIVE = 1
FALSE_POSITIVE = 2
FALSE_NEGATIVE = 3
WRONG_CLASS = 4

#: code -> (colour, label for binary settings, label for AVSS)
DIFF_STYLE: dict[int, tuple[tuple[int, int, int], str, str]] = {
    TRUE_POSITIVE: ((46, 204, 113), "correct (true positive)", "correct class"),
    FALSE_POSITIVE: ((231, 60, 60), "false positive", "extra: object where there is none"),
    FALSE_NEGATIVE: ((52, 152, 255), "false negative (missed)", "missed: background predicted"),
    WRONG_CLASS: ((255, 196, 0), "", "wrong class"),
}

#: Fill colour of binary masks in the ground-truth and prediction overlays.
MASK_COLOUR = (255, 176, 0)


def hard_masks(kind: str, scores: np.ndarray) -> np.ndarray:
    """Hard masks ``[T, H, W]`` uint8 of one clip's predictions, as the metrics binarise them.

    ``logits``: float32 sigmoid above 0.5 (the official IoU rule); ``probs``: above 0.5;
    ``masks``: non-zero; ``labels`` (AVSS): the class map as it is.
    """
    a = np.asarray(scores)
    if kind == "logits":
        return (a >= half_logit()).astype(np.uint8)
    if kind == "probs":
        return (a > np.float32(0.5)).astype(np.uint8)
    if kind == "masks":
        return (a > 0).astype(np.uint8)
    if kind == "labels":
        return a.astype(np.uint8)
    raise ValueError(f"unknown prediction kind {kind!r}")


def diff_codes(gt: np.ndarray, pred: np.ndarray, *, binary: bool) -> np.ndarray:
    """Per-pixel difference codes (uint8) of a prediction against the ground truth.

    Binary: true positive, false positive, false negative, agreeing background.
    AVSS (class maps, 0 = background): correct class, extra (object predicted on
    background), missed (background predicted on an object), wrong class.
    """
    g = np.asarray(gt)
    p = np.asarray(pred)
    if g.shape != p.shape:
        raise ValueError(f"ground truth {g.shape} and prediction {p.shape} differ in size")
    gf = g > 0
    pf = p > 0
    out = np.zeros(g.shape, dtype=np.uint8)
    if binary:
        out[gf & pf] = TRUE_POSITIVE
    else:
        same = g == p
        out[gf & pf & same] = TRUE_POSITIVE
        out[gf & pf & ~same] = WRONG_CLASS
    out[~gf & pf] = FALSE_POSITIVE
    out[gf & ~pf] = FALSE_NEGATIVE
    return out


def diff_counts(codes: np.ndarray) -> dict[str, int]:
    """Pixels of each difference kind: ``tp``, ``fp``, ``fn``, ``wrong``."""
    counts = np.bincount(np.asarray(codes, dtype=np.uint8).ravel(), minlength=5)
    return {"tp": int(counts[TRUE_POSITIVE]), "fp": int(counts[FALSE_POSITIVE]),
            "fn": int(counts[FALSE_NEGATIVE]), "wrong": int(counts[WRONG_CLASS])}  # fmt: skip


def diff_legend(*, binary: bool) -> list[tuple[tuple[int, int, int], str]]:
    """``(colour, label)`` of each difference colour used by the setting."""
    out = []
    for colour, bin_label, avss_label in DIFF_STYLE.values():
        label = bin_label if binary else avss_label
        if label:
            out.append((colour, label))
    return out


# ---------------------------------------------------------------------- geometry


def fit_size(shape: tuple[int, ...], width: int) -> tuple[int, int]:
    """``(width, height)`` of an image of ``shape`` scaled to ``width`` (aspect kept)."""
    h, w = int(shape[0]), int(shape[1])
    return int(width), max(1, round(h * width / w))


def resize_rgb(rgb: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """An RGB image resized to ``size = (width, height)`` (area averaging when shrinking)."""
    import cv2

    rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
    if (rgb.shape[1], rgb.shape[0]) == tuple(size):
        return rgb
    shrink = size[0] < rgb.shape[1]
    return cv2.resize(rgb, tuple(int(v) for v in size), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)


def resize_labels(mask: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """A mask or class map resized with nearest-neighbour to ``size = (width, height)``."""
    import cv2

    m = np.ascontiguousarray(mask, dtype=np.uint8)
    if (m.shape[1], m.shape[0]) == tuple(size):
        return m
    return cv2.resize(m, tuple(int(v) for v in size), interpolation=cv2.INTER_NEAREST)


def _outline(mask: np.ndarray) -> np.ndarray:
    """Pixels of ``mask`` (a label map) that touch a pixel of another label: the borders."""
    m = np.asarray(mask)
    edge = np.zeros(m.shape, dtype=bool)
    edge[1:, :] |= m[1:, :] != m[:-1, :]
    edge[:-1, :] |= m[:-1, :] != m[1:, :]
    edge[:, 1:] |= m[:, 1:] != m[:, :-1]
    edge[:, :-1] |= m[:, :-1] != m[:, 1:]
    return edge & (m > 0)


# ---------------------------------------------------------------------- rendering


def render_overlay(rgb: np.ndarray, mask: np.ndarray | None, *, binary: bool, alpha: float = 0.45,
                   width: int | None = None, colour: tuple[int, int, int] = MASK_COLOUR,
                   dim: float = 0.45) -> np.ndarray:  # fmt: skip
    """The frame with a mask painted over it (binary: one colour; AVSS: palette colours).

    Outside the mask the frame is darkened to ``dim`` so the objects stand out whatever
    their colours; masks get a solid outline. ``width`` scales the result (aspect kept).
    ``mask=None`` (no ground truth) gives the frame darkened, with nothing painted.
    """
    base = np.asarray(rgb, dtype=np.uint8)
    if width is not None:
        base = resize_rgb(base, fit_size(base.shape, width))
    out = base.astype(np.float32)
    if mask is None:
        return np.clip(out * dim + 0.5, 0, 255).astype(np.uint8)
    m = resize_labels(mask, (base.shape[1], base.shape[0]))
    fg = m > 0
    if binary:
        ink = np.broadcast_to(np.asarray(colour, np.float32), out.shape)
    else:
        ink = _vivid_palette()[m].astype(np.float32)
    out[~fg] *= dim
    out[fg] = out[fg] * (1 - alpha) + ink[fg] * alpha
    edge = _outline(m)
    if max(m.shape) >= 120:
        edge = _thicken(edge)
    out[edge] = ink[edge]
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def _thicken(edge: np.ndarray) -> np.ndarray:
    """A border one pixel wider, inwards and outwards (for large images)."""
    out = edge.copy()
    out[1:, :] |= edge[:-1, :]
    out[:, 1:] |= edge[:, :-1]
    return out


def class_colour(index: int) -> tuple[int, int, int]:
    """The colour AVSS class ``index`` is painted with in overlays (the palette, lightened
    where it is too dark to see on a dimmed frame)."""
    r, g, b = _vivid_palette()[int(index)]
    return int(r), int(g), int(b)


@lru_cache(maxsize=1)
def _vivid_palette() -> np.ndarray:
    """The AVSS palette, with classes too dark to see on a dimmed frame brightened (index
    ``len(PALETTE)..255`` clamp to the last colour)."""
    pal = PALETTE.astype(np.float32)
    lum = pal @ np.array([0.299, 0.587, 0.114], np.float32)
    lift = np.clip((110.0 - lum) / 255.0, 0, 1)[:, None]
    pal = pal + (255.0 - pal) * lift
    out = np.empty((256, 3), np.uint8)
    out[: len(pal)] = np.clip(pal + 0.5, 0, 255).astype(np.uint8)
    out[len(pal):] = out[len(pal) - 1]
    out.setflags(write=False)
    return out


def render_diff(rgb: np.ndarray, codes: np.ndarray, *, width: int | None = None, dim: float = 0.35,
                alpha: float = 0.8) -> np.ndarray:  # fmt: skip
    """The difference codes painted over a dimmed grey copy of the frame."""
    base = np.asarray(rgb, dtype=np.uint8)
    if width is not None:
        base = resize_rgb(base, fit_size(base.shape, width))
    c = resize_labels(codes, (base.shape[1], base.shape[0]))
    grey = base.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
    out = np.repeat((grey * dim + 255 * 0.04)[..., None], 3, axis=2)
    table = np.zeros((256, 3), np.float32)
    for code, (colour, _, _) in DIFF_STYLE.items():
        table[code] = colour
    hit = c > 0
    out[hit] = out[hit] * (1 - alpha) + table[c[hit]] * alpha
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def png_bytes(rgb: np.ndarray, *, colours: int | None = None) -> bytes:
    """An RGB image encoded as PNG; ``colours`` (2..256) first reduces it to a palette of
    that many colours (no dithering), which makes thumbnails of photos about 4x smaller."""
    from PIL import Image

    img = Image.fromarray(np.ascontiguousarray(rgb, dtype=np.uint8), mode="RGB")
    if colours is not None:
        img = img.quantize(int(colours), method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE)
    buf = io.BytesIO()
    img.save(buf, format="PNG", compress_level=6)
    return buf.getvalue()


def png_data_uri(rgb: np.ndarray, *, colours: int | None = None) -> str:
    """An RGB image as a ``data:image/png;base64,...`` URI (for self-contained HTML)."""
    return "data:image/png;base64," + base64.b64encode(png_bytes(rgb, colours=colours)).decode("ascii")
