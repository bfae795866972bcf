"""Select: click an object to select it (Delete removes it, the label picker relabels it)."""

from __future__ import annotations

from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QCursor, QMouseEvent

from avs_studio.gui.annotator.tools.base import Tool, image_point


class SelectTool(Tool):
    """Pick the topmost visible object under the click; a click on nothing deselects."""

    name = "select"
    title = "Select"
    icon = "select"
    shortcut = "V"
    tip = "Select the object under the click (Delete removes it)"

    @property
    def cursor(self) -> QCursor:
        return QCursor(Qt.CursorShape.ArrowCursor)

    def press(self, pos: QPointF, event: QMouseEvent) -> bool:
        self.host.select_object(self.canvas.object_at(*image_point(pos)))
        return True

    def move(self, pos: QPointF, event: QMouseEvent) -> bool:
        over = self.canvas.object_at(*image_point(pos)) is not None
        shape = Qt.CursorShape.PointingHandCursor if over else Qt.CursorShape.ArrowCursor
        self.canvas.viewport().setCursor(shape)
        return False
