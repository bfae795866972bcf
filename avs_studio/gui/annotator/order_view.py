"""The object order and the "show as exported" view (a mixin of the annotator window).

Where objects overlap, an AVSBench mask can hold only one of them. The clip's object order
(bottom to top, kept by the project) decides: the object on top gives its class to the
shared pixels of an AVSS label mask (S4/MS3 masks take the union). The annotator raises and
lowers the selected object (Ctrl+] / Ctrl+[, or the object panel's buttons), each an undoable
command, and "Show as Exported" (X) draws the frame's mask exactly as the export writes it:
the pixels come from :meth:`~avs_studio.core.project.project.Project.composed_mask`, the same
function the exporter calls, and are drawn as the dataset browser draws dataset masks
(palette colours, class outlines). Proposals are left out, as the default export leaves them.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtGui import QImage

from avs_studio.core.project.edits import SetObjectOrder
from avs_studio.core.project.records import moved
from avs_studio.gui.annotator.canvas import FrameCanvas, ImageItem
from avs_studio.gui.common.qimage import mask_rgba, rgba_to_qimage

#: Fill alpha of the exported mask (its class outlines are opaque).
EXPORT_ALPHA = 150


class ExportOverlay:
    """A layer of the canvas showing one frame's exported mask over the frame.

    While it is shown, the canvas's object layers are hidden (the objects stay selectable:
    tools still find them under the pointer). :attr:`mask` is the array drawn.
    """

    def __init__(self, canvas: FrameCanvas) -> None:
        self.canvas = canvas
        self.item = ImageItem(3)  # above the objects' fills, below outlines and tool items
        self.item.setVisible(False)
        canvas.scene().addItem(self.item)
        self.mask: np.ndarray | None = None

    def show(self, mask: np.ndarray, *, binary: bool) -> None:
        """Draw ``mask`` (the export's pixels for the frame shown)."""
        self.mask = np.asarray(mask)
        self.item.set_image(rgba_to_qimage(mask_rgba(self.mask, binary=binary, alpha=EXPORT_ALPHA)))
        self.item.setVisible(True)

    def hide(self) -> None:
        """Forget the mask and show nothing."""
        self.mask = None
        self.item.setVisible(False)
        self.item.set_image(QImage())

    @property
    def shown(self) -> bool:
        """True while a mask is drawn."""
        return self.mask is not None


class ObjectOrderMixin:
    """Raise/lower objects and the "show as exported" view (mixed into the annotator window)."""

    def _build_order_actions(self) -> None:
        """Create the actions (called while the window builds its actions)."""
        self.export_overlay = ExportOverlay(self.canvas)
        self._action("raise_object", lambda: self.move_selected_object(+1), icon_name="raise")
        self._action("lower_object", lambda: self.move_selected_object(-1), icon_name="lower")
        self._action("show_exported", self.set_show_exported, icon_name="exported", checkable=True)
        self.objects.raiseRequested.connect(lambda: self._guarded(lambda: self.move_selected_object(+1)))
        self.objects.lowerRequested.connect(lambda: self._guarded(lambda: self.move_selected_object(-1)))

    @property
    def showing_exported(self) -> bool:
        """True while the canvas shows the frame as the export writes it."""
        return self.actions_by_id["show_exported"].isChecked()

    def set_show_exported(self, on: bool) -> None:
        """View ▸ Show as Exported: draw the export's mask instead of the objects (or back)."""
        act = self.actions_by_id["show_exported"]
        if act.isChecked() != on:
            act.setChecked(on)  # toggled -> here again
            return
        self.refresh_export_view()
        if on:
            self.statusBar().showMessage("Shown as exported: the objects composed in their order, the one on top "
                                         "wins shared pixels, proposals left out; edits show when finished "
                                         "(X returns)", 6000)  # fmt: skip

    def refresh_export_view(self) -> None:
        """Redraw the exported mask of the frame shown (or the objects, when the view is off)."""
        overlay = self.export_overlay
        on_frame = self.session is not None and self.loaded is not None and self._video_at is None
        objects_on = self.actions_by_id["toggle_objects"].isChecked()
        if not (self.showing_exported and on_frame):
            if overlay.shown:
                overlay.hide()
                self.canvas.set_objects_visible(objects_on and self._video_at is None)
            return
        mask = self.project.composed_mask(self.clip_id, self.frame_index).mask
        overlay.show(mask, binary=self.project.setting.is_binary)
        overlay.item.setVisible(objects_on)
        self.canvas.set_objects_visible(False)

    def move_selected_object(self, step: int) -> bool:
        """Raise (``step`` > 0) or lower the selected object among the objects of this frame."""
        if self.session is None or self.selected is None or not self._in_frame(self.selected):
            self.statusBar().showMessage("Select an object of this frame to raise or lower it", 4000)
            return False
        inst = self.selected
        here = [o.instance_id for o in self.session.objects(self.frame_index)]
        order = self.session.object_order()
        new = moved(order, inst, step, among=here)
        if new == order:
            where = "on top" if step > 0 else "at the bottom"
            self.statusBar().showMessage(f"Object #{inst} is {where} already", 4000)
            return False
        what = "Raise" if step > 0 else "Lower"
        ok = self.commit(SetObjectOrder(new, f"{what} object {inst}"), select=inst, slot=False)
        if ok:
            self.refresh_thumbnails(None)
        return ok
