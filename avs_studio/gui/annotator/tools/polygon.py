"""Polygon: click vertices, drag any of them, close, and commit as one fill command.

Click to add a vertex; drag a vertex to move it; click the first vertex to close the
outline (vertices can still be dragged); Enter or a double-click commits (Shift+Enter
erases the inside instead); Backspace removes the last vertex; Esc cancels.
"""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QKeyEvent, QMouseEvent, QPainterPath, QPen
from PySide6.QtWidgets import QGraphicsItem, QGraphicsPathItem, QGraphicsRectItem

from avs_studio.gui.annotator.tools.base import Tool, image_point

HANDLE_PX = 7  # vertex handle size on screen
GRAB_PX = 8  # how close (screen pixels) a press must be to grab a vertex


class PolygonTool(Tool):
    """Outline a region vertex by vertex."""

    name = "polygon"
    title = "Polygon"
    icon = "polygon"
    shortcut = "P"
    tip = "Click vertices, drag them, click the first one to close; Enter commits, Esc cancels"

    def __init__(self, host) -> None:
        super().__init__(host)
        self.points: list[QPointF] = []
        self.closed = False
        self._drag: int | None = None
        self._hover: QPointF | None = None
        self._path_item: QGraphicsPathItem | None = None
        self._handles: list[QGraphicsRectItem] = []

    # ------------------------------------------------------------------ state
    @property
    def drawing(self) -> bool:
        """True while a polygon is being drawn."""
        return bool(self.points)

    def image_points(self) -> list[tuple[float, float]]:
        """The vertices in the core's image coordinates."""
        return [image_point(p) for p in self.points]

    def deactivate(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.points, self.closed, self._drag, self._hover = [], False, None, None
        self._redraw()

    def _vertex_at(self, pos: QPointF) -> int | None:
        view = self.canvas
        at = view.mapFromScene(pos)
        best, best_d = None, float(GRAB_PX)
        for i, p in enumerate(self.points):
            q = view.mapFromScene(p)
            d = ((q.x() - at.x()) ** 2 + (q.y() - at.y()) ** 2) ** 0.5
            if d <= best_d:
                best, best_d = i, d
        return best

    # ------------------------------------------------------------------ input
    def press(self, pos: QPointF, event: QMouseEvent) -> bool:
        hit = self._vertex_at(pos)
        if hit == 0 and len(self.points) >= 3 and not self.closed:
            self.closed = True
        elif hit is not None:
            self._drag = hit
        elif not self.closed:
            self.points.append(QPointF(pos))
        self._redraw()
        return True

    def move(self, pos: QPointF, event: QMouseEvent) -> bool:
        if self._drag is not None:
            self.points[self._drag] = QPointF(pos)
            self._redraw()
            return True
        if self.points and not self.closed:
            self._hover = QPointF(pos)
            self._redraw()
        return False

    def release(self, pos: QPointF, event: QMouseEvent) -> bool:
        self._drag = None
        return True

    def double_click(self, pos: QPointF, event: QMouseEvent) -> bool:
        # The first click of the double-click already added its vertex.
        self.commit()
        return True

    def wants_key(self, event: QKeyEvent) -> bool:
        keys = (Qt.Key.Key_Return, Qt.Key.Key_Enter, Qt.Key.Key_Escape, Qt.Key.Key_Backspace)
        plain = not (event.modifiers() & ~Qt.KeyboardModifier.ShiftModifier & ~Qt.KeyboardModifier.KeypadModifier)
        return self.drawing and event.key() in keys and plain

    def key(self, event: QKeyEvent) -> bool:
        if not self.drawing:
            return False
        k = event.key()
        if k in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            self.commit(erase=bool(event.modifiers() & Qt.KeyboardModifier.ShiftModifier))
            return True
        if k == Qt.Key.Key_Escape:
            self.reset()
            return True
        if k == Qt.Key.Key_Backspace:
            self.points.pop()
            self.closed = False
            self._redraw()
            return True
        return False

    def commit(self, *, erase: bool = False) -> bool:
        """Turn the outline into one polygon command (needs 3 vertices)."""
        if len(self.points) < 3:
            return False
        points = self.image_points()
        self.reset()
        return self.host.commit_polygon(points, erase=erase)

    # ------------------------------------------------------------------ drawing
    def _redraw(self) -> None:
        scene = self.canvas.scene()
        if self._path_item is None:
            self._path_item = QGraphicsPathItem()
            pen = QPen(QColor(255, 214, 10), 1.8, Qt.PenStyle.DashLine)
            pen.setCosmetic(True)
            self._path_item.setPen(pen)
            self._path_item.setBrush(QColor(255, 214, 10, 45))
            self._path_item.setZValue(15)
            scene.addItem(self._path_item)
        path = QPainterPath()
        if self.points:
            path.moveTo(self.points[0])
            for p in self.points[1:]:
                path.lineTo(p)
            if self.closed:
                path.closeSubpath()
            elif self._hover is not None:
                path.lineTo(self._hover)
        self._path_item.setPath(path)
        self._path_item.setVisible(bool(self.points))
        while len(self._handles) < len(self.points):
            h = QGraphicsRectItem(QRectF(-HANDLE_PX / 2, -HANDLE_PX / 2, HANDLE_PX, HANDLE_PX))
            h.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations, True)
            h.setPen(QPen(QColor(20, 20, 20), 1))
            h.setZValue(16)
            scene.addItem(h)
            self._handles.append(h)
        for i, h in enumerate(self._handles):
            if i < len(self.points):
                h.setPos(self.points[i])
                first_open = i == 0 and not self.closed and len(self.points) >= 3
                h.setBrush(QColor(80, 220, 120) if first_open else QColor(255, 214, 10))
                h.setVisible(True)
            else:
                h.setVisible(False)
