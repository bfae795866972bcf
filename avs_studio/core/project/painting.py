"""Painting: pointer input turned into mask-patch commands (``edits.MaskPatch``).

The builders (:class:`StrokeBuilder`, :func:`polygon_fill`, :func:`flood_fill`) rasterise with
OpenCV on the stroke's box only (no per-pixel Python loops), so a stroke on a 1080p mask costs
milliseconds. Coordinates are image pixels: pixel (row ``r``, column ``c``) has its centre at
``(x, y) = (c, r)``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from avs_studio.core.project.edits import AddObject, Command, Composite, MaskPatch, SetObjectOrder
from avs_studio.core.project.errors import EditError
from avs_studio.core.project.store import ClipStore

_SUBPIXEL_BITS = 4  # OpenCV drawing with 1/16-pixel precision
_SUB = 1 << _SUBPIXEL_BITS


def brush_region(points: Sequence[tuple[float, float]], radius: float, shape: tuple[int, int]
                 ) -> tuple[int, int, np.ndarray] | None:  # fmt: skip
    """Pixels within ``radius`` of the polyline through ``points``: ``(top, left, bool box)``.

    The centre line is drawn with sub-pixel precision, then an exact Euclidean distance
    transform of the stroke's box marks every pixel whose centre lies within ``radius``
    of it: a round brush with round joins and caps, whatever the speed of the pointer.
    Returns None when the stroke lies wholly outside the image.
    """
    import cv2

    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    if len(pts) == 0:
        return None
    if not np.isfinite(pts).all() or not np.isfinite(radius) or radius < 0:
        raise EditError("brush points and radius must be finite numbers (radius >= 0)")
    h, w = shape
    reach = int(np.ceil(radius)) + 1
    x0 = max(int(np.floor(pts[:, 0].min())) - reach, 0)
    y0 = max(int(np.floor(pts[:, 1].min())) - reach, 0)
    x1 = min(int(np.ceil(pts[:, 0].max())) + reach + 1, w)
    y1 = min(int(np.ceil(pts[:, 1].max())) + reach + 1, h)
    if x0 >= x1 or y0 >= y1:
        return None
    # The centre line may leave the box (points off the image): draw it on a canvas that
    # also covers the points, so distances near the border stay right.
    cx0 = min(x0, int(np.floor(pts[:, 0].min())) - 1)
    cy0 = min(y0, int(np.floor(pts[:, 1].min())) - 1)
    cx1 = max(x1, int(np.ceil(pts[:, 0].max())) + 2)
    cy1 = max(y1, int(np.ceil(pts[:, 1].max())) + 2)
    canvas = np.full((cy1 - cy0, cx1 - cx0), 255, dtype=np.uint8)
    fixed = np.round((pts - (cx0, cy0)) * _SUB).astype(np.int32)
    if len(fixed) == 1:
        canvas[int(round(pts[0, 1])) - cy0, int(round(pts[0, 0])) - cx0] = 0
    else:
        cv2.polylines(canvas, [fixed.reshape(-1, 1, 2)], False, 0, 1, cv2.LINE_8, _SUBPIXEL_BITS)
    dist = cv2.distanceTransform(canvas, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    box = dist[y0 - cy0 : y1 - cy0, x0 - cx0 : x1 - cx0] <= radius
    if not box.any():
        return None
    return y0, x0, box


def _patch(store: ClipStore, frame: int, instance_id: int, top: int, left: int, region: np.ndarray,
           *, erase: bool, what: str, label: int | None, behind: bool = False,
           protect: np.ndarray | None = None) -> Command | None:  # fmt: skip
    """A MaskPatch that paints (or erases) ``region`` into an object; adds the object if new.

    ``behind``: paint behind the other objects -- the pixels another object covers stay
    its own (no overlap is made), and a new object goes to the bottom of the clip's order.
    ``protect`` (bool, the frame's size): pixels painting must not claim (those of locked
    objects), so an object on top in the composite never hides a locked one.
    """
    frame = store.check_frame(frame)
    exists = store.object(frame, instance_id) is not None
    h, w = region.shape
    if behind and not erase:
        others = store.occupancy(frame, exclude=instance_id)[top : top + h, left : left + w]
        region = region.astype(bool) & ~others
    if protect is not None and not erase:
        region = region.astype(bool) & ~np.asarray(protect[top : top + h, left : left + w], dtype=bool)
    if exists:
        before = np.array(store.mask(frame, instance_id)[top : top + h, left : left + w], dtype=np.uint8)
    elif erase:
        return None
    else:
        before = np.zeros((h, w), dtype=np.uint8)
    reg = region.astype(bool)
    after = (before.astype(bool) & ~reg) if erase else (before.astype(bool) | reg)
    after = after.astype(np.uint8)
    if np.array_equal(before, after):
        return None
    patch = MaskPatch(frame, instance_id, top, left, before, after, what=what)
    if exists:
        return patch
    label = _label_for_new(store, instance_id, label)
    parts: list[Command] = [AddObject(frame, instance_id, label), patch]
    if behind and store.label_of(instance_id) is None:  # a new object: at the bottom of the order
        order = [i for i in store.object_order() if i != instance_id]
        parts.append(SetObjectOrder([instance_id, *order], patch.description))
    return Composite(parts, patch.description)


def _label_for_new(store: ClipStore, instance_id: int, label: int | None) -> int:
    if label is not None:
        return store.labels.index(label)
    known = store.label_of(instance_id)
    if known is not None:
        return known
    if len(store.labels) == 2:  # binary settings: the one sounding-object label
        return 1
    raise EditError(f"{store.clip_id}: choose a label for the new object {instance_id}")


class StrokeBuilder:
    """Collects the pointer moves of one brush (or eraser) stroke into one command.

    ``add_point`` is cheap (it only records the point); :meth:`preview` rasterises the
    stroke so far for display, and :meth:`finish` turns it into one :class:`MaskPatch`
    (or None when nothing changed). A stroke on an object that does not exist yet in the
    frame creates it (with ``label``, or the label the object has in other frames).
    """

    def __init__(self, store: ClipStore, frame: int, instance_id: int, *, radius: float,
                 erase: bool = False, label: int | None = None, behind: bool = False,
                 protect: np.ndarray | None = None) -> None:  # fmt: skip
        self.store = store
        self.protect = protect
        self.frame = store.check_frame(frame)
        self.instance_id = int(instance_id)
        self.radius = float(radius)
        self.erase = erase
        self.label = label
        self.behind = behind
        self.points: list[tuple[float, float]] = []

    def add_point(self, x: float, y: float) -> None:
        """Record one pointer position (image pixels)."""
        self.points.append((float(x), float(y)))

    def add_points(self, points: Iterable[tuple[float, float]]) -> None:
        """Record several pointer positions."""
        for x, y in points:
            self.add_point(x, y)

    def preview(self) -> tuple[int, int, np.ndarray] | None:
        """``(top, left, bool box)`` of the pixels the stroke covers so far."""
        return brush_region(self.points, self.radius, self.store.shape)

    def finish(self) -> Command | None:
        """The stroke as one command (None if it changes nothing)."""
        found = self.preview()
        if found is None:
            return None
        top, left, region = found
        what = "erase" if self.erase else "brush"
        return _patch(self.store, self.frame, self.instance_id, top, left, region, erase=self.erase,
                      what=what, label=self.label, behind=self.behind, protect=self.protect)  # fmt: skip


def polygon_fill(store: ClipStore, frame: int, instance_id: int, points: Sequence[tuple[float, float]],
                 *, erase: bool = False, label: int | None = None, behind: bool = False,
                 protect: np.ndarray | None = None) -> Command | None:  # fmt: skip
    """Fill (or erase) the inside of a polygon in one object's mask; None if nothing changes.

    ``behind`` leaves the pixels of other objects to them (see :func:`_patch`); ``protect``:
    pixels the fill leaves alone (those of locked objects).
    """
    import cv2

    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    if len(pts) < 3:
        raise EditError("a polygon needs at least 3 points")
    if not np.isfinite(pts).all():
        raise EditError("polygon points must be finite numbers")
    h, w = store.shape
    x0 = max(int(np.floor(pts[:, 0].min())), 0)
    y0 = max(int(np.floor(pts[:, 1].min())), 0)
    x1 = min(int(np.ceil(pts[:, 0].max())) + 1, w)
    y1 = min(int(np.ceil(pts[:, 1].max())) + 1, h)
    if x0 >= x1 or y0 >= y1:
        return None
    canvas = np.zeros((y1 - y0, x1 - x0), dtype=np.uint8)
    fixed = np.round((pts - (x0, y0)) * _SUB).astype(np.int32)
    cv2.fillPoly(canvas, [fixed.reshape(-1, 1, 2)], 1, cv2.LINE_8, _SUBPIXEL_BITS)
    if not canvas.any():
        return None
    what = "polygon_erase" if erase else "polygon"
    return _patch(store, frame, instance_id, y0, x0, canvas, erase=erase, what=what, label=label,
                  behind=behind, protect=protect)  # fmt: skip


#: The magic wand's default tolerance: how far (0-255, per colour channel) a pixel's colour may
#: lie from the clicked pixel's to join the region.
WAND_TOLERANCE = 32


def flood_fill(store: ClipStore, frame: int, instance_id: int, x: float, y: float, *,
               bounded_by: str = "objects", label: int | None = None, image: np.ndarray | None = None,
               tolerance: float = WAND_TOLERANCE) -> Command | None:  # fmt: skip
    """Fill the region around ``(x, y)`` into one object's mask (4-connected).

    With the frame's ``image`` (RGB or grey, uint8, the clip's size) it is a magic wand:
    the region is the pixels connected to the clicked one whose colour lies within
    ``tolerance`` of the clicked pixel's (each channel, 0-255), not covered by another
    object; the image's edges and the other objects bound it, the object's own pixels do
    not. Without an image, ``bounded_by="objects"`` fills the connected region no object
    covers, ``bounded_by="self"`` the connected region outside this object (its holes).
    None when there is nothing to fill (the click is on a boundary).
    """
    import cv2

    if bounded_by not in ("objects", "self"):
        raise EditError("bounded_by must be 'objects' or 'self'")
    frame = store.check_frame(frame)
    h, w = store.shape
    cx, cy = int(round(x)), int(round(y))
    if not (0 <= cx < w and 0 <= cy < h):
        return None
    exists = store.object(frame, instance_id) is not None
    if image is not None:
        pixels = np.ascontiguousarray(image, dtype=np.uint8)
        if pixels.shape[:2] != (h, w) or pixels.ndim not in (2, 3):
            raise EditError(f"{store.clip_id}: the image for the fill is not a {w}x{h} frame")
        if pixels.ndim == 3 and pixels.shape[2] != 3:
            pixels = np.ascontiguousarray(pixels[..., :3])
        if not 0 <= tolerance <= 255:
            raise EditError("the fill tolerance must lie in 0..255")
        barrier = store.occupancy(frame, exclude=instance_id)
    elif bounded_by == "objects":
        barrier = store.occupancy(frame)
    elif exists:
        barrier = store.mask(frame, instance_id).astype(bool)
    else:
        barrier = np.zeros((h, w), dtype=bool)
    if barrier[cy, cx]:
        return None
    flood = np.ones((h + 2, w + 2), dtype=np.uint8)
    flood[1:-1, 1:-1] = barrier
    flags = 4 | cv2.FLOODFILL_MASK_ONLY | (2 << 8)
    if image is None:
        cv2.floodFill(np.zeros((h, w), dtype=np.uint8), flood, (cx, cy), 0, 0, 0, flags)
    else:
        tol = float(tolerance) if pixels.ndim == 2 else (float(tolerance),) * 3
        cv2.floodFill(pixels.copy(), flood, (cx, cy), 0, tol, tol, flags | cv2.FLOODFILL_FIXED_RANGE)
    filled = flood[1:-1, 1:-1] == 2
    rows = np.flatnonzero(filled.any(axis=1))
    cols = np.flatnonzero(filled.any(axis=0))
    top, bottom, left, right = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    return _patch(store, frame, instance_id, int(top), int(left), filled[top:bottom, left:right],
                  erase=False, what="fill", label=label)  # fmt: skip
