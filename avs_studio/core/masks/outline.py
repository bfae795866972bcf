"""A mask's outline as editable polygons, and the mask an edited outline stands for.

:func:`mask_outlines` traces every connected part of a mask (8-connected, as OpenCV
traces foreground) and every hole in it, and simplifies each boundary to a polygon
(Douglas-Peucker, ``tolerance`` pixels) whose vertices an annotator can drag, add and
remove. :func:`apply_outlines` turns the edited polygons back into a mask:

- only the parts whose outline (or one of whose holes) was edited change; every other
  part keeps its exact pixels;
- an edited part becomes the inside of its outer polygon minus the inside of its holes
  (holes edited: their polygons; holes not edited: their exact traced boundary, so an
  untouched hole keeps its exact pixels). A hole's boundary runs through the part's
  pixels around it, so those pixels stay in the part;
- a boundary too small to be a polygon (a part or hole of one or two pixels across) is
  listed but not editable, and kept as it is.

Coordinates are image pixels with pixel (row ``r``, column ``c``) centred at
``(x, y) = (c, r)``, as everywhere in the core.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

#: At most this many vertices per polygon: the tolerance grows until it fits.
MAX_VERTICES = 300


@dataclass
class Outline:
    """One boundary of a mask: the outer boundary of a part, or a hole in one.

    ``exact`` is the traced boundary through the boundary pixels' centres (int ``[M, 2]``
    x, y); ``points`` the editable polygon (float ``[N, 2]``); ``parent`` the index of the
    part's outer outline for a hole (-1 for outers).
    """

    exact: np.ndarray
    points: np.ndarray
    hole: bool = False
    parent: int = -1

    @property
    def editable(self) -> bool:
        """A polygon needs three vertices."""
        return len(self.points) >= 3


def _simplify(exact: np.ndarray, tolerance: float) -> np.ndarray:
    import cv2

    if len(exact) < 3:
        return exact.astype(np.float64)
    eps = float(tolerance)
    pts = exact.reshape(-1, 1, 2).astype(np.int32)
    while True:
        simple = cv2.approxPolyDP(pts, eps, True).reshape(-1, 2)
        if len(simple) <= MAX_VERTICES:
            return simple.astype(np.float64)
        eps *= 1.5


def mask_outlines(mask: np.ndarray, *, tolerance: float = 0.75) -> list[Outline]:
    """The outer boundary of every part of ``mask`` and every hole, as editable polygons.

    Outers come before their holes; ``tolerance`` is how far (pixels) a polygon may stray
    from the traced boundary.
    """
    import cv2

    m = np.ascontiguousarray(np.asarray(mask) != 0, dtype=np.uint8)
    if not m.any():
        return []
    contours, hierarchy = cv2.findContours(m, cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE)
    hierarchy = hierarchy.reshape(-1, 4)
    out: list[Outline] = []
    index_of: dict[int, int] = {}
    for i, c in enumerate(contours):  # outers first (their parent field is -1)
        if hierarchy[i, 3] < 0:
            exact = c.reshape(-1, 2)
            index_of[i] = len(out)
            out.append(Outline(exact, _simplify(exact, tolerance)))
    for i, c in enumerate(contours):
        if hierarchy[i, 3] >= 0:
            exact = c.reshape(-1, 2)
            out.append(Outline(exact, _simplify(exact, tolerance), hole=True, parent=index_of[int(hierarchy[i, 3])]))
    return out


_SUB = 16  # OpenCV drawing with 1/16-pixel precision (4 fractional bits)


def _fixed(points: np.ndarray) -> np.ndarray:
    return np.round(np.asarray(points, np.float64) * _SUB).astype(np.int32).reshape(-1, 1, 2)


def polygon_inside(shape: tuple[int, int], points: np.ndarray) -> np.ndarray:
    """Pixels whose centres lie inside or on a polygon (bool, ``shape``)."""
    import cv2

    out = np.zeros(shape, np.uint8)
    pts = _fixed(points)
    if len(pts) >= 3:
        cv2.fillPoly(out, [pts], 1, cv2.LINE_8, 4)
    if len(pts) >= 2:  # degenerate parts of a polygon (a one-pixel-wide arm) are its edges
        cv2.polylines(out, [pts], True, 1, 1, cv2.LINE_8, 4)
    elif len(pts) == 1:
        x, y = np.round(np.asarray(points, np.float64).reshape(-1)).astype(int)
        if 0 <= y < shape[0] and 0 <= x < shape[1]:
            out[y, x] = 1
    return out.astype(bool)


def hole_inside(shape: tuple[int, int], points: np.ndarray) -> np.ndarray:
    """Pixels strictly inside a hole's boundary: its boundary pixels belong to the part."""
    import cv2

    inside = polygon_inside(shape, points)
    ring = np.zeros(shape, np.uint8)
    cv2.polylines(ring, [_fixed(points)], True, 1, 1, cv2.LINE_8, 4)
    return inside & ~ring.astype(bool)


def apply_outlines(mask: np.ndarray, outlines: Sequence[Outline], edited: Iterable[int]) -> np.ndarray:
    """The mask ``outlines`` stand for after the outlines listed in ``edited`` were changed.

    Parts with no edited outline keep their exact pixels; see the module docstring.
    Returns uint8 {0, 1} of ``mask``'s shape.
    """
    import cv2

    base = np.asarray(mask) != 0
    edited = {int(i) for i in edited if outlines[int(i)].editable}
    parts = sorted({(outlines[i].parent if outlines[i].hole else i) for i in edited})
    if not parts:
        return base.astype(np.uint8)
    shape = base.shape
    _, labels = cv2.connectedComponents(base.astype(np.uint8), connectivity=8)
    new = base.copy()
    for part in parts:
        x, y = outlines[part].exact[0]
        new &= labels != labels[int(y), int(x)]
    for part in parts:
        outer = outlines[part]
        region = polygon_inside(shape, outer.points if part in edited else outer.exact)
        for j, o in enumerate(outlines):
            if o.hole and o.parent == part:
                region &= ~hole_inside(shape, o.points if j in edited else o.exact)
        new |= region
    return new.astype(np.uint8)
