"""Flood fill: click inside a region bounded by other objects and the frame border."""

from __future__ import annotations

from PySide6.QtCore import QPointF
from PySide6.QtGui import QCursor, QMouseEvent, QPixmap

from avs_studio.gui.annotator.tools.base import Tool, image_point


class FillTool(Tool):
    """Fill the empty region under the click into the selected (or a new) object."""

    name = "fill"
    title = "Fill"
    icon = "fill"
    shortcut = "F"
    tip = "Fill the empty region under the click into the selected object (a new one if none)"

    @property
    def cursor(self) -> QCursor:
        from avs_studio.gui.common.qimage import icon

        pm = icon("fill").pixmap(24, 24)
        return QCursor(pm if not pm.isNull() else QPixmap(), 4, 20)

    def press(self, pos: QPointF, event: QMouseEvent) -> bool:
        self.host.commit_fill(*image_point(pos))
        return True
