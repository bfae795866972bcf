"""Edits as commands: the only way anything changes a project's objects or statuses.

Each command is a small object with ``do(store)`` / ``undo(store)`` (``store`` is the
:class:`~avs_studio.core.project.store.ClipStore` of one clip), a ``description`` for menus
("Undo Brush stroke") and a compact serialisable ``state()`` that the project keeps in its
undo history (JSON plus binary parts). A :class:`~avs_studio.core.project.session.ClipSession`
applies a command, records it and commits both in one transaction.

Mask edits store only the changed box: the pixels of the box before and after the edit,
bit-packed and compressed, so a stroke on a 1080p mask costs a few kilobytes and
milliseconds whatever the mask's size. The builders below (:class:`StrokeBuilder`,
:func:`polygon_fill`, :func:`flood_fill`) turn pointer input into such patches; all
rasterisation is done by OpenCV on the stroke's box (no per-pixel Python loops).

Coordinates are image pixels: pixel (row ``r``, column ``c``) has its centre at
``(x, y) = (c, r)``.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import Any, ClassVar

import numpy as np

from avs_studio.core.project import rle
from avs_studio.core.project.errors import EditError
from avs_studio.core.project.records import KIND_ACCEPTED, KIND_MANUAL, Provenance, parse_status
from avs_studio.core.project.store import ClipStore, now_iso

__all__ = [
    "AcceptProposal",
    "AddObject",
    "Command",
    "Composite",
    "DeleteObject",
    "MaskPatch",
    "RejectProposal",
    "ReplaceMask",
    "SetAnnotated",
    "SetLabel",
    "SetStatus",
    "StrokeBuilder",
    "brush_region",
    "decode_command",
    "encode_command",
    "flood_fill",
    "polygon_fill",
]

_SUBPIXEL_BITS = 4  # OpenCV drawing with 1/16-pixel precision
_SUB = 1 << _SUBPIXEL_BITS


# ====================================================================== base and codec


class Command(ABC):
    """One undoable change of one clip."""

    #: The name under which the command is stored (set per subclass).
    name: ClassVar[str] = ""
    #: False for commands that change no object (a status change).
    changes_masks: ClassVar[bool] = True
    _registry: ClassVar[dict[str, type[Command]]] = {}

    def __init_subclass__(cls, **kw: Any) -> None:
        super().__init_subclass__(**kw)
        if cls.name:
            Command._registry[cls.name] = cls

    @property
    @abstractmethod
    def description(self) -> str:
        """What the command does, for menus: "Brush stroke", "Delete object 3"."""

    @abstractmethod
    def do(self, store: ClipStore) -> None:
        """Apply the change (inside the session's transaction)."""

    @abstractmethod
    def undo(self, store: ClipStore) -> None:
        """Revert exactly what :meth:`do` changed."""

    @abstractmethod
    def state(self) -> dict:
        """JSON-safe dict (``bytes`` values allowed) that :meth:`from_state` rebuilds from."""

    @classmethod
    @abstractmethod
    def from_state(cls, state: dict) -> Command:
        """Rebuild a command from :meth:`state`."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__}: {self.description}>"


def encode_command(cmd: Command) -> tuple[str, bytes]:
    """Serialise a command: a JSON text and one blob holding its binary parts."""
    parts: list[bytes] = []
    offset = 0

    def walk(v: Any) -> Any:
        nonlocal offset
        if isinstance(v, (bytes, bytearray, memoryview)):
            b = bytes(v)
            ref = {"$b": [offset, len(b)]}
            parts.append(b)
            offset += len(b)
            return ref
        if isinstance(v, dict):
            return {k: walk(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [walk(x) for x in v]
        if isinstance(v, np.integer):
            return int(v)
        if isinstance(v, np.floating):
            return float(v)
        return v

    text = json.dumps({"name": cmd.name, "state": walk(cmd.state())}, separators=(",", ":"))
    return text, b"".join(parts)


def decode_command(text: str, blob: bytes) -> Command:
    """Inverse of :func:`encode_command`."""
    blob = bytes(blob)

    def walk(v: Any) -> Any:
        if isinstance(v, dict):
            if set(v) == {"$b"}:
                off, n = v["$b"]
                return blob[off : off + n]
            return {k: walk(x) for k, x in v.items()}
        if isinstance(v, list):
            return [walk(x) for x in v]
        return v

    data = json.loads(text)
    cls = Command._registry.get(data.get("name", ""))
    if cls is None:
        raise EditError(f"unknown command {data.get('name')!r} in the undo history")
    return cls.from_state(walk(data["state"]))


# ====================================================================== mask patches

_PATCH_TITLES = {
    "brush": "Brush stroke",
    "erase": "Erase",
    "polygon": "Polygon fill",
    "polygon_erase": "Polygon erase",
    "fill": "Flood fill",
    "patch": "Mask edit",
}


class MaskPatch(Command):
    """Set a box of one object's mask from ``before`` to ``after`` (brush, erase, fill...)."""

    name = "mask_patch"

    def __init__(self, frame: int, instance_id: int, top: int, left: int,
                 before: np.ndarray | bytes, after: np.ndarray | bytes, *,
                 what: str = "patch", shape: tuple[int, int] | None = None) -> None:  # fmt: skip
        self.frame, self.instance_id = int(frame), int(instance_id)
        self.top, self.left = int(top), int(left)
        self.what = what
        if isinstance(before, (bytes, bytearray)):
            if shape is None:
                raise ValueError("packed patches need their shape")
            self.shape = (int(shape[0]), int(shape[1]))
        else:
            self.shape = tuple(np.asarray(before).shape)  # type: ignore[assignment]
        self._before, self._after = before, after

    @property
    def description(self) -> str:
        return _PATCH_TITLES.get(self.what, "Mask edit")

    def _pixels(self, which: np.ndarray | bytes) -> np.ndarray:
        if isinstance(which, (bytes, bytearray)):
            return rle.unpack_region(bytes(which), self.shape)
        return np.asarray(which, dtype=np.uint8)

    def _write(self, store: ClipStore, which: np.ndarray | bytes) -> None:
        h, w = self.shape
        if self.top < 0 or self.left < 0 or self.top + h > store.height or self.left + w > store.width:
            raise EditError(f"{store.clip_id}: the edit's box lies outside the {store.width}x{store.height} frame")
        mask = store.mask(self.frame, self.instance_id)
        mask[self.top : self.top + h, self.left : self.left + w] = self._pixels(which)
        store.save_mask(self.frame, self.instance_id)

    def do(self, store: ClipStore) -> None:
        self._write(store, self._after)

    def undo(self, store: ClipStore) -> None:
        self._write(store, self._before)

    def state(self) -> dict:
        def packed(v: np.ndarray | bytes) -> bytes:
            return bytes(v) if isinstance(v, (bytes, bytearray)) else rle.pack_region(v)

        return {"frame": self.frame, "instance": self.instance_id, "box": [self.top, self.left, *self.shape],
                "what": self.what, "before": packed(self._before), "after": packed(self._after)}  # fmt: skip

    @classmethod
    def from_state(cls, s: dict) -> MaskPatch:
        top, left, h, w = s["box"]
        return cls(s["frame"], s["instance"], top, left, s["before"], s["after"], what=s["what"], shape=(h, w))

    @property
    def changed_pixels(self) -> int:
        """How many pixels the patch flips."""
        return int(np.count_nonzero(self._pixels(self._before) != self._pixels(self._after)))


# ====================================================================== objects


class AddObject(Command):
    """Add an object (an empty mask unless one is given) to one frame."""

    name = "add_object"

    def __init__(self, frame: int, instance_id: int, label: int, mask: np.ndarray | None = None,
                 provenance: Provenance | None = None, *, _rle: bytes | None = None,
                 _shape: tuple[int, int] | None = None) -> None:  # fmt: skip
        self.frame, self.instance_id, self.label = int(frame), int(instance_id), int(label)
        self.provenance = provenance or Provenance(KIND_MANUAL)
        self._mask = None if mask is None else np.asarray(mask)
        self._rle, self._shape = _rle, _shape

    @property
    def description(self) -> str:
        if self.provenance.is_proposal:
            return "Add proposal"
        return f"Add object {self.instance_id}"

    def do(self, store: ClipStore) -> None:
        mask = self._mask
        if mask is None and self._rle is not None:
            mask = rle.decode(self._rle, *self._shape)  # type: ignore[misc]
        store.insert(self.frame, self.instance_id, self.label, mask, self.provenance)
        if self._rle is None and self._mask is not None:
            self._rle, _ = rle.encode(store.mask(self.frame, self.instance_id))
            self._shape = store.shape
            self._mask = None

    def undo(self, store: ClipStore) -> None:
        store.remove(self.frame, self.instance_id)

    def state(self) -> dict:
        return {"frame": self.frame, "instance": self.instance_id, "label": self.label,
                "provenance": self.provenance.to_dict(), "rle": self._rle,
                "shape": list(self._shape) if self._shape else None}  # fmt: skip

    @classmethod
    def from_state(cls, s: dict) -> AddObject:
        return cls(s["frame"], s["instance"], s["label"], None, Provenance.from_dict(s["provenance"]),
                   _rle=s.get("rle"), _shape=tuple(s["shape"]) if s.get("shape") else None)  # fmt: skip


class DeleteObject(Command):
    """Delete an object from one frame, or (``frame=None``) from every frame of the clip."""

    name = "delete_object"
    _only_proposals = False

    def __init__(self, instance_id: int, frame: int | None = None, *, _snapshots: list | None = None) -> None:
        self.instance_id = int(instance_id)
        self.frame = None if frame is None else int(frame)
        self._snapshots = list(_snapshots or [])

    @property
    def description(self) -> str:
        return f"Delete object {self.instance_id}"

    def _frames(self, store: ClipStore) -> list[int]:
        frames = store.frames_of(self.instance_id) if self.frame is None else [self.frame]
        frames = [f for f in frames if store.object(f, self.instance_id) is not None]
        if not frames:
            where = "any frame" if self.frame is None else f"frame {self.frame}"
            raise EditError(f"{store.clip_id}: no object {self.instance_id} in {where}")
        return frames

    def do(self, store: ClipStore) -> None:
        frames = self._frames(store)
        if self._only_proposals:
            frames = [f for f in frames if store.object(f, self.instance_id).provenance.is_proposal]
            if not frames:
                raise EditError(f"{store.clip_id}: object {self.instance_id} is not a proposal")
        self._snapshots = [store.remove(f, self.instance_id) for f in frames]

    def undo(self, store: ClipStore) -> None:
        for snap in self._snapshots:
            store.restore(snap)

    def state(self) -> dict:
        return {"instance": self.instance_id, "frame": self.frame, "snapshots": self._snapshots}

    @classmethod
    def from_state(cls, s: dict) -> DeleteObject:
        return cls(s["instance"], s["frame"], _snapshots=s["snapshots"])


class RejectProposal(DeleteObject):
    """Reject a model proposal: remove it (from one frame, or every frame it is proposed in)."""

    name = "reject_proposal"
    _only_proposals = True

    @property
    def description(self) -> str:
        return "Reject proposal"


class SetLabel(Command):
    """Change an object's label in one frame, or (``frame=None``) in every frame."""

    name = "set_label"

    def __init__(self, instance_id: int, label: int, frame: int | None = None, *,
                 _old: list | None = None) -> None:  # fmt: skip
        self.instance_id, self.label = int(instance_id), int(label)
        self.frame = None if frame is None else int(frame)
        self._old = [tuple(x) for x in (_old or [])]

    @property
    def description(self) -> str:
        return "Change label"

    def do(self, store: ClipStore) -> None:
        frames = store.frames_of(self.instance_id) if self.frame is None else [self.frame]
        old = []
        for f in frames:
            obj = store.object(f, self.instance_id)
            if obj is None:
                raise EditError(f"{store.clip_id}: frame {f} has no object {self.instance_id}")
            old.append((f, obj.label))
            store.set_label(f, self.instance_id, self.label)
        if not old:
            raise EditError(f"{store.clip_id}: no object {self.instance_id}")
        self._old = old

    def undo(self, store: ClipStore) -> None:
        for f, label in self._old:
            store.set_label(f, self.instance_id, label)

    def state(self) -> dict:
        return {"instance": self.instance_id, "label": self.label, "frame": self.frame,
                "old": [list(x) for x in self._old]}  # fmt: skip

    @classmethod
    def from_state(cls, s: dict) -> SetLabel:
        return cls(s["instance"], s["label"], s["frame"], _old=s["old"])


class AcceptProposal(Command):
    """Accept a model proposal: it becomes an annotation (model and checkpoint are kept)."""

    name = "accept_proposal"

    def __init__(self, instance_id: int, frame: int | None = None, *, _old: list | None = None) -> None:
        self.instance_id = int(instance_id)
        self.frame = None if frame is None else int(frame)
        self._old = list(_old or [])

    @property
    def description(self) -> str:
        return "Accept proposal"

    def do(self, store: ClipStore) -> None:
        frames = store.frames_of(self.instance_id) if self.frame is None else [self.frame]
        old = []
        stamp = now_iso()
        for f in frames:
            obj = store.object(f, self.instance_id)
            if obj is None or not obj.provenance.is_proposal:
                continue
            old.append([f, obj.provenance.to_dict()])
            accepted = replace(obj.provenance, kind=KIND_ACCEPTED, edited_by=store.user, edited_at=stamp)
            store.set_provenance(f, self.instance_id, accepted)
        if not old:
            raise EditError(f"{store.clip_id}: object {self.instance_id} has no proposal to accept")
        self._old = old

    def undo(self, store: ClipStore) -> None:
        for f, prov in self._old:
            store.set_provenance(f, self.instance_id, Provenance.from_dict(prov))

    def state(self) -> dict:
        return {"instance": self.instance_id, "frame": self.frame, "old": self._old}

    @classmethod
    def from_state(cls, s: dict) -> AcceptProposal:
        return cls(s["instance"], s["frame"], _old=s["old"])


class ReplaceMask(Command):
    """Replace an object's whole mask (a model refinement, an imported mask)."""

    name = "replace_mask"

    def __init__(self, frame: int, instance_id: int, mask: np.ndarray | None = None, *,
                 _before: bytes | None = None, _after: bytes | None = None,
                 _shape: tuple[int, int] | None = None) -> None:  # fmt: skip
        self.frame, self.instance_id = int(frame), int(instance_id)
        self._mask = None if mask is None else np.asarray(mask)
        self._before, self._after, self._shape = _before, _after, _shape

    @property
    def description(self) -> str:
        return "Replace mask"

    def do(self, store: ClipStore) -> None:
        obj = store.object(self.frame, self.instance_id)
        if obj is None:
            raise EditError(f"{store.clip_id}: frame {self.frame} has no object {self.instance_id}")
        if self._after is None:
            store.set_mask(self.frame, self.instance_id, self._mask)  # type: ignore[arg-type]
            self._after, _ = rle.encode(store.mask(self.frame, self.instance_id))
            self._mask = None
        else:
            store.set_mask(self.frame, self.instance_id, rle.decode(self._after, *store.shape))
        self._before, self._shape = obj.rle, store.shape

    def undo(self, store: ClipStore) -> None:
        store.set_mask(self.frame, self.instance_id, rle.decode(self._before, *store.shape))  # type: ignore[arg-type]

    def state(self) -> dict:
        return {"frame": self.frame, "instance": self.instance_id, "before": self._before,
                "after": self._after, "shape": list(self._shape or ())}  # fmt: skip

    @classmethod
    def from_state(cls, s: dict) -> ReplaceMask:
        return cls(s["frame"], s["instance"], None, _before=s["before"], _after=s["after"],
                   _shape=tuple(s["shape"]))  # fmt: skip


# ====================================================================== the clip


class SetStatus(Command):
    """Set the clip's status (and, when given, its comment and annotator)."""

    name = "set_status"
    changes_masks = False

    def __init__(self, status: str, comment: str | None = None, annotator: str | None = None, *,
                 _old: list | None = None) -> None:  # fmt: skip
        self.status = parse_status(status)
        self.comment, self.annotator = comment, annotator
        self._old = list(_old) if _old else None

    @property
    def description(self) -> str:
        return f"Mark as {self.status.replace('_', ' ')}"

    def do(self, store: ClipStore) -> None:
        old = store.status()
        self._old = list(old)
        annotator = self.annotator if self.annotator is not None else (store.user or old[1])
        comment = self.comment if self.comment is not None else old[2]
        store.set_status(self.status, annotator, comment)

    def undo(self, store: ClipStore) -> None:
        store.set_status(*self._old)  # type: ignore[misc]

    def state(self) -> dict:
        return {"status": self.status, "comment": self.comment, "annotator": self.annotator, "old": self._old}

    @classmethod
    def from_state(cls, s: dict) -> SetStatus:
        return cls(s["status"], s["comment"], s["annotator"], _old=s["old"])


class SetAnnotated(Command):
    """Give frames a ground-truth slot (they are exported even when empty)."""

    name = "set_annotated"
    changes_masks = False

    def __init__(self, frames: Iterable[int], *, _old: list | None = None) -> None:
        self.frames = sorted({int(k) for k in frames})
        self._old = _old

    @property
    def description(self) -> str:
        return "Mark frames as annotated"

    def do(self, store: ClipStore) -> None:
        self._old = store.annotated()
        store.set_annotated(sorted(set(self._old) | set(self.frames)))

    def undo(self, store: ClipStore) -> None:
        store.set_annotated(self._old or [])

    def state(self) -> dict:
        return {"frames": self.frames, "old": self._old}

    @classmethod
    def from_state(cls, s: dict) -> SetAnnotated:
        return cls(s["frames"], _old=s["old"])


class Composite(Command):
    """Several commands applied, undone and described as one."""

    name = "composite"

    def __init__(self, commands: Sequence[Command], description: str) -> None:
        if not commands:
            raise ValueError("a composite command needs at least one command")
        self.commands = list(commands)
        self._description = description

    @property
    def description(self) -> str:
        return self._description

    @property
    def changes_masks(self) -> bool:  # type: ignore[override]
        return any(c.changes_masks for c in self.commands)

    def do(self, store: ClipStore) -> None:
        for c in self.commands:
            c.do(store)

    def undo(self, store: ClipStore) -> None:
        for c in reversed(self.commands):
            c.undo(store)

    def state(self) -> dict:
        return {"description": self._description,
                "commands": [{"name": c.name, "state": c.state()} for c in self.commands]}  # fmt: skip

    @classmethod
    def from_state(cls, s: dict) -> Composite:
        cmds = []
        for item in s["commands"]:
            sub = Command._registry.get(item["name"])
            if sub is None:
                raise EditError(f"unknown command {item['name']!r} in the undo history")
            cmds.append(sub.from_state(item["state"]))
        return cls(cmds, s["description"])


# ====================================================================== builders


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
           *, erase: bool, what: str, label: int | None) -> Command | None:  # fmt: skip
    """A MaskPatch that paints (or erases) ``region`` into an object; adds the object if new."""
    frame = store.check_frame(frame)
    exists = store.object(frame, instance_id) is not None
    h, w = region.shape
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
    return Composite([AddObject(frame, instance_id, label), patch], patch.description)


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
                 erase: bool = False, label: int | None = None) -> None:  # fmt: skip
        self.store = store
        self.frame = store.check_frame(frame)
        self.instance_id = int(instance_id)
        self.radius = float(radius)
        self.erase = erase
        self.label = label
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
                      what=what, label=self.label)  # fmt: skip


def polygon_fill(store: ClipStore, frame: int, instance_id: int, points: Sequence[tuple[float, float]],
                 *, erase: bool = False, label: int | None = None) -> Command | None:  # fmt: skip
    """Fill (or erase) the inside of a polygon in one object's mask; None if nothing changes."""
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
    return _patch(store, frame, instance_id, y0, x0, canvas, erase=erase, what=what, label=label)


def flood_fill(store: ClipStore, frame: int, instance_id: int, x: float, y: float, *,
               bounded_by: str = "objects", label: int | None = None) -> Command | None:  # fmt: skip
    """Fill the region around ``(x, y)`` into one object's mask.

    ``bounded_by="objects"``: the connected region of pixels no object covers (the
    "background" enclosed by the objects and the image border). ``bounded_by="self"``:
    the connected region outside this object alone (fills its holes). 4-connected.
    None when the seed lies on a boundary (nothing to fill).
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
    if bounded_by == "objects":
        barrier = store.occupancy(frame)
    elif exists:
        barrier = store.mask(frame, instance_id).astype(bool)
    else:
        barrier = np.zeros((h, w), dtype=bool)
    if barrier[cy, cx]:
        return None
    flood = np.ones((h + 2, w + 2), dtype=np.uint8)
    flood[1:-1, 1:-1] = barrier
    image = np.zeros((h, w), dtype=np.uint8)
    cv2.floodFill(image, flood, (cx, cy), 0, 0, 0, 4 | cv2.FLOODFILL_MASK_ONLY | (2 << 8))
    filled = flood[1:-1, 1:-1] == 2
    rows = np.flatnonzero(filled.any(axis=1))
    cols = np.flatnonzero(filled.any(axis=0))
    top, bottom, left, right = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    return _patch(store, frame, instance_id, int(top), int(left), filled[top:bottom, left:right],
                  erase=False, what="fill", label=label)  # fmt: skip
