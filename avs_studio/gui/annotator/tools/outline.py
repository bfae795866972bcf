"""Edit outline: reshape an existing mask by its outline, as a polygon.

The selected object's outline (every part, and every hole as its own outline) appears as
polygons with vertex handles (:func:`~avs_studio.core.masks.outline.mask_outlines`, within
a pixel of the mask's boundary). Drag a vertex to move it; click on an edge to add a
vertex there (and drag it); Shift+click a vertex, or Delete/Backspace after touching one,
removes it. Enter commits: the parts whose outline changed are redrawn from their
polygons, all other parts and untouched holes keep their exact pixels, and the whole
change is one undo step ("Edit outline"). Esc drops the edits (a second Esc lets go of
the object). A click on another object, with nothing edited, switches to it.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt, QTimer
from PySide6.QtGui import QColor, QCursor, QKeyEvent, QMouseEvent, QPainterPath, QPen
from PySide6.QtWidgets import QGraphicsItem, QGraphicsPathItem, QGraphicsRectItem

from avs_studio.core.masks.outline import Outline, apply_outlines, mask_outlines
from avs_studio.gui.annotator.tools.base import Tool, image_point

HANDLE_PX = 6  # vertex handle size on screen
GRAB_PX = 7  # how close (screen pixels) a press must be to grab a vertex or an edge
OUTER = QColor(255, 214, 10)
HOLE = QColor(90, 200, 255)
EDITED = QColor(120, 235, 120)


class OutlineTool(Tool):
    """Drag, add and remove the vertices of the selected object's outline."""

    name = "outline"
    title = "Edit Outline"
    icon = "outline"
    shortcut = "Shift+P"
    tip = ("Drag the selected object's vertices; click an edge to add one, Shift+click a vertex to remove it; "
           "Enter commits, Esc cancels")  # fmt: skip

    def __init__(self, host) -> None:
        super().__init__(host)
        self.instance: int | None = None
        self.mask: np.ndarray | None = None
        self.outlines: list[Outline] = []
        self.edited: set[int] = set()
        self._drag: tuple[int, int] | None = None
        self._touched: tuple[int, int] | None = None
        self._paths: list[QGraphicsPathItem] = []
        self._handles: list[QGraphicsRectItem] = []

    # ------------------------------------------------------------------ state
    @property
    def editing(self) -> bool:
        """True while an object's outline is shown."""
        return self.instance is not None

    def activate(self) -> None:
        self.load()

    def deactivate(self) -> None:
        self._clear()

    def reset(self) -> None:
        # The frame, the selection or the object changed: drop the edits, and show the
        # (new) selected object's outline once the window has caught up.
        self._clear()
        QTimer.singleShot(0, self.canvas, self._reload_if_current)  # dropped with the canvas

    def _reload_if_current(self) -> None:
        if self.canvas.tool is self and not self.editing:
            self.load()

    def _clear(self) -> None:
        self.instance, self.mask, self.outlines, self.edited = None, None, [], set()
        self._drag = self._touched = None
        self._redraw()

    def load(self) -> bool:
        """Show the outline of the object the host offers (the selected one); False if none."""
        target = self.host.outline_target()
        self._clear()
        if target is None:
            return False
        self.instance, mask = target
        self.mask = np.asarray(mask)
        self.outlines = mask_outlines(self.mask)
        self._redraw()
        return True

    # ------------------------------------------------------------------ hit tests (view pixels)
    def _view_points(self, o: Outline) -> np.ndarray:
        t = self.canvas.viewportTransform()
        pts = o.points + 0.5  # image coordinates -> scene
        return np.column_stack([pts[:, 0] * t.m11() + t.dx(), pts[:, 1] * t.m22() + t.dy()])

    def _vertex_at(self, pos: QPointF) -> tuple[int, int] | None:
        at = self.canvas.mapFromScene(pos)
        best, best_d = None, float(GRAB_PX)
        for i, o in enumerate(self.outlines):
            if not o.editable:
                continue
            d = np.hypot(*(self._view_points(o) - (at.x(), at.y())).T)
            j = int(np.argmin(d))
            if d[j] <= best_d:
                best, best_d = (i, j), float(d[j])
        return best

    def _edge_at(self, pos: QPointF) -> tuple[int, int] | None:
        """``(outline, index to insert at)`` of the edge nearest ``pos`` within reach."""
        at = np.array([self.canvas.mapFromScene(pos).x(), self.canvas.mapFromScene(pos).y()], float)
        best, best_d = None, float(GRAB_PX)
        for i, o in enumerate(self.outlines):
            if not o.editable:
                continue
            a = self._view_points(o)
            b = np.roll(a, -1, axis=0)
            ab = b - a
            t = np.clip(((at - a) * ab).sum(1) / np.maximum((ab * ab).sum(1), 1e-9), 0, 1)
            d = np.hypot(*(a + t[:, None] * ab - at).T)
            j = int(np.argmin(d))
            if d[j] <= best_d:
                best, best_d = (i, j + 1), float(d[j])
        return best

    # ------------------------------------------------------------------ input
    @property
    def cursor(self) -> QCursor:
        return QCursor(Qt.CursorShape.CrossCursor)

    def press(self, pos: QPointF, event: QMouseEvent) -> bool:
        x, y = image_point(pos)
        if self.editing:
            hit = self._vertex_at(pos)
            if hit is not None and event.modifiers() & Qt.KeyboardModifier.ShiftModifier:
                self._remove(*hit)
                return True
            if hit is not None:
                self._drag = self._touched = hit
                return True
            edge = self._edge_at(pos)
            if edge is not None:
                i, j = edge
                o = self.outlines[i]
                o.points = np.insert(o.points, j, [x, y], axis=0)
                self.edited.add(i)
                self._drag = self._touched = (i, j)
                self._redraw()
                return True
        other = self.canvas.object_at(x, y)
        if other is not None and other != self.instance and not self.edited:
            self.host.select_object(other)  # resets the tools: load the new object now
            self.load()
        elif other is None and not self.editing:
            self.host.statusBar().showMessage("Click an object to edit its outline", 3000)
        return True

    def move(self, pos: QPointF, event: QMouseEvent) -> bool:
        if self._drag is None:
            return False
        i, j = self._drag
        self.outlines[i].points[j] = image_point(pos)
        self.edited.add(i)
        self._redraw()
        return True

    def release(self, pos: QPointF, event: QMouseEvent) -> bool:
        self._drag = None
        return True

    def _remove(self, i: int, j: int) -> None:
        o = self.outlines[i]
        if len(o.points) <= 3:
            self.host.statusBar().showMessage("An outline keeps at least three vertices", 3000)
            return
        o.points = np.delete(o.points, j, axis=0)
        self.edited.add(i)
        self._touched = None
        self._redraw()

    _KEYS = (Qt.Key.Key_Return, Qt.Key.Key_Enter, Qt.Key.Key_Escape, Qt.Key.Key_Backspace, Qt.Key.Key_Delete)

    def wants_key(self, event: QKeyEvent) -> bool:
        return self.editing and event.key() in self._KEYS

    def key(self, event: QKeyEvent) -> bool:
        if not self.editing:
            return False
        k = event.key()
        if k in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            self.commit()
        elif k == Qt.Key.Key_Escape:
            if self.edited:
                self.load()  # drop the edits, keep the object
            else:
                self._clear()
        elif k in (Qt.Key.Key_Backspace, Qt.Key.Key_Delete) and self._touched is not None:
            self._remove(*self._touched)
        else:
            return False
        return True

    def new_mask(self) -> np.ndarray | None:
        """The mask the edited outline stands for (None when nothing was edited)."""
        if not self.editing or not self.edited:
            return None
        return apply_outlines(self.mask, self.outlines, self.edited)

    def commit(self) -> bool:
        """Replace the object's mask by what its edited outline encloses (one undo step)."""
        new = self.new_mask()
        if new is None:
            self.host.statusBar().showMessage("Nothing to commit: drag a vertex first", 3000)
            return False
        inst = self.instance
        ok = self.host.commit_outline(inst, new)
        self.load()  # the outline of what was committed (or of the unchanged object)
        return ok

    # ------------------------------------------------------------------ drawing
    def _redraw(self) -> None:
        scene = self.canvas.scene()
        editable = [(i, o) for i, o in enumerate(self.outlines) if o.editable]
        while len(self._paths) < len(editable):
            item = QGraphicsPathItem()
            item.setZValue(15)
            scene.addItem(item)
            self._paths.append(item)
        for n, item in enumerate(self._paths):
            if n >= len(editable):
                item.setVisible(False)
                continue
            i, o = editable[n]
            path = QPainterPath()
            pts = o.points + 0.5
            path.moveTo(QPointF(*pts[0]))
            for px, py in pts[1:]:
                path.lineTo(QPointF(px, py))
            path.closeSubpath()
            colour = EDITED if i in self.edited else HOLE if o.hole else OUTER
            pen = QPen(colour, 1.6, Qt.PenStyle.DashLine if o.hole else Qt.PenStyle.SolidLine)
            pen.setCosmetic(True)
            item.setPen(pen)
            item.setPath(path)
            item.setVisible(True)
        vertices = [(i, p) for i, o in editable for p in o.points]
        while len(self._handles) < len(vertices):
            h = QGraphicsRectItem(QRectF(-HANDLE_PX / 2, -HANDLE_PX / 2, HANDLE_PX, HANDLE_PX))
            h.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations, True)
            h.setPen(QPen(QColor(20, 20, 20), 1))
            h.setZValue(16)
            scene.addItem(h)
            self._handles.append(h)
        for n, h in enumerate(self._handles):
            if n >= len(vertices):
                h.setVisible(False)
                continue
            i, (px, py) = vertices[n]
            h.setPos(QPointF(px + 0.5, py + 0.5))
            h.setBrush(HOLE if self.outlines[i].hole else OUTER)
            h.setVisible(True)
