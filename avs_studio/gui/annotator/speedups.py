"""Speed-ups a professional annotator expects: locks, recent classes on the number keys, the
outline editor's side of the window, and the minimap.

:class:`SpeedupsMixin` is part of :class:`~avs_studio.gui.annotator.window.AnnotatorWindow`.

- **Locks** (the object list's Lock box): a locked object keeps its pixels. Brush and
  polygon never claim its pixels for another object (so an object on top in the composite
  never hides it), and brush, eraser, polygon, fill, outline edits and Delete refuse to
  work on it. Flood fill was already bounded by every object, locked or not, so it never
  changes another object's pixels. Locks belong to the window, one set per clip, and are
  not saved in the project.
- **Recent classes** (AVSS): keys 1-9 choose the class on that number of the picker's
  recent row (:class:`~avs_studio.gui.annotator.panels.label_picker.RecentLabels`): the selected
  object is relabelled, or the next new object gets it.
- **Outline edits** (:class:`~avs_studio.gui.annotator.tools.outline.OutlineTool`): the
  committed mask replaces the object's in one undo step, "Edit outline".
- **Minimap** (:class:`~avs_studio.gui.common.minimap.Minimap`) in the canvas's corner
  while zoomed in.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtGui import QImage

from avs_studio.core.project.edits import Composite, ReplaceMask
from avs_studio.gui.common.minimap import Minimap


class SpeedupsMixin:
    """Locks, recent classes, outline edits and the minimap (mixed into the annotator window)."""

    def _build_speedups(self) -> None:
        self._locks: dict[str, set[int]] = {}
        self.minimap = Minimap(self.canvas, self._minimap_images)
        self.objects.lockChanged.connect(self.set_locked)
        for n in range(1, 10):
            self._action(f"recent_label_{n}", lambda n=n: self.choose_recent_label(n))

    def _minimap_images(self) -> list[QImage]:
        return [self.canvas.frame_image(), *self.canvas.overlay_images()]

    # ------------------------------------------------------------------ locks
    @property
    def locked(self) -> set[int]:
        """Instance ids locked in the open clip."""
        return self._locks.setdefault(self.clip_id or "", set())

    def set_locked(self, instance_id: int, locked: bool) -> None:
        """Lock or unlock an object (the tools leave a locked object's pixels alone)."""
        (self.locked.add if locked else self.locked.discard)(int(instance_id))
        self.refresh_objects()
        what = "locked: no tool changes its pixels" if locked else "unlocked"
        self.statusBar().showMessage(f"Object #{instance_id} {what}", 4000)

    def refuse_locked(self, instance_id: int | None) -> bool:
        """True (after saying so) when ``instance_id`` is locked."""
        if instance_id is not None and instance_id in self.locked:
            self.statusBar().showMessage(f"Object #{instance_id} is locked: unlock it in the object list first", 5000)
            return True
        return False

    def protect_mask(self, exclude: int | None = None) -> np.ndarray | None:
        """The pixels of the frame's locked objects (other than ``exclude``), or None."""
        if self.session is None or not self.locked:
            return None
        out = None
        for o in self.session.objects(self.frame_index):
            if o.instance_id in self.locked and o.instance_id != exclude:
                m = np.asarray(self.masks.mask(o), dtype=bool)
                out = m.copy() if out is None else out | m
        return out

    # ------------------------------------------------------------------ recent classes
    def choose_recent_label(self, number: int) -> None:
        """Keys 1-9: the class on that number of the recent row (AVSS)."""
        if self.project is None:
            return
        if self.project.setting.is_binary:
            self.statusBar().showMessage("S4 and MS3 have one class (sounding object): nothing to choose", 4000)
            return
        if self.labels.choose_recent(number) is None:
            self.statusBar().showMessage(f"No class on {number} yet: classes you choose fill the recent row", 4000)

    def _remember_clip_labels(self) -> None:
        """Put the classes of the open clip's objects on the recent row (AVSS)."""
        if self.session is None or self.project is None or self.project.setting.is_binary:
            return
        labels = dict.fromkeys(o.label for o in self.session.store.objects() if not o.provenance.is_proposal)
        self.labels.remember(labels)

    # ------------------------------------------------------------------ outline edits (ToolHost)
    def outline_target(self) -> tuple[int, np.ndarray] | None:
        """The selected object of this frame and its mask, unless it is locked."""
        if self.session is None or self.selected is None:
            return None
        obj = self.session.store.object(self.frame_index, self.selected)
        if obj is None or self.refuse_locked(obj.instance_id):
            return None
        return obj.instance_id, self.masks.mask(obj)

    def commit_outline(self, instance_id: int, mask: np.ndarray) -> bool:
        """Replace an object's mask by its edited outline's, in one undo step."""
        if self.session is None or self.refuse_locked(instance_id):
            return False
        obj = self.session.store.object(self.frame_index, instance_id)
        if obj is None:
            return False
        new = np.asarray(mask, dtype=bool)
        protect = self.protect_mask(exclude=instance_id)
        if protect is not None:  # on a locked object's pixels the outline may give up, never claim
            new &= ~protect | np.asarray(self.masks.mask(obj), dtype=bool)
        if np.array_equal(new, np.asarray(self.masks.mask(obj), dtype=bool)):
            self.statusBar().showMessage("The edited outline encloses the same pixels: nothing changed", 4000)
            return False
        cmd = Composite([ReplaceMask(self.frame_index, instance_id, new.astype(np.uint8))], "Edit outline")
        return self.commit(cmd, select=instance_id)
