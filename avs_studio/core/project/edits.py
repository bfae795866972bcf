"""Edits as commands: the only way anything changes a project's objects or statuses.

Each command is a small object with ``do(store)`` / ``undo(store)`` (``store`` is the
:class:`~avs_studio.core.project.store.ClipStore` of one clip), a ``description`` for menus
("Undo Brush stroke") and a compact serialisable ``state()`` that the project keeps in its
undo history (JSON plus binary parts). A :class:`~avs_studio.core.project.session.ClipSession`
applies a command, records it and commits both in one transaction.

Mask edits store only the changed box: the pixels of the box before and after the edit,
bit-packed and compressed, so a stroke on a 1080p mask costs a few kilobytes and
milliseconds whatever the mask's size. The builders of :mod:`avs_studio.core.project.painting`
turn pointer input into such patches.

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
    "SetObjectOrder",
    "SetSounding",
    "SetStatus",
    "decode_command",
    "encode_command",
]



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

    def hand_edited(self) -> list[tuple[int, int]]:
        """``(frame, instance)`` of the masks this command edits by hand (brush, eraser,
        polygon, fill...): a model proposal edited so becomes the annotator's object (the
        session accepts it in the same step). Model reshaping and imports edit none."""
        return []

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

    try:
        data = json.loads(text)
        cls = Command._registry.get(data.get("name", ""))
        if cls is None:
            raise EditError(f"unknown command {data.get('name')!r} in the undo history")
        return cls.from_state(walk(data["state"]))
    except (ValueError, TypeError, KeyError, AttributeError, IndexError, RecursionError) as exc:
        # A damaged history row: refuse the undo (the transaction is rolled back), say why.
        raise EditError(f"damaged undo history ({type(exc).__name__}: {str(exc)[:80]})") from None


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

    def hand_edited(self) -> list[tuple[int, int]]:
        return [(self.frame, self.instance_id)]

    @property
    def changed_pixels(self) -> int:
        """How many pixels the patch flips."""
        return int(np.count_nonzero(self._pixels(self._before) != self._pixels(self._after)))


# ====================================================================== objects


class AddObject(Command):
    """Add an object (an empty mask unless one is given) to one frame."""

    name = "add_object"

    def __init__(self, frame: int, instance_id: int, label: int, mask: np.ndarray | None = None,
                 provenance: Provenance | None = None, *, sounding: bool = True,
                 sounding_checked: bool = False, _rle: bytes | None = None,
                 _shape: tuple[int, int] | None = None) -> None:  # fmt: skip
        self.frame, self.instance_id, self.label = int(frame), int(instance_id), int(label)
        self.provenance = provenance or Provenance(KIND_MANUAL)
        self.sounding, self.sounding_checked = bool(sounding), bool(sounding_checked)
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
        store.insert(self.frame, self.instance_id, self.label, mask, self.provenance, sounding=self.sounding,
                     checked=self.sounding_checked)  # fmt: skip
        if self._rle is None and self._mask is not None:
            self._rle, _ = rle.encode(store.mask(self.frame, self.instance_id))
            self._shape = store.shape
            self._mask = None

    def undo(self, store: ClipStore) -> None:
        store.remove(self.frame, self.instance_id)

    def state(self) -> dict:
        return {"frame": self.frame, "instance": self.instance_id, "label": self.label,
                "provenance": self.provenance.to_dict(), "rle": self._rle,
                "shape": list(self._shape) if self._shape else None,
                "sounding": self.sounding, "sounding_checked": self.sounding_checked}  # fmt: skip

    @classmethod
    def from_state(cls, s: dict) -> AddObject:
        # Commands stored before the sounding flag existed add sounding, undecided objects.
        return cls(s["frame"], s["instance"], s["label"], None, Provenance.from_dict(s["provenance"]),
                   sounding=s.get("sounding", True), sounding_checked=s.get("sounding_checked", False),
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
    """Replace an object's whole mask (a model refinement, an imported mask).

    ``by_hand``: the new mask is the annotator's work (a tool that draws whole masks), so a
    proposal edited so becomes the annotator's object; re-thresholding a proposal is not.
    """

    name = "replace_mask"

    def __init__(self, frame: int, instance_id: int, mask: np.ndarray | None = None, *,
                 by_hand: bool = False, _before: bytes | None = None, _after: bytes | None = None,
                 _shape: tuple[int, int] | None = None) -> None:  # fmt: skip
        self.frame, self.instance_id = int(frame), int(instance_id)
        self.by_hand = bool(by_hand)
        self._mask = None if mask is None else np.asarray(mask)
        self._before, self._after, self._shape = _before, _after, _shape

    def hand_edited(self) -> list[tuple[int, int]]:
        return [(self.frame, self.instance_id)] if self.by_hand else []

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
                "after": self._after, "shape": list(self._shape or ()), "by_hand": self.by_hand}  # fmt: skip

    @classmethod
    def from_state(cls, s: dict) -> ReplaceMask:
        return cls(s["frame"], s["instance"], None, by_hand=bool(s.get("by_hand", False)),
                   _before=s["before"], _after=s["after"], _shape=tuple(s["shape"]))  # fmt: skip


class SetObjectOrder(Command):
    """Record the clip's object order, bottom to top (raise, lower, paint behind).

    The export composes each frame's objects in this order: where objects overlap, the one
    on top gives its class to the shared pixels (AVSS).
    """

    name = "set_object_order"

    def __init__(self, order: Sequence[int], description: str = "Change the object order", *,
                 _old: list | None = None) -> None:  # fmt: skip
        self.order = [int(i) for i in order]
        self._description = description
        self._old = None if _old is None else [int(i) for i in _old]

    @property
    def description(self) -> str:
        return self._description

    def do(self, store: ClipStore) -> None:
        if len(set(self.order)) != len(self.order):
            raise EditError(f"{store.clip_id}: an object order lists an object twice")
        self._old = store.stored_order()
        store.set_object_order(self.order)

    def undo(self, store: ClipStore) -> None:
        store.set_object_order(self._old or [])

    def state(self) -> dict:
        return {"order": self.order, "description": self._description, "old": self._old}

    @classmethod
    def from_state(cls, s: dict) -> SetObjectOrder:
        return cls(s["order"], s["description"], _old=s["old"])


class SetSounding(Command):
    """Mark objects sounding or silent in some frames: a person's decision, so it is recorded
    as decided (``sounding_checked``).

    ``items`` are ``(frame, instance_id)`` pairs. ``sounding`` True or False sets the flag;
    None keeps each object's flag and only records that a person confirmed it. A silent
    object keeps its mask but is left out of that frame's AVS mask and of every export.
    """

    name = "set_sounding"

    def __init__(self, items: Iterable[tuple[int, int]], sounding: bool | None, *,
                 _old: list | None = None) -> None:  # fmt: skip
        self.items = [(int(f), int(i)) for f, i in items]
        if not self.items:
            raise ValueError("SetSounding needs at least one (frame, instance) pair")
        self.sounding = None if sounding is None else bool(sounding)
        self._old = [list(x) for x in (_old or [])]

    @property
    def changes_masks(self) -> bool:  # type: ignore[override]
        # A flag that flips changes the frame's AVS mask; a confirmation changes no pixel.
        return self.sounding is not None

    @property
    def description(self) -> str:
        instances = sorted({i for _, i in self.items})
        what = f"object {instances[0]}" if len(instances) == 1 else f"{len(instances)} objects"
        if self.sounding is None:
            return f"Confirm sounding of {what}"
        return f"Mark {what} {'sounding' if self.sounding else 'silent'}"

    def do(self, store: ClipStore) -> None:
        old = []
        for f, i in self.items:
            obj = store.object(store.check_frame(f), i)
            if obj is None:
                raise EditError(f"{store.clip_id}: frame {f} has no object {i}")
            old.append([f, i, int(obj.sounding), int(obj.sounding_checked)])
            store.set_sounding(f, i, obj.sounding if self.sounding is None else self.sounding, True)
        self._old = old

    def undo(self, store: ClipStore) -> None:
        for f, i, sounding, checked in reversed(self._old):
            store.set_sounding(f, i, bool(sounding), bool(checked))

    def state(self) -> dict:
        return {"items": [list(x) for x in self.items], "sounding": self.sounding, "old": self._old}

    @classmethod
    def from_state(cls, s: dict) -> SetSounding:
        return cls([tuple(x) for x in s["items"]], s["sounding"], _old=s["old"])


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

    def hand_edited(self) -> list[tuple[int, int]]:
        return list(dict.fromkeys(key for c in self.commands for key in c.hand_edited()))

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
