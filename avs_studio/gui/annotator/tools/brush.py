"""Brush and eraser: round strokes of a chosen radius, one command per stroke.

Mouse moves are recorded in the project's :class:`~avs_studio.core.project.painting.StrokeBuilder`
(cheap) and drawn as a preview into the canvas's selected-object layer, one segment at a
time (only the segment's rectangle is repainted). Releasing the button turns the stroke
into one command.
"""

from __future__ import annotations

from PySide6.QtCore import QPointF
from PySide6.QtGui import QMouseEvent

from avs_studio.gui.annotator.tools.base import Tool, image_point


class BrushTool(Tool):
    """Paint into the selected object (or a new one when none is selected)."""

    name = "brush"
    title = "Brush"
    icon = "brush"
    shortcut = "B"
    tip = "Paint the selected object (a new one if none is selected); [ and ] change the size"
    erase = False

    def __init__(self, host) -> None:
        super().__init__(host)
        self._builder = None
        self._last: QPointF | None = None

    def activate(self) -> None:
        self.canvas.set_brush_cursor(self.host.brush_radius)

    def deactivate(self) -> None:
        self.reset()
        self.canvas.set_brush_cursor(None)

    def update_radius(self) -> None:
        """The radius changed: resize the footprint circle."""
        self.canvas.set_brush_cursor(self.host.brush_radius)

    @property
    def active(self) -> bool:
        """True while a stroke is in progress."""
        return self._builder is not None

    def press(self, pos: QPointF, event: QMouseEvent) -> bool:
        started = self.host.begin_stroke(*image_point(pos), erase=self.erase)
        if started is None:
            return True
        self._builder, colour = started
        self._builder.add_point(*image_point(pos))
        self.canvas.begin_paint(colour, erase=self.erase)
        self.canvas.paint_segment(pos, pos, self._builder.radius)
        self._last = pos
        return True

    def move(self, pos: QPointF, event: QMouseEvent) -> bool:
        if self._builder is None:
            return False
        self._builder.add_point(*image_point(pos))
        self.canvas.paint_segment(self._last, pos, self._builder.radius)
        self._last = pos
        return True

    def release(self, pos: QPointF, event: QMouseEvent) -> bool:
        if self._builder is None:
            return False
        builder, self._builder, self._last = self._builder, None, None
        self.canvas.end_paint()
        self.host.commit(builder.finish(), select=builder.instance_id)
        return True

    def reset(self) -> None:
        if self._builder is not None:
            self._builder = None
            self._last = None
            self.canvas.end_paint()


class EraserTool(BrushTool):
    """Erase from the selected object (or from the object under the pointer)."""

    name = "eraser"
    title = "Eraser"
    icon = "eraser"
    shortcut = "E"
    tip = "Erase from the selected object (or the one under the pointer); [ and ] change the size"
    erase = True
