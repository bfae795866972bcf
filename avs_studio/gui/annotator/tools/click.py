"""Click to mask: positive and negative clicks, or a box, and a segmenter draws the mask.

A click (left button) says "the object is here", a Shift+click or a right click "not
here"; dragging draws a box around the object. After each click the host's segmenter
(the built-in one or the user's SAM model, in a worker) updates the mask of the selected
object, or of a new one, as a preview; Enter commits it as one command (one undo step),
Backspace takes the last click back, Esc drops everything. The tool only collects input
and draws its marks; the host (:class:`~avs_studio.gui.annotator.assist.AssistMixin`)
runs the segmenter and makes the command.
"""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QKeyEvent, QMouseEvent, QPen
from PySide6.QtWidgets import QGraphicsEllipseItem, QGraphicsItem, QGraphicsRectItem

from avs_studio.core.assist.prompt import Click, Prompt
from avs_studio.gui.annotator.tools.base import Tool, image_point

MARK_PX = 11  # click marks' size on screen
DRAG_PX = 5  # a press that moves further than this (screen pixels) draws a box
POSITIVE, NEGATIVE = QColor(60, 220, 110), QColor(240, 70, 70)


class ClickTool(Tool):
    """Clicks and a box become a mask through the host's segmenter."""

    name = "click"
    title = "Click to Mask"
    icon = "click"
    shortcut = "C"
    tip = "Click the object (Shift+click or right click: not the object), or drag a box; Enter commits, Esc cancels"
    #: The canvas routes the right button to this tool (a negative click).
    takes_right_button = True

    def __init__(self, host) -> None:
        super().__init__(host)
        self.prompt = Prompt()
        self._press: QPointF | None = None
        self._press_negative = False
        self._dragging = False
        self._marks: list[QGraphicsItem] = []
        self._band: QGraphicsRectItem | None = None

    # ------------------------------------------------------------------ state
    @property
    def active(self) -> bool:
        """True while clicks wait to be committed or cancelled."""
        return bool(self.prompt.clicks) or self.prompt.box is not None or self.prompt.prior is not None

    def start(self, prompt: Prompt) -> None:
        """Begin with a prompt made elsewhere ("refine proposal"), and run it."""
        self.prompt = prompt
        self._redraw()
        self.host.assist_update(self.prompt)

    def deactivate(self) -> None:
        self.reset()

    def reset(self) -> None:
        had = self.active
        self.prompt = Prompt()
        self._press, self._dragging = None, False
        self._redraw()
        if had:
            self.host.assist_cancel()

    # ------------------------------------------------------------------ input
    def press(self, pos: QPointF, event: QMouseEvent) -> bool:
        self._press = QPointF(pos)
        shift = bool(event.modifiers() & Qt.KeyboardModifier.ShiftModifier)
        self._press_negative = event.button() == Qt.MouseButton.RightButton or shift
        self._dragging = False
        return True

    def move(self, pos: QPointF, event: QMouseEvent) -> bool:
        if self._press is None:
            return False
        if not self._dragging and not self._press_negative:
            a, b = self.canvas.mapFromScene(self._press), self.canvas.mapFromScene(pos)
            self._dragging = abs(a.x() - b.x()) + abs(a.y() - b.y()) > DRAG_PX
        if self._dragging:
            self._show_band(QRectF(self._press, pos).normalized())
        return True

    def release(self, pos: QPointF, event: QMouseEvent) -> bool:
        if self._press is None:
            return False
        start, self._press = self._press, None
        if self._dragging:
            self._dragging = False
            self._show_band(None)
            (x0, y0), (x1, y1) = image_point(start), image_point(pos)
            if abs(x1 - x0) < 2 or abs(y1 - y0) < 2:
                return True
            if not self.host.assist_begin():
                return True
            self.prompt = self.prompt.with_box((x0, y0, x1, y1))
        else:
            if not self.host.assist_begin():
                return True
            x, y = image_point(start)
            self.prompt = self.prompt.with_click(Click(x, y, positive=not self._press_negative))
        self._redraw()
        self.host.assist_update(self.prompt)
        return True

    def wants_key(self, event: QKeyEvent) -> bool:
        keys = (Qt.Key.Key_Return, Qt.Key.Key_Enter, Qt.Key.Key_Escape, Qt.Key.Key_Backspace)
        plain = not (event.modifiers() & ~Qt.KeyboardModifier.KeypadModifier)
        return self.active and event.key() in keys and plain

    def key(self, event: QKeyEvent) -> bool:
        if not self.active:
            return False
        k = event.key()
        if k in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            self.commit()
            return True
        if k == Qt.Key.Key_Escape:
            self.reset()
            return True
        if k == Qt.Key.Key_Backspace:
            self.undo_click()
            return True
        return False

    def undo_click(self) -> None:
        """Take the last click back (the box, when no click is left)."""
        if self.prompt.clicks:
            self.prompt = self.prompt.without_last_click()
        elif self.prompt.box is not None:
            self.prompt = self.prompt.with_box(None)
        if not self.active:
            self.reset()
            return
        self._redraw()
        self.host.assist_update(self.prompt)

    def commit(self) -> bool:
        """Enter: the previewed mask becomes one command."""
        if not self.active:
            return False
        done = self.host.assist_commit()
        if done:
            self.prompt = Prompt()
            self._redraw()
        return done

    # ------------------------------------------------------------------ drawing
    def _show_band(self, rect: QRectF | None) -> None:
        scene = self.canvas.scene()
        if self._band is None:
            self._band = QGraphicsRectItem()
            pen = QPen(QColor(255, 214, 10), 1.5, Qt.PenStyle.DashLine)
            pen.setCosmetic(True)
            self._band.setPen(pen)
            self._band.setBrush(QColor(255, 214, 10, 30))
            self._band.setZValue(15)
            scene.addItem(self._band)
        self._band.setVisible(rect is not None)
        if rect is not None:
            self._band.setRect(rect)

    def _redraw(self) -> None:
        scene = self.canvas.scene()
        for item in self._marks:
            scene.removeItem(item)
        self._marks = []
        if self.prompt.box is not None:
            x0, y0, x1, y1 = self.prompt.box
            box = QGraphicsRectItem(QRectF(QPointF(x0 + 0.5, y0 + 0.5), QPointF(x1 + 0.5, y1 + 0.5)))
            pen = QPen(QColor(255, 214, 10), 1.8)
            pen.setCosmetic(True)
            box.setPen(pen)
            box.setZValue(15)
            scene.addItem(box)
            self._marks.append(box)
        for c in self.prompt.clicks:
            mark = QGraphicsEllipseItem(QRectF(-MARK_PX / 2, -MARK_PX / 2, MARK_PX, MARK_PX))
            mark.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations, True)
            mark.setBrush(QBrush(POSITIVE if c.positive else NEGATIVE))
            mark.setPen(QPen(QColor(255, 255, 255), 2.0))
            mark.setPos(c.x + 0.5, c.y + 0.5)
            mark.setZValue(16)
            scene.addItem(mark)
            self._marks.append(mark)
